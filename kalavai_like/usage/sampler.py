"""Turns raw worker readings into usage samples for the ledger.

Every interval the agent calls `Sampler.sample()`; the sampler reads the worker's cumulative
CPU seconds and memory in use (an injected source, normally `ContainerRuntime.usage(id)`) and the
GPU meter, and returns a `Sample` whose `delta` is what the interval gave:

- CPU: the increase of the cgroup's cumulative CPU seconds. A decrease means the container
  restarted with a fresh counter: its whole new value counts (nothing subtracted, nothing lost).
- RAM: the time integral of memory in use (trapezoid), in GiB-seconds.
- GPU: whatever the injected GPU meter reports for the interval.

Paused intervals accrue nothing (the agent tells the sampler through `set_running`, which first
closes the interval in the old state). The sampler resumes from the ledger's latest row, so an
agent restart on the same boot and the same container carries on as if it never stopped.
It knows nothing of tokens or the platform.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kalavai_like.errors import Condition, KalavaiError
from kalavai_like.usage.gpu import GpuReading
from kalavai_like.usage.ledger import GIB, Counters, LedgerRow, Sample


class UsageReading(Protocol):
    """A worker's cumulative CPU seconds and current memory in use (bytes)."""

    @property
    def cpu_seconds(self) -> float: ...

    @property
    def memory_bytes(self) -> int: ...


UsageSource = Callable[[], UsageReading]
GpuSource = Callable[[float], GpuReading]


def boot_id(path: str = "/proc/sys/kernel/random/boot_id") -> str:
    """This boot's id: monotonic times are only comparable within one boot."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return f"unknown-{uuid.uuid4()}"  # never equal to a stored one: no false resume


@dataclass(frozen=True)
class LiveUsage:
    """What the worker used over the last interval, for live views."""

    cpu_cores: float = 0.0
    memory_bytes: int = 0
    gpu_fraction: float = 0.0
    interval: float = 0.0


class Sampler:
    """Accumulates one worker's usage; see the module docstring."""

    def __init__(
        self,
        usage: UsageSource,
        *,
        source_id: str,
        gpu: GpuSource | None = None,
        resume: LedgerRow | None = None,
        running: bool = True,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        boot: str | None = None,
    ) -> None:
        """`resume` is the ledger's latest row; `source_id` names the worker (container id)."""
        self._usage = usage
        self._gpu = gpu
        self._wall = wall
        self._mono = mono
        self.source_id = source_id
        self.boot_id = boot if boot is not None else boot_id()
        self.running = running
        self.live = LiveUsage()
        self._usage_note: Condition | None = None
        self._gpu_note: Condition | None = None
        # Baseline: last raw CPU counter, memory and the monotonic time they were read at.
        self._cpu = 0.0  # a new worker's counter started at zero: all of it is new usage
        self._mem: int | None = None
        self._at: float | None = None
        self._gap_running = running
        if resume and (resume.boot_id, resume.source_id) == (self.boot_id, source_id):
            self._cpu = resume.source_cpu_seconds
            self._mem = resume.memory_bytes
            self._at = resume.mono
            # The gap since the last row was spent in the state that row was in.
            self._gap_running = resume.state == "running"

    @property
    def conditions(self) -> list[Condition]:
        """Ongoing problems (worker usage unreadable, no GPU driver...)."""
        return [c for c in (self._usage_note, self._gpu_note) if c is not None]

    def set_source(self, source_id: str, usage: UsageSource) -> Sample:
        """Switches to a new worker (container replaced): closes the interval, new baseline."""
        last = self.sample()
        self.source_id, self._usage = source_id, usage
        self._cpu, self._mem = 0.0, None
        return last

    def set_running(self, running: bool) -> Sample:
        """Closes the current interval in the old state, then switches state."""
        last = self.sample()
        self.running = running
        self._gap_running = running
        return last

    def sample(self) -> Sample:
        """Reads the worker and returns what the interval since the last sample gave."""
        now_mono, now_wall = self._mono(), self._wall()
        interval = 0.0 if self._at is None else max(now_mono - self._at, 0.0)
        counting = self._gap_running
        self._gap_running = self.running
        state = "running" if counting else "paused"
        try:
            reading = self._usage()
            cpu_now, mem_now = float(reading.cpu_seconds), int(reading.memory_bytes)
            self._usage_note = None
        except (KalavaiError, OSError) as exc:
            self._usage_note = Condition(
                "usage_unreadable",
                "Worker usage unreadable",
                f"The worker's usage could not be read ({exc}); nothing is counted until it can.",
            )
            self._mem, self._at = None, now_mono  # do not credit memory across the blind spot
            self.live = LiveUsage(interval=interval)
            return Sample(
                now_wall, now_mono, self.boot_id, state, Counters(), self.source_id, self._cpu, 0
            )

        cpu_delta = cpu_now - self._cpu if cpu_now >= self._cpu else cpu_now
        ram = 0.0
        if self._mem is not None and interval > 0:
            ram = (self._mem + mem_now) / 2 / GIB * interval
        gpu = self._read_gpu(interval)
        self._cpu, self._mem, self._at = cpu_now, mem_now, now_mono
        if interval > 0:
            self.live = LiveUsage(
                cpu_cores=cpu_delta / interval if counting else 0.0,
                memory_bytes=mem_now,
                gpu_fraction=gpu.gpu_seconds / interval if counting else 0.0,
                interval=interval,
            )
        delta = Counters(cpu_delta, ram, gpu.gpu_seconds) if counting else Counters()
        return Sample(
            now_wall, now_mono, self.boot_id, state, delta, self.source_id, cpu_now, mem_now
        )

    def _read_gpu(self, interval: float) -> GpuReading:
        if self._gpu is None:
            self._gpu_note = None
            return GpuReading()
        reading = self._gpu(interval)  # also while paused: keeps the meter's baselines fresh
        self._gpu_note = reading.condition
        return reading
