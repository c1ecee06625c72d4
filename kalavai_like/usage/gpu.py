"""GPU time given by one worker container: NVIDIA through NVML, AMD/Intel through DRM fdinfo.

Only processes in the worker's cgroup count: the host PIDs that NVML or /proc report are mapped
to their cgroup through /proc/<pid>/cgroup and kept only when the path names the container.
No GPU, no driver or an unsupported query leaves GPU time at zero with a `Condition` saying
why; it never raises. The NVML module is injected so tests can script it (FakeNVML).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kalavai_like.errors import Condition

PidFilter = Callable[[int], bool]


@dataclass(frozen=True)
class GpuReading:
    """GPU-seconds used by the worker during one interval, its GPU memory now, and any problem."""

    gpu_seconds: float = 0.0
    memory_bytes: int = 0
    condition: Condition | None = None


def cgroup_matcher(container_id: str, proc_root: str | os.PathLike[str] = "/proc") -> PidFilter:
    """A filter telling whether a host PID runs inside the container `container_id`.

    Works for cgroup v1 and v2 paths of podman and docker (the full id is part of the path).
    Raises ValueError for an id too short to be unique (it would match other containers).
    """
    if len(container_id) < 12 or "/" in container_id:
        raise ValueError(f"container id {container_id!r} is too short to identify its cgroup")
    root = Path(proc_root)

    def belongs(pid: int) -> bool:
        try:
            text = (root / str(pid) / "cgroup").read_text()
        except OSError:
            return False  # the process ended or is not visible
        return any(container_id in line.split(":", 2)[-1] for line in text.splitlines())

    return belongs


def worker_pids(belongs: PidFilter, proc_root: str | os.PathLike[str] = "/proc") -> list[int]:
    """Every PID under `proc_root` for which `belongs` is true."""
    try:
        names = os.listdir(proc_root)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and belongs(int(n)))


def _load_pynvml() -> Any:
    import pynvml

    return pynvml


class NvmlMeter:
    """Measures the worker's NVIDIA GPU time: per-process SM utilisation x interval length."""

    def __init__(self, belongs: PidFilter, nvml: Any = None) -> None:
        self._belongs = belongs
        self._nvml = nvml if nvml is not None else _load_pynvml()
        self._ready = False
        self._condition: Condition | None = None
        self._last_ts: dict[int, int] = {}

    def _init(self) -> bool:
        if self._ready:
            return True
        if self._condition is not None:
            return False  # init failed before; no driver does not appear while running
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as exc:
            self._condition = Condition(
                "gpu_no_driver",
                "No NVIDIA GPU driver",
                f"NVML could not start ({exc}); GPU usage is counted as zero. Install the "
                "NVIDIA driver to contribute an NVIDIA GPU.",
            )
            return False
        self._ready = True
        return True

    def count(self) -> int:
        """Number of NVIDIA GPUs (0 when there is no driver)."""
        if not self._init():
            return 0
        try:
            return int(self._nvml.nvmlDeviceGetCount())
        except self._nvml.NVMLError:
            return 0

    def measure(self, interval: float) -> GpuReading:
        """GPU-seconds of the worker's processes over the last `interval` seconds."""
        if not self._init():
            return GpuReading(condition=self._condition)
        nv = self._nvml
        seconds, memory, note = 0.0, 0, None
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(i)
                util, mem, note_i = self._device(i, handle)
                seconds += min(util, 100.0) / 100.0 * max(interval, 0.0)
                memory += mem
                note = note or note_i
        except nv.NVMLError as exc:
            note = Condition("gpu_query_failed", "GPU usage unavailable", f"NVML failed: {exc}")
            return GpuReading(condition=note)
        return GpuReading(seconds, memory, note)

    def _device(self, index: int, handle: Any) -> tuple[float, int, Condition | None]:
        nv = self._nvml
        mine: set[int] = set()
        others = False
        memory = 0
        for query in (
            nv.nvmlDeviceGetComputeRunningProcesses,
            nv.nvmlDeviceGetGraphicsRunningProcesses,
        ):
            for proc in query(handle):
                if self._belongs(int(proc.pid)):
                    if proc.pid not in mine:
                        memory += int(proc.usedGpuMemory or 0)
                    mine.add(int(proc.pid))
                else:
                    others = True
        try:
            samples = nv.nvmlDeviceGetProcessUtilization(handle, self._last_ts.get(index, 0))
        except nv.NVMLError as exc:
            if exc.value == nv.NVML_ERROR_NOT_FOUND:
                return 0.0, memory, None  # no samples since last time: idle
            if exc.value != nv.NVML_ERROR_NOT_SUPPORTED or not mine:
                raise
            if others:
                return (
                    0.0,
                    memory,
                    Condition(
                        "gpu_unattributable",
                        "GPU usage not counted",
                        "This GPU cannot report usage per process and other programs use it too, "
                        "so the pool's share cannot be measured.",
                    ),
                )
            return float(nv.nvmlDeviceGetUtilizationRates(handle).gpu), memory, None
        per_pid: dict[int, list[int]] = {}
        for s in samples:
            self._last_ts[index] = max(self._last_ts.get(index, 0), int(s.timeStamp))
            if int(s.pid) in mine or self._belongs(int(s.pid)):
                per_pid.setdefault(int(s.pid), []).append(int(s.smUtil))
        return sum(sum(v) / len(v) for v in per_pid.values()), memory, None

    def close(self) -> None:
        if self._ready:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._ready = False


