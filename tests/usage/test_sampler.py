"""The sampler: CPU deltas, RAM integral, paused time, counter resets, resume after restart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kalavai_like.errors import Condition, SystemProblem
from kalavai_like.usage.gpu import GpuReading
from kalavai_like.usage.ledger import GIB, Counters, Ledger
from kalavai_like.usage.sampler import Sampler, boot_id


@dataclass
class Usage:
    cpu_seconds: float
    memory_bytes: int


class Worker:
    """A scripted worker cgroup and clock."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.cpu = 0.0
        self.mem = 0
        self.fail = False

    def usage(self) -> Usage:
        if self.fail:
            raise SystemProblem("Container gone", "no such container")
        return Usage(self.cpu, self.mem)

    def run(self, seconds: float, cores: float = 1.0, mem: int | None = None) -> None:
        self.t += seconds
        self.cpu += seconds * cores
        if mem is not None:
            self.mem = mem

    def sampler(self, **kw) -> Sampler:
        kw.setdefault("source_id", "c1")
        kw.setdefault("boot", "boot-1")
        return Sampler(self.usage, wall=lambda: self.t + 1e9, mono=lambda: self.t, **kw)


def test_cpu_is_the_counter_delta_and_ram_the_integral() -> None:
    w = Worker()
    w.mem = GIB
    s = w.sampler()
    first = s.sample()
    assert first.delta == Counters()  # the first look sets the baseline
    w.run(10, cores=1.5)
    d = s.sample().delta
    assert d.cpu_seconds == pytest.approx(15.0)
    assert d.ram_gb_seconds == pytest.approx(10.0)
    w.run(10, cores=0.5, mem=3 * GIB)  # memory ramps 1 -> 3 GiB: trapezoid gives 2 GiB average
    d = s.sample().delta
    assert (d.cpu_seconds, d.ram_gb_seconds) == pytest.approx((5.0, 20.0))
    assert s.live.cpu_cores == pytest.approx(0.5)
    assert s.live.memory_bytes == 3 * GIB


def test_new_worker_counts_from_zero() -> None:
    w = Worker()
    w.cpu = 3.0  # usage since the container started, before the first sample
    assert w.sampler().sample().delta.cpu_seconds == 3.0


def test_paused_time_accrues_nothing() -> None:
    w = Worker()
    w.mem = GIB
    s = w.sampler()
    s.sample()
    w.run(5)
    closing = s.set_running(False)  # the 5 s before the pause still count
    assert closing.state == "running" and closing.delta.cpu_seconds == pytest.approx(5.0)
    w.t += 60  # frozen: the counter does not move, memory is still held
    paused = s.sample()
    assert paused.state == "paused" and paused.delta == Counters()
    w.run(3)  # even if the counter moved, paused time is not credited
    assert s.set_running(True).delta == Counters()
    w.run(4)
    d = s.sample().delta
    assert (d.cpu_seconds, d.ram_gb_seconds) == pytest.approx((4.0, 4.0))


def test_counter_reset_is_a_new_baseline_not_a_subtraction() -> None:
    w = Worker()
    s = w.sampler()
    w.run(100)
    s.sample()
    w.cpu = 2.0  # the container restarted: its counter starts again from zero
    w.t += 5
    assert s.sample().delta.cpu_seconds == 2.0
    w.run(5)
    assert s.sample().delta.cpu_seconds == pytest.approx(5.0)


def test_unreadable_usage_counts_nothing_and_says_so() -> None:
    w = Worker()
    w.mem = GIB
    s = w.sampler()
    s.sample()
    w.fail = True
    w.run(10)
    blind = s.sample()
    assert blind.delta == Counters()
    assert [c.code for c in s.conditions] == ["usage_unreadable"]
    w.fail = False
    w.run(10)
    d = s.sample().delta
    assert d.cpu_seconds == pytest.approx(20.0)  # the counter kept counting: nothing lost
    assert d.ram_gb_seconds == 0.0  # but memory across the blind spot is not guessed
    assert s.conditions == []


def test_gpu_source_is_credited_only_while_running() -> None:
    w = Worker()
    calls: list[float] = []
    note = Condition("gpu_no_driver", "No NVIDIA GPU driver", "...")

    def gpu(interval: float) -> GpuReading:
        calls.append(interval)
        return GpuReading(interval * 0.5, 0, note)

    s = w.sampler(gpu=gpu)
    s.sample()
    w.run(4)
    assert s.sample().delta.gpu_seconds == pytest.approx(2.0)
    assert s.conditions == [note]
    s.set_running(False)
    w.run(4)
    assert s.sample().delta.gpu_seconds == 0.0
    assert calls[-1] == pytest.approx(4.0)  # still read while paused, keeping baselines fresh


def _run_with_restart(tmp_path: Path, restart_boot: str, restart_source: str) -> float:
    """Samples into a ledger, 'kills' the agent mid-interval, resumes; returns credited CPU."""
    w = Worker()
    led = Ledger.open(tmp_path / "ledger.db", "m1")
    s = w.sampler()
    for _ in range(5):
        w.run(2)
        led.append(s.sample())
    w.run(7)  # the agent dies here: 7 s of work not yet sampled
    led.close()
    if (restart_boot, restart_source) != ("boot-1", "c1"):
        w.cpu = 1.0  # a new container (or a reboot): a fresh counter, 1 s used before sampling
    led = Ledger.open(tmp_path / "ledger.db", "m1")
    s2 = w.sampler(resume=led.latest(), boot=restart_boot, source_id=restart_source)
    for _ in range(3):
        w.run(2)
        led.append(s2.sample())
    return led.latest().counters.cpu_seconds


def test_restart_on_same_boot_and_worker_loses_and_doubles_nothing(tmp_path: Path) -> None:
    assert _run_with_restart(tmp_path, "boot-1", "c1") == pytest.approx(10 + 7 + 6)


def test_restart_with_a_new_worker_counts_its_counter_from_zero(tmp_path: Path) -> None:
    # Its whole counter is new usage: the old worker's baseline means nothing for it.
    assert _run_with_restart(tmp_path, "boot-1", "c2") == pytest.approx(10 + 1 + 6)
    assert _run_with_restart(tmp_path / "b", "boot-2", "c1") == pytest.approx(10 + 1 + 6)


def test_boot_id_is_read_or_unique(tmp_path: Path) -> None:
    assert len(boot_id()) >= 32
    missing = str(tmp_path / "nope")
    assert boot_id(missing) != boot_id(missing)
