"""A scripted stand-in for the `pynvml` module (nvidia-ml-py), for GPU accounting tests.

It raises the real pynvml error classes, so code catching `nvml.NVMLError` behaves the same
against it and against the real library; tests/usage/test_gpu.py runs the same contract
against both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pynvml


@dataclass
class FakeGpu:
    """One scripted GPU: processes (pid -> memory bytes) and utilisation samples."""

    compute: dict[int, int] = field(default_factory=dict)
    graphics: dict[int, int] = field(default_factory=dict)
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # (pid, timestamp, sm %)
    per_process_supported: bool = True
    device_util: int = 0


class FakeNVML:
    """The subset of pynvml the GPU meter uses. `driver=False` behaves like a host without one."""

    NVMLError = pynvml.NVMLError
    NVML_ERROR_NOT_FOUND = pynvml.NVML_ERROR_NOT_FOUND
    NVML_ERROR_NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_UNINITIALIZED = pynvml.NVML_ERROR_UNINITIALIZED

    def __init__(self, gpus: list[FakeGpu] | None = None, *, driver: bool = True) -> None:
        self.gpus = gpus if gpus is not None else []
        self.driver = driver
        self.initialised = 0

    def _check(self) -> None:
        if not self.initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def nvmlInit(self) -> None:
        if not self.driver:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self._check()
        self.initialised -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        self._check()
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in gpu.compute.items()]

    def nvmlDeviceGetGraphicsRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        self._check()
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in gpu.graphics.items()]

    def nvmlDeviceGetProcessUtilization(self, gpu: FakeGpu, since: int) -> list[SimpleNamespace]:
        self._check()
        if not gpu.per_process_supported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        out = [
            SimpleNamespace(pid=p, timeStamp=t, smUtil=u, memUtil=0, encUtil=0, decUtil=0)
            for p, t, u in gpu.samples
            if t > since
        ]
        if not out:  # like the real call when no sample is newer than `since`
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return out

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> SimpleNamespace:
        self._check()
        return SimpleNamespace(gpu=gpu.device_util, memory=0)
