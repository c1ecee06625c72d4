"""Crash handling: backoff, giving up with a clear status, retry after giving up. Uses the
FakeRuntime and an injected clock; tests/container/test_podman.py runs it on real podman."""

from __future__ import annotations

import pytest

from kalavai_like.container.fake import FakeRuntime
from kalavai_like.container.spec import MEMBERSHIP_LABEL, ContainerSpec
from kalavai_like.container.supervisor import RestartPolicy, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world() -> tuple[FakeRuntime, Clock, Supervisor]:
    clock = Clock()
    rt = FakeRuntime(clock=clock)
    spec = ContainerSpec(
        name="kt5-sup",
        image="localhost/kalavai-like/busybox",
        labels={MEMBERSHIP_LABEL: "m1"},
        memory_bytes=256 * 2**20,
    )
    return rt, clock, Supervisor(rt, spec, RestartPolicy(max_crashes=5, window_seconds=600), clock)


def test_backoff_doubles_and_is_capped() -> None:
    p = RestartPolicy(initial_backoff=5, factor=2, max_backoff=30)
    assert [p.backoff(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_crash_loop_backs_off_then_gives_up_with_a_clear_status(world) -> None:  # type: ignore[no-untyped-def]
    rt, clock, sup = world
    assert sup.start().state == "running"
    waits = []
    for n in range(1, 5):
        rt.crash(sup.status.container_id, exit_code=1, log_line=f"Traceback: boom {n}")
        st = sup.tick()
        assert st.state == "backing_off" and st.crashes == n
        waits.append(st.retry_at - clock.now)
        clock.now += waits[-1] - 0.5
        assert sup.tick().state == "backing_off"  # not yet due
        clock.now += 0.5
        assert sup.tick().state == "running"
        assert len(rt.find(MEMBERSHIP_LABEL, "m1")) == 1  # old one removed, no duplicate
    assert waits == [5, 10, 20, 40]
    rt.crash(sup.status.container_id, exit_code=1, log_line="Traceback: boom 5")
    st = sup.tick()
    assert st.state == "gave_up"
    assert st.message == "worker crashed 5 times in 10 minutes; last exit code 1: Traceback: boom 5"
    clock.now += 3600
    assert sup.tick().state == "gave_up"  # stays given up until reset
    assert sup.reset().state == "running"


def test_crashes_outside_the_window_do_not_count(world) -> None:  # type: ignore[no-untyped-def]
    rt, clock, sup = world
    sup.start()
    for _ in range(10):
        rt.crash(sup.status.container_id, exit_code=2)
        st = sup.tick()
        assert st.state == "backing_off"
        clock.now = st.retry_at + 300  # crashes are 5+ minutes apart: at most 2 in the window
        assert sup.tick().state == "running"


def test_oom_kill_says_so_with_the_limit(world) -> None:  # type: ignore[no-untyped-def]
    rt, _, sup = world
    sup.start()
    rt.crash(sup.status.container_id, exit_code=137, oom=True, log_line="allocating")
    st = sup.tick()
    assert "exit code 137 (out of memory: limit 256 MiB): allocating" in st.message


def test_paused_is_not_a_crash_and_stop_does_not_restart(world) -> None:  # type: ignore[no-untyped-def]
    rt, clock, sup = world
    sup.start()
    rt.pause(sup.status.container_id)
    assert sup.tick().state == "paused"
    sup.stop()
    clock.now += 1000
    assert sup.tick().state == "stopped"
    assert rt.find(MEMBERSHIP_LABEL, "m1") == []


def test_a_start_that_fails_counts_and_ends_in_a_clear_give_up(world) -> None:  # type: ignore[no-untyped-def]
    rt, clock, sup = world
    sup.start()
    rt.images.clear()  # the image vanished
    rt.crash(sup.status.container_id, exit_code=1)
    for _ in range(10):
        st = sup.tick()
        if st.state == "gave_up":
            break
        clock.now = (st.retry_at or clock.now) + 0.1
    assert st.state == "gave_up"
    assert "Worker image not found" in st.message


def test_adopts_a_running_container_instead_of_starting_another(world) -> None:  # type: ignore[no-untyped-def]
    rt, clock, sup = world
    first = sup.start().container_id
    again = Supervisor(rt, sup.spec, clock=clock)  # the agent restarted
    assert again.start().container_id == first
    assert [c for c, _ in rt.calls].count("run") == 1
