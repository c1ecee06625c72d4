"""The pool head's witness plugin (shipped in the dask image), its accounting on this host
without distributed: what a worker is credited from the scheduler's own observations, the
cap, who is witnessed at all, and the file the seed's agent reads."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.dask_pool import load_witness_plugin

kw = load_witness_plugin()
A = "tcp://10.5.0.2:40001"  # a worker announcing the host its connection comes from
B = "tcp://10.5.0.3:40001"


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def compute(seconds: float, *, start: float = 5000.0) -> list[dict[str, Any]]:
    """Startstops as a worker reports them (its own clock), with a transfer that never counts."""
    return [{"action": "transfer", "start": start - 9, "stop": start},
            {"action": "compute", "start": start, "stop": start + seconds}]  # fmt: skip


def by_name(book: Any) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in book.snapshot()["workers"]}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(clock: Clock) -> Any:
    return kw.WitnessBook(clock)


def test_a_connected_worker_given_no_tasks_has_no_compute(book: Any, clock: Clock) -> None:
    assert book.connect(A, "tcp://10.5.0.2:51234", "idle", 4)
    clock.t += 60
    idle = by_name(book)["idle"]
    assert idle["tasks"] == 0 and idle["compute_seconds"] == 0
    assert idle["connected_seconds"] == pytest.approx(60) and idle["threads"] == 4


def test_a_task_counts_what_the_scheduler_saw_and_never_more_than_the_worker_reports(
    book: Any, clock: Clock
) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "w", 2)
    clock.t += 10
    book.started("honest", A)
    clock.t += 3  # processing for 3 s; the worker computed 2.5 of them
    book.finished("honest", A, compute(2.5))
    book.started("boaster", A)
    clock.t += 1  # processing for 1 s; the worker claims 1000
    book.finished("boaster", A, compute(1000))
    w = by_name(book)["w"]
    assert w["tasks"] == 2 and w["compute_seconds"] == pytest.approx(3.5)


def test_claims_never_reach_beyond_threads_times_the_time_connected(
    book: Any, clock: Clock
) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "w", 1)
    for i in range(10):  # ten tasks processing at once on one thread, each claiming it all
        book.started(f"t{i}", A)
    clock.t += 5
    for i in range(10):
        book.finished(f"t{i}", A, compute(5))
    w = by_name(book)["w"]
    assert w["tasks"] == 10 and w["compute_seconds"] == pytest.approx(5.0)  # not 50
    clock.t += 100  # idle time later must not make room for the excess
    assert by_name(book)["w"]["compute_seconds"] == pytest.approx(5.0)


def test_a_worker_announcing_another_host_is_not_witnessed(book: Any, clock: Clock) -> None:
    assert not book.connect(A, "tcp://10.5.0.66:51234", "spoof", 1)
    assert not book.connect("tcp://[fd00::2]:4000", "tcp://[fd00::2]:5000", "six", 1)
    book.started("t", A)
    clock.t += 2
    book.finished("t", A, compute(2))
    assert book.snapshot()["workers"] == []


def test_malformed_startstops_credit_nothing(book: Any, clock: Clock) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "w", 1)
    bad: list[Any] = [None, "x", [{"action": "compute", "start": "a", "stop": 3}],
                      [{"action": "compute", "start": 9.0, "stop": 1.0}],
                      [{"action": "compute", "start": 0.0, "stop": float("inf")}]]  # fmt: skip
    for i, startstops in enumerate(bad):
        book.started(f"t{i}", A)
        clock.t += 1
        book.finished(f"t{i}", A, startstops)
    w = by_name(book)["w"]
    assert w["tasks"] == len(bad) and w["compute_seconds"] == 0


def test_a_worker_that_reconnects_keeps_accumulating(book: Any, clock: Clock) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "w", 1)
    book.started("t1", A)
    clock.t += 2
    book.finished("t1", A, compute(2))
    book.disconnect(A)
    clock.t += 50  # away: not connected time
    book.connect("tcp://10.5.0.2:40777", "tcp://10.5.0.2:50000", "w", 1)
    book.started("t2", "tcp://10.5.0.2:40777")
    clock.t += 3
    book.finished("t2", "tcp://10.5.0.2:40777", compute(3))
    w = by_name(book)["w"]
    assert w["tasks"] == 2 and w["compute_seconds"] == pytest.approx(5)
    assert w["connected_seconds"] == pytest.approx(5) and not book.snapshot()["closed"]


def test_tasks_leaving_processing_unfinished_credit_nothing(book: Any, clock: Clock) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "w", 1)
    book.connect(B, "tcp://10.5.0.3:51234", "v", 1)
    book.started("erred", A)
    clock.t += 4
    book.dropped("erred")
    book.finished("erred", A, compute(4))  # a late message for a task no longer processing
    w = by_name(book)
    assert w["w"]["compute_seconds"] == 0 and w["v"]["tasks"] == 0


def test_the_file_carries_the_epoch_and_a_growing_counter(tmp_path: Path, clock: Clock) -> None:
    plugin = kw.WitnessPlugin(str(tmp_path), book=kw.WitnessBook(clock))
    plugin.scheduler = SimpleNamespace(workers={A: SimpleNamespace(name="w", nthreads=2)},
                                       tasks={})  # fmt: skip
    plugin.note_peer(A, "tcp://10.5.0.2:51234")
    plugin.add_worker(worker=A)
    epoch = plugin.book.epoch
    assert re.fullmatch(r"[0-9a-f]{32}", epoch)
    path = tmp_path / f"{epoch}.json"
    plugin.write()
    first = json.loads(path.read_text())
    clock.t += 7
    asyncio.run(plugin.close())
    last = json.loads(path.read_text())
    assert first["epoch"] == last["epoch"] == epoch and last["counter"] > first["counter"]
    assert not first["closed"] and last["closed"]
    (w,) = last["workers"]
    assert w["host"] == "10.5.0.2" and w["connected_seconds"] == pytest.approx(7)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    assert kw.WitnessBook().epoch != epoch


def test_the_preload_notes_each_registering_workers_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    added: list[Any] = []

    async def register(comm: Any, **msg: Any) -> str:
        plugin = added[0]
        plugin.add_worker(worker=msg["address"])
        return "OK"

    known = {A: SimpleNamespace(name="w", nthreads=1), B: SimpleNamespace(name="v", nthreads=1)}
    scheduler = SimpleNamespace(
        handlers={"register-worker": register}, workers=known, add_plugin=added.append
    )
    monkeypatch.setenv("KALAVAI_WITNESS_DIR", str(tmp_path))
    kw.dask_setup(scheduler)
    (plugin,) = added
    plugin.scheduler = scheduler
    handler = scheduler.handlers["register-worker"]
    asyncio.run(handler(SimpleNamespace(peer_address="tcp://10.5.0.2:50001"), address=A))
    asyncio.run(handler(SimpleNamespace(peer_address="tcp://10.5.0.9:50001"), address=B))
    assert [w["name"] for w in plugin.book.snapshot()["workers"]] == ["w"]
    assert plugin.peers == {}


R = "kalavai-redundant-run-"  # the redundancy library's task keys


def test_a_redundant_result_earns_its_compute_only_once_judged_valid(
    book: Any, clock: Clock
) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "honest", 1)
    book.connect(B, "tcp://10.5.0.3:51234", "liar", 1)
    clock.t += 10
    for task, worker in ((f"{R}0-0", A), (f"{R}0-1", B)):
        book.started(task, worker)
    clock.t += 2
    book.finished(f"{R}0-0", A, compute(2))
    book.finished(f"{R}0-1", B, compute(2))
    held = by_name(book)
    assert held["honest"]["compute_seconds"] == 0 and held["liar"]["compute_seconds"] == 0
    assert book.judge(f"{R}0-0", "valid") and book.judge(f"{R}0-1", "invalid")
    assert not book.judge(f"{R}0-1", "valid")  # judged once
    w = by_name(book)
    assert (w["honest"]["valid"], w["honest"]["compute_seconds"]) == (1, pytest.approx(2))
    assert (w["liar"]["invalid"], w["liar"]["compute_seconds"]) == (1, 0)
    assert w["liar"]["invalid_compute_seconds"] == pytest.approx(2)


def test_an_errored_result_counts_and_unjudged_compute_is_released_after_a_while(
    book: Any, clock: Clock
) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "w", 1)
    clock.t += 10
    book.started(f"{R}1-0", A)
    book.dropped(f"{R}1-0")  # raised
    book.started(f"{R}2-0", A)
    clock.t += 3
    book.finished(f"{R}2-0", A, compute(3))
    assert book.judge(f"{R}1-0", "error") and not book.judge("someone-elses-task", "invalid")
    assert by_name(book)["w"]["errors"] == 1 and by_name(book)["w"]["compute_seconds"] == 0
    clock.t += book.hold_seconds
    assert by_name(book)["w"]["compute_seconds"] == pytest.approx(3)


def test_identities_name_each_witnessed_worker_by_its_host_only(book: Any) -> None:
    book.connect(A, "tcp://10.5.0.2:51234", "w1", 1)
    book.connect(B, "tcp://10.5.0.3:51234", "w2", 1)
    book.connect("tcp://10.5.0.4:1", "tcp://10.5.0.9:1", "spoofer", 1)  # not witnessed
    table = {"hosts": {"10.5.0.2": {"device": "d1", "user": "u1"},
                       "10.5.0.4": {"device": "d3", "user": "u3"}}}  # fmt: skip
    assert book.identities(table) == {A: {"user": "u1", "device": "d1"}}
    assert book.identities("garbage") == {}


def test_only_the_owners_client_may_judge_results_or_ask_who_is_who(
    book: Any, tmp_path: Path
) -> None:
    import kalavai_witness_calls as calls  # importable as in the image (load_witness_plugin)

    book.connect(A, "tcp://10.5.0.2:51234", "w", 1)
    (tmp_path / "identities.json").write_text(json.dumps(
        {"hosts": {"10.5.0.2": {"device": "d1", "user": "u1"}}}))  # fmt: skip
    plugin = SimpleNamespace(book=book, directory=str(tmp_path))
    scheduler = SimpleNamespace(handlers={})
    calls.add_handlers(scheduler, plugin)
    owner = SimpleNamespace(peer_address="tcp://10.5.0.1:40000")
    worker_host = SimpleNamespace(peer_address="tcp://10.5.0.2:40002")
    assert scheduler.handlers["kalavai_identities"](owner) == {A: {"user": "u1", "device": "d1"}}
    assert scheduler.handlers["kalavai_identities"](worker_host) == {}
    book.started(f"{R}9-0", A)
    book.finished(f"{R}9-0", A, compute(1))
    vouch = [{"key": f"{R}9-0", "outcome": "valid"}]
    assert scheduler.handlers["kalavai_outcomes"](worker_host, outcomes=vouch) == 0
    assert scheduler.handlers["kalavai_outcomes"](owner, outcomes=vouch) == 1
