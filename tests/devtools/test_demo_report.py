"""What the demo prints about each volunteer's credit and the witness behind it, and how it
waits for the pool head's witness to be granted (the demo itself needs network namespaces and
containers: tests/devtools/test_demo.py)."""

from __future__ import annotations

from typing import Any

from kalavai_like.devtools.demo import await_witness, volunteer_line, witnessed

ZERO = {"cpu_core_hours": 0.0, "ram_gb_hours": 0.0, "gpu_hours": 0.0, "credit": 0.0}


def device(name: str, tasks: int, core_s: float, granted_h: float) -> dict[str, Any]:
    """The platform's record of a device, as `pool workers --json` lists it."""
    return {"name": name, "witness": "owner", "totals": {**ZERO, "cpu_core_hours": granted_h},
            "witnessed": {"tasks": tasks, "compute_seconds": core_s, "connected_seconds": 9.0,
                          "ratio": 0.98}}  # fmt: skip


def test_each_volunteer_line_names_the_credit_and_the_witness_behind_it() -> None:
    totals = {"cpu_seconds": 5.19, "ram_gb_seconds": 0.4, "gpu_seconds": 0.0}
    credits = {"granted": {**ZERO, "credit": 0.00145}, "pending": {**ZERO, "credit": 0.00002},
               "unverified": ZERO}  # fmt: skip
    line = volunteer_line("alice", totals, "running", credits, device("alice", 20, 5.1, 0.0014))
    assert line == (
        "alice: contributed 5.19 CPU core-seconds, 0.400 RAM GiB-seconds (running); platform "
        "granted 0.001450 credit, witnessed by the pool's head: 20 tasks, 5.1 core-s "
        "(pending 0.000020, unverified 0.000000)"
    )
    unseen = volunteer_line("bob", totals, "paused", {"granted": ZERO}, {})
    assert "granted 0.000000 credit, witnessed by the pool's head: 0 tasks, 0.0 core-s" in unseen


class Script:
    """The platform's answers, one per read, and a clock that the waits move on."""

    def __init__(self, answers: list[list[dict[str, Any]]]) -> None:
        self.answers, self.reads, self.t = answers, 0, 0.0

    def read(self) -> list[dict[str, Any]]:
        self.reads += 1
        return self.answers[min(self.reads, len(self.answers)) - 1]

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_the_report_waits_until_every_volunteers_witness_is_granted() -> None:
    early = [device("alice", 20, 5.1, 0.0014), device("bob", 0, 0.0, 0.0)]
    witnessed_not_granted = [device("alice", 20, 5.1, 0.0014), device("bob", 20, 5.0, 0.0)]
    done = [device("alice", 20, 5.1, 0.0014), device("bob", 20, 5.0, 0.0013)]
    script = Script([early, witnessed_not_granted, done])
    got = await_witness(script.read, ["alice", "bob"], 60.0, lambda: script.t, script.sleep)
    assert script.reads == 3 and all(witnessed(got[n]) for n in ("alice", "bob"))


def test_a_witness_that_never_comes_ends_the_wait_with_what_was_seen() -> None:
    script = Script([[device("alice", 0, 0.0, 0.0)]])
    got = await_witness(script.read, ["alice", "bob"], 5.0, lambda: script.t, script.sleep)
    assert script.t >= 5.0 and not witnessed(got["alice"]) and "bob" not in got