def _parse_fdinfo(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _ns(value: str) -> int:
    try:
        return int(value.split()[0])
    except (ValueError, IndexError):
        return 0


_UNITS = {"": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


class DrmMeter:
    """Measures AMD/Intel GPU time from the drm-engine-* counters in /proc/<pid>/fdinfo."""

    def __init__(self, belongs: PidFilter, proc_root: str | os.PathLike[str] = "/proc") -> None:
        self._belongs = belongs
        self._root = Path(proc_root)
        self._seen: dict[tuple[str, str, str], int] = {}  # (device, client, engine) -> ns

    def _clients(self, pids: Iterable[int]) -> dict[tuple[str, str], dict[str, str]]:
        clients: dict[tuple[str, str], dict[str, str]] = {}
        for pid in pids:
            fdinfo = self._root / str(pid) / "fdinfo"
            try:
                entries = list(fdinfo.iterdir())
            except OSError:
                continue
            for entry in entries:
                try:
                    info = _parse_fdinfo(entry.read_text())
                except OSError:
                    continue
                if "drm-driver" in info and "drm-client-id" in info:
                    # Several fds can share one DRM client: count each client once.
                    key = (info.get("drm-pdev", info["drm-driver"]), info["drm-client-id"])
                    old = clients.setdefault(key, info)
                    for k, v in info.items():  # fds read at slightly different times: newest
                        if k.startswith("drm-engine-") and _ns(v) > _ns(old.get(k, "0")):
                            old[k] = v
        return clients

    def measure(self, interval: float) -> GpuReading:
        """GPU-seconds of the worker's DRM clients over the last `interval` seconds."""
        clients = self._clients(worker_pids(self._belongs, self._root))
        busy: dict[tuple[str, str], int] = {}  # (device, engine) -> ns this interval
        memory = 0
        seen: dict[tuple[str, str, str], int] = {}
        for (device, client), info in clients.items():
            for key, value in info.items():
                if key.startswith("drm-engine-") and not key.startswith("drm-engine-capacity"):
                    engine = key.removeprefix("drm-engine-")
                    ns = _ns(value)
                    prev = self._seen.get((device, client, engine))
                    seen[(device, client, engine)] = ns
                    if prev is not None and ns >= prev:
                        busy[(device, engine)] = busy.get((device, engine), 0) + ns - prev
                elif key in ("drm-memory-vram", "drm-total-vram"):
                    num, _, unit = value.partition(" ")
                    if num.isdigit():
                        memory += int(num) * _UNITS.get(unit.strip(), 1)
        self._seen = seen
        per_device: dict[str, float] = {}
        for (device, _engine), ns in busy.items():
            # Engines run in parallel: a device is as busy as its busiest engine.
            per_device[device] = max(per_device.get(device, 0.0), ns / 1e9)
        limit = max(interval, 0.0)
        return GpuReading(sum(min(s, limit) for s in per_device.values()), memory)


class GpuMeter:
    """The worker's GPU time from every source there is; call it with the interval length."""

    def __init__(
        self,
        container_id: str,
        *,
        nvml: Any = None,
        proc_root: str | os.PathLike[str] = "/proc",
    ) -> None:
        belongs = cgroup_matcher(container_id, proc_root)
        try:
            self.nvidia: NvmlMeter | None = NvmlMeter(belongs, nvml)
        except ImportError:
            self.nvidia = None
        self.drm = DrmMeter(belongs, proc_root)

    def __call__(self, interval: float) -> GpuReading:
        drm = self.drm.measure(interval)
        if self.nvidia is None:
            return drm
        nv = self.nvidia.measure(interval)
        # With no NVIDIA driver but a working DRM GPU, there is nothing to warn about.
        note = nv.condition if not drm.gpu_seconds and not drm.memory_bytes else None
        return GpuReading(
            nv.gpu_seconds + drm.gpu_seconds, nv.memory_bytes + drm.memory_bytes, note
        )

    def close(self) -> None:
        if self.nvidia is not None:
            self.nvidia.close()


def gpu_count(nvml: Any = None) -> int:
    """Number of NVIDIA GPUs on this machine (0 without a driver); never raises."""
    try:
        meter = NvmlMeter(lambda _pid: False, nvml)
    except ImportError:
        return 0
    try:
        return meter.count()
    finally:
        meter.close()
