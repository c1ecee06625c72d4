"""The usage history: the ledger's cumulative rows as average rates per step (pure function on
scripted rows), through a real ledger file, the Node, and the LocalAPI on a real socket."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from kalavai_like.agent.history import MAX_POINTS, usage_points
from kalavai_like.agent.localapi import LocalAPIServer
from kalavai_like.client.local import NodeClient
from kalavai_like.errors import InvalidInput
from kalavai_like.usage.ledger import Counters, Ledger, LedgerRow, Sample
from tests.support.agent_fakes import World


def _rows(*spec: tuple[float, float, str]) -> list[LedgerRow]:
    """(wall, cumulative cpu seconds, state) -> rows with RAM at half the CPU, no GPU."""
    return [
        LedgerRow(i + 1, wall, wall, "b", state, Counters(cpu, cpu / 2, 0.0))
        for i, (wall, cpu, state) in enumerate(spec)
    ]


def test_rates_per_step_are_deltas_over_time() -> None:
    # 2 cores for the first minute, 1 core for the second, sampled every 10 s
    spec = [(1000.0 + 10 * i, 20.0 * i, "running") for i in range(7)]
    spec += [(1060.0 + 10 * i, 120.0 + 10.0 * i, "running") for i in range(1, 7)]
    pts = usage_points(_rows(*spec), since=1000.0, step=60.0, now=1120.0)
    assert [(p.time, round(p.cpu_cores, 6), round(p.memory_gb, 6)) for p in pts] == [
        (1020.0, 2.0, 1.0),  # the step 960..1020 holds 20 s of samples
        (1080.0, round(5 / 3, 6), round(5 / 6, 6)),  # 40 s at 2 cores, 20 s at 1 core
        (1120.0, 1.0, 0.5),
    ]


def test_an_interval_is_split_between_steps_by_time() -> None:
    pts = usage_points(_rows((50.0, 0.0, "running"), (70.0, 40.0, "running")), 0.0, 60.0, 120.0)
    assert [(p.time, p.cpu_cores) for p in pts] == [(60.0, 2.0), (70.0, 2.0)]


def test_paused_steps_read_zero_and_agent_down_gives_no_point() -> None:
    rows = _rows(
        (0.0, 0.0, "running"), (30.0, 30.0, "running"), (60.0, 60.0, "paused"),
        (90.0, 60.0, "paused"), (120.0, 60.0, "paused"),
        # the agent was down from 120 to 600; the restart counts what ran meanwhile
        (600.0, 540.0, "running"), (630.0, 570.0, "running"),
    )  # fmt: skip
    pts = usage_points(rows, 0.0, 60.0, 660.0, max_gap=120.0)
    assert [(p.time, p.cpu_cores) for p in pts] == [(60.0, 1.0), (120.0, 0.0), (630.0, 1.0)]


def test_nothing_before_since_or_after_now_and_empty_ledger() -> None:
    rows = _rows(*[(10.0 * i, 10.0 * i, "running") for i in range(100)])
    pts = usage_points(rows, since=300.0, step=100.0, now=500.0)
    assert [(p.time, p.cpu_cores) for p in pts] == [(400.0, 1.0), (500.0, 1.0)]
    assert usage_points([], 0.0, 60.0, 3600.0) == []
    assert usage_points(rows, 900.0, 60.0, 800.0) == []


@pytest.mark.parametrize(
    ("since", "step"),
    [(0.0, 0.0), (0.0, -5.0), (0.0, float("nan")), (float("inf"), 60.0), (0.0, 0.5),
     (3600.0 - 60.0 * (MAX_POINTS + 1), 60.0)],
)  # fmt: skip
def test_bad_or_oversized_requests_are_refused(since: float, step: float) -> None:
    with pytest.raises(InvalidInput):
        usage_points([], since, step, 3600.0)


def test_at_most_max_points() -> None:
    rows = _rows(*[(float(i), float(i), "running") for i in range(0, 6001, 5)])
    pts = usage_points(rows, 6000.0 - 12.0 * MAX_POINTS, 12.0, 6000.0)
    assert len(pts) == MAX_POINTS and all(p.cpu_cores == pytest.approx(1.0) for p in pts)


def test_rows_since_reads_the_file_from_the_row_before(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.sqlite", "m1")
    for i in range(1, 11):
        ledger.append(Sample(100.0 * i, 100.0 * i, "b", "running", Counters(50.0, 25.0, 0.0)))
    assert [r.wall for r in ledger.rows_since(550.0)] == [500.0, 600.0, 700.0, 800.0, 900.0, 1000.0]
    assert [r.wall for r in ledger.rows_since(0.0)][:2] == [100.0, 200.0]
    ledger.close()


@pytest.fixture
def served(tmp_path: Path):
    world = World(tmp_path)
    node = world.node()
    run = Path(tempfile.mkdtemp(prefix="kt6-history-"))
    server = LocalAPIServer(run / "agent.sock", node).start()
    try:
        yield world, node, NodeClient(run / "agent.sock", timeout=10)
    finally:
        server.close()
        node.close()
        shutil.rmtree(run, ignore_errors=True)


def test_the_localapi_serves_the_nodes_history(served) -> None:
    world, node, client = served
    assert client.usage_history(world.clock.t - 3600, 60) == []  # not in a pool yet
    world.join(node)
    start = world.clock.t
    for _ in range(60):  # 5 minutes of 5 s samples on the fake runtime (1 core)
        world.clock.t += 5
        node.wakeup.set()  # a heartbeat samples first
        node.tick()
    node.pause()
    for _ in range(24):  # 2 paused minutes
        world.clock.t += 5
        node.wakeup.set()  # a heartbeat samples first
        node.tick()
    got = client.usage_history(start - 60, 60)
    assert got == node.usage_history(start - 60, 60)
    assert len(got) >= 7 and got[-1].time == world.clock.t
    running = [p for p in got if start + 60 <= p.time <= start + 300]
    assert running and all(p.cpu_cores > 0 for p in running)
    assert [p.cpu_cores for p in got if p.time >= start + 360] == [0.0, 0.0]
    with pytest.raises(InvalidInput):
        client.usage_history(world.clock.t - 86400 * 7, 60)
    with pytest.raises(InvalidInput):
        client._call("GET", "usage-history?since=abc&step=60")
