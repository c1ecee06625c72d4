"""The redundancy library (shipped in the dask image) on a real Dask cluster: an in-process
scheduler and named workers on loopback, plain TCP. A worker's user is the part of its name
before "-" (alice-1 and alice-2 are one volunteer's two machines).

Needs `distributed`: run inside the dask image by tests/redundancy/test_in_dask_image.py."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from tests.support.dask_pool import IMAGE_PACKAGES, load_witness_plugin  # noqa: E402

sys.path.insert(0, str(IMAGE_PACKAGES))
import kalavai_redundancy as kr  # noqa: E402

RELEASE = threading.Event()  # lets a hanging worker go at teardown


def user_of(address: str, info: dict[str, Any]) -> str:
    return str(info["name"]).split("-")[0]


def square(x: int) -> int:
    name = str(distributed.get_worker().name)
    if name.startswith("liar"):
        return x * x + 1
    if name.startswith("hang"):
        RELEASE.wait(60)
    return x * x


def noisy(x: int) -> str:
    return uuid.uuid4().hex


def broken(x: int) -> int:
    raise RuntimeError("this application always crashes")


class Pool:
    """A scheduler and named one-thread workers in this process."""

    def __init__(self) -> None:
        self.cluster = distributed.LocalCluster(
            n_workers=0,
            processes=False,
            dashboard_address=None,
            host="127.0.0.1",
            protocol="tcp://",
        )
        self.client = distributed.Client(self.cluster)
        self.workers: list[Any] = []

    def add(self, *names: str) -> None:
        for name in names:
            w = self.client.sync(
                lambda n=name: distributed.Worker(
                    self.cluster.scheduler_address, name=n, nthreads=1, dashboard=False
                )
            )
            self.workers.append(w)
        self.client.wait_for_workers(len(self.workers))

    def run(self, fn: Any, inputs: Any, **policy: Any) -> kr.Report:
        return kr.run_redundant(self.client, fn, inputs, kr.Redundancy(**policy), identity=user_of)

    def close(self) -> None:
        RELEASE.set()
        for w in self.workers:
            self.client.sync(w.close)
        self.client.close()
        self.cluster.close()


@pytest.fixture
def pool() -> Iterator[Pool]:
    RELEASE.clear()
    p = Pool()
    try:
        yield p
    finally:
        p.close()


def distinct_users(report: kr.Report) -> bool:
    return all(len({r.user for r in w.results}) == len(w.results) for w in report.workunits)


def test_a_lying_volunteer_is_outvoted_and_the_canonical_results_are_right(pool: Pool) -> None:
    pool.add("alice-1", "bob-1", "carol-1", "liar-1")
    report = pool.run(square, range(12), min_quorum=2, target_nresults=3)
    assert report.ok and report.values() == [x * x for x in range(12)]
    liar = [r for w in report.workunits for r in w.results if r.user == "liar"]
    assert liar and all(r.outcome == "invalid" for r in liar if r.outcome != "not needed")
    assert any(r.outcome == "invalid" for r in liar)
    assert all("liar" not in w.agreed and len(w.agreed) >= 2 for w in report.workunits)
    assert distinct_users(report)


def test_a_result_not_back_within_delay_bound_is_replaced_on_another_volunteer(
    pool: Pool,
) -> None:
    pool.add("alice-1", "bob-1", "hang-1")
    report = pool.run(square, range(4), min_quorum=2, target_nresults=2, delay_bound=1.0)
    assert report.ok and report.values() == [0, 1, 4, 9]
    late = [r for w in report.workunits for r in w.results if r.outcome == "timed out"]
    assert late and all(r.user == "hang" for r in late)
    assert all(set(w.agreed) == {"alice", "bob"} for w in report.workunits)


def test_a_non_deterministic_function_ends_in_no_consensus(pool: Pool) -> None:
    pool.add("a-1", "b-1", "c-1", "d-1", "e-1")
    report = pool.run(noisy, [1], min_quorum=2, target_nresults=2, max_success_results=3)
    (wu,) = report.workunits
    assert (wu.state, wu.error) == ("error", kr.NO_CONSENSUS)
    assert wu.count("success") == 4 and wu.canonical is None and wu.agreed == []


def test_a_function_that_always_raises_ends_in_too_many_errors(pool: Pool) -> None:
    pool.add("a-1", "b-1", "c-1", "d-1")
    report = pool.run(broken, [1], min_quorum=2, max_error_results=1)
    (wu,) = report.workunits
    assert (wu.state, wu.error) == ("error", kr.TOO_MANY_ERRORS)
    assert wu.count("error") == 2 and "always crashes" in wu.results[0].error


def test_two_results_of_a_workunit_never_run_for_one_user_with_two_machines(
    pool: Pool,
) -> None:
    pool.add("alice-1", "alice-2", "bob-1")
    report = pool.run(square, range(8), min_quorum=2, target_nresults=3, when_short="error")
    # two volunteers for a target of three: the third result is never sent, the quorum is met
    assert report.ok and report.values() == [x * x for x in range(8)]
    assert distinct_users(report)
    assert all(sorted(w.agreed) == ["alice", "bob"] for w in report.workunits)


def test_with_fewer_volunteers_than_the_quorum_a_workunit_errors_when_told_to(
    pool: Pool,
) -> None:
    pool.add("alice-1", "alice-2", "bob-1")
    report = pool.run(square, range(2), min_quorum=3, when_short="error")
    assert [(w.state, w.error) for w in report.workunits] == [("error", kr.NOT_SENDABLE)] * 2
    assert distinct_users(report)


def test_with_fewer_volunteers_a_workunit_waits_and_says_so_until_one_joins(
    pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    pool.add("alice-1", "alice-2", "bob-1")
    caplog.set_level(logging.INFO, logger="kalavai_redundancy")
    out: list[kr.Report] = []
    t = threading.Thread(target=lambda: out.append(pool.run(square, [3], min_quorum=3)))
    t.start()
    deadline = time.monotonic() + 60
    while kr.WAITING not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kr.WAITING in caplog.text
    pool.add("carol-1")
    t.join(60)
    (wu,) = out[0].workunits
    assert wu.state == kr.DONE and sorted(wu.agreed) == ["alice", "bob", "carol"]


def test_waiting_ends_not_sendable_after_send_timeout(pool: Pool) -> None:
    pool.add("alice-1", "bob-1")
    report = pool.run(square, [3], min_quorum=3, send_timeout=0.5)
    assert [(w.state, w.error) for w in report.workunits] == [("error", kr.NOT_SENDABLE)]


def test_a_trusted_volunteers_workunits_are_sent_once_adaptive_replication(pool: Pool) -> None:
    pool.add("alice-1", "bob-1")
    policy = {"min_quorum": 2, "adaptive": True, "trusted_after": 3, "spot_check": 0.0}
    first = pool.run(square, range(4), **policy)
    # no record yet: every workunit replicated, and each agreement counts
    assert first.ok and all(len(w.results) == 2 for w in first.workunits)
    assert first.trust == {"alice": 4, "bob": 4}
    trust = first.trust
    second = kr.run_redundant(pool.client, square, range(6), kr.Redundancy(**policy),
                              identity=user_of, trust=trust)  # fmt: skip
    assert second.ok and second.values() == [x * x for x in range(6)]
    assert all(len(w.results) == 1 and w.single for w in second.workunits)
    assert all(w.results[0].outcome == "valid" for w in second.workunits)
    assert trust == {"alice": 4, "bob": 4}  # unreplicated results add no trust


def test_a_trusted_volunteer_who_lies_is_caught_by_a_spot_check_and_loses_trust(
    pool: Pool,
) -> None:
    pool.add("alice-1", "bob-1", "liar-1")
    trust = {"alice": 50, "bob": 50, "liar": 50}
    spot = kr.Redundancy(min_quorum=2, target_nresults=3, adaptive=True, trusted_after=10,
                         spot_check=1.0)  # fmt: skip
    report = kr.run_redundant(pool.client, square, range(3), spot, identity=user_of, trust=trust)
    assert report.ok and report.values() == [0, 1, 4]
    assert not any(w.single for w in report.workunits)  # every one spot-checked
    assert trust["liar"] == 0 and trust["alice"] > 50
    never = kr.Redundancy(min_quorum=2, target_nresults=3, adaptive=True, trusted_after=10,
                          spot_check=0.0)  # fmt: skip
    report = kr.run_redundant(pool.client, square, range(6), never, identity=user_of, trust=trust)
    # the liar's workunits are replicated again; the honest volunteers' are sent once
    assert report.ok and report.values() == [x * x for x in range(6)]
    for w in report.workunits:
        assert w.single == (w.results[0].user != "liar")


def test_outcomes_reach_the_witness_and_an_invalid_result_earns_no_compute(
    pool: Pool, tmp_path: Path
) -> None:
    kw = load_witness_plugin()
    plugin = pool.client.sync(_install_witness, pool.cluster.scheduler, kw, str(tmp_path))
    pool.add("alice-1", "bob-1", "carol-1", "liar-1")
    report = pool.run(square, range(12), min_quorum=2, target_nresults=3)
    assert report.ok
    plugin.write()
    data = json.loads((tmp_path / f"{plugin.book.epoch}.json").read_text())
    by_name = {w["name"]: w for w in data["workers"]}
    invalid = sum(r.outcome == "invalid" for w in report.workunits for r in w.results)
    assert by_name["liar-1"]["invalid"] == invalid > 0
    assert by_name["liar-1"]["valid"] == 0
    # the compute of its invalid results is set apart: never in compute_seconds
    assert by_name["liar-1"]["invalid_compute_seconds"] > 0
    assert by_name["alice-1"]["invalid_compute_seconds"] == 0
    assert by_name["alice-1"]["valid"] > 0 and by_name["alice-1"]["invalid"] == 0


async def _install_witness(scheduler: Any, kw: Any, directory: str) -> Any:
    import os

    os.environ["KALAVAI_WITNESS_DIR"] = directory
    kw.dask_setup(scheduler)
    plugin = scheduler.plugins[kw.WitnessPlugin.name]
    await plugin.start(scheduler)  # a preload's plugin starts with its scheduler
    return plugin


def test_by_default_users_are_the_witnesss_and_unknown_workers_get_nothing(
    pool: Pool, tmp_path: Path
) -> None:
    kw = load_witness_plugin()
    pool.client.sync(_install_witness, pool.cluster.scheduler, kw, str(tmp_path))
    pool.add("alice-1", "bob-1")  # two machines on one host: the seed's table names one user
    table = {"hosts": {"127.0.0.1": {"device": "d" * 32, "user": "u1"}}}
    (tmp_path / "identities.json").write_text(json.dumps(table))
    policy = kr.Redundancy(min_quorum=2, when_short="error")
    report = kr.run_redundant(pool.client, square, [3], policy)
    assert [(w.state, w.error) for w in report.workunits] == [("error", kr.NOT_SENDABLE)]
    report = kr.run_redundant(pool.client, square, [3])  # quorum 1: one user is enough
    assert report.ok and report.workunits[0].agreed == ["u1"]
    (tmp_path / "identities.json").write_text("{}")  # nobody known: nothing is sent anywhere
    report = kr.run_redundant(pool.client, square, [3], kr.Redundancy(when_short="error"))
    assert report.workunits[0].error == kr.NOT_SENDABLE
