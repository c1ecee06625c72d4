"""GPU accounting: worker PIDs only, NVML scripted by FakeNVML, DRM fdinfo, and no driver."""

from __future__ import annotations

from pathlib import Path

import pynvml
import pytest

from kalavai_like.usage.gpu import (
    DrmMeter,
    GpuMeter,
    NvmlMeter,
    cgroup_matcher,
    gpu_count,
    worker_pids,
)
from tests.support.nvml import FakeGpu, FakeNVML

CID = "3f" * 32
OTHER = "9c" * 32
MIB = 2**20


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A fake /proc: 100 and 101 in the worker (v1 and v2 layouts), 200 in another container."""
    cgroups = {
        100: f"12:memory:/libpod_parent/libpod-{CID}\n4:cpu,cpuacct:/libpod_parent/libpod-{CID}\n",
        101: f"0::/machine.slice/libpod-{CID}.scope/container\n",
        200: f"4:cpu,cpuacct:/libpod_parent/libpod-{OTHER}\n",
        300: "0::/user.slice/user-1000.slice/session-2.scope\n",
    }
    for pid, text in cgroups.items():
        (tmp_path / str(pid) / "fdinfo").mkdir(parents=True)
        (tmp_path / str(pid) / "cgroup").write_text(text)
    (tmp_path / "self").mkdir()
    return tmp_path


def test_cgroup_matcher_keeps_only_the_workers_pids(proc: Path) -> None:
    belongs = cgroup_matcher(CID, proc)
    assert worker_pids(belongs, proc) == [100, 101]
    assert not belongs(4242)  # gone
    with pytest.raises(ValueError, match="too short"):
        cgroup_matcher("", proc)


def test_nvml_counts_worker_processes_only(proc: Path) -> None:
    gpu0 = FakeGpu(
        compute={100: 512 * MIB, 200: 1024 * MIB},
        graphics={300: 64 * MIB},
        samples=[(100, 10, 40), (100, 20, 60), (200, 15, 90), (300, 15, 5)],
    )
    gpu1 = FakeGpu(compute={101: 256 * MIB}, samples=[(101, 12, 100)])
    nv = FakeNVML([gpu0, gpu1])
    meter = NvmlMeter(cgroup_matcher(CID, proc), nv)
    r = meter.measure(10.0)
    # gpu0: worker pid 100 averages 50% -> 5 s; pid 200 (other container) and 300 don't count.
    # gpu1: pid 101 at 100% -> 10 s.
    assert r.gpu_seconds == pytest.approx(15.0)
    assert r.memory_bytes == 768 * MIB
    assert r.condition is None
    # The next interval only sees newer samples; none means idle.
    assert meter.measure(10.0).gpu_seconds == 0.0
    gpu0.samples.append((100, 30, 20))
    assert meter.measure(5.0).gpu_seconds == pytest.approx(1.0)
    meter.close()
    assert nv.initialised == 0


def test_nvml_caps_a_device_at_full_use(proc: Path) -> None:
    gpu = FakeGpu(compute={100: 0, 101: 0}, samples=[(100, 1, 80), (101, 1, 70)])
    r = NvmlMeter(cgroup_matcher(CID, proc), FakeNVML([gpu])).measure(2.0)
    assert r.gpu_seconds == pytest.approx(2.0)


def test_nvml_without_per_process_samples(proc: Path) -> None:
    alone = FakeGpu(compute={100: MIB}, per_process_supported=False, device_util=30)
    shared = FakeGpu(compute={100: MIB, 200: MIB}, per_process_supported=False, device_util=90)
    r = NvmlMeter(cgroup_matcher(CID, proc), FakeNVML([alone])).measure(10.0)
    assert r.gpu_seconds == pytest.approx(3.0) and r.condition is None
    r = NvmlMeter(cgroup_matcher(CID, proc), FakeNVML([shared])).measure(10.0)
    assert r.gpu_seconds == 0.0
    assert r.condition is not None and r.condition.code == "gpu_unattributable"


# -- contract: the fake's "no driver" mode and the real nvidia-ml-py on a host without one ------


def _real_nvml_without_driver():
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return pynvml
    pynvml.nvmlShutdown()
    pytest.skip("an NVIDIA driver is present: the no-driver contract cannot run on real NVML")


@pytest.fixture(params=["fake", "real"])
def no_driver_nvml(request):
    return FakeNVML(driver=False) if request.param == "fake" else _real_nvml_without_driver()


def test_contract_no_driver_raises_library_not_found(no_driver_nvml) -> None:
    with pytest.raises(pynvml.NVMLError) as err:
        no_driver_nvml.nvmlInit()
    assert err.value.value in (
        pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
        pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
    )


def test_contract_no_driver_degrades_to_zero_with_a_note(no_driver_nvml, proc: Path) -> None:
    meter = NvmlMeter(cgroup_matcher(CID, proc), no_driver_nvml)
    for _ in range(2):  # and keeps doing so, without raising
        r = meter.measure(5.0)
        assert (r.gpu_seconds, r.memory_bytes) == (0.0, 0)
        assert r.condition is not None and r.condition.code == "gpu_no_driver"
        assert r.condition.title == "No NVIDIA GPU driver"
    assert meter.count() == 0
    meter.close()
    assert gpu_count(no_driver_nvml) == 0


def test_real_nvml_module_by_default(proc: Path) -> None:
    """GpuMeter with the real library on this host: zero, a note, no exception."""
    r = GpuMeter(CID, proc_root=proc)(5.0)
    assert r.gpu_seconds == 0.0
    if r.condition is not None:
        assert r.condition.code == "gpu_no_driver"


# -- AMD / Intel through DRM fdinfo ------------------------------------------------------------


def _fdinfo(proc: Path, pid: int, fd: int, client: str, render_ns: int, video_ns: int) -> None:
    (proc / str(pid) / "fdinfo" / str(fd)).write_text(
        "pos:\t0\nflags:\t02100002\n"
        "drm-driver:\tamdgpu\ndrm-pdev:\t0000:03:00.0\n"
        f"drm-client-id:\t{client}\n"
        f"drm-engine-gfx:\t{render_ns} ns\ndrm-engine-dec:\t{video_ns} ns\n"
        "drm-engine-capacity-gfx:\t1\ndrm-memory-vram:\t1024 KiB\n"
    )


def test_drm_engine_time_of_worker_clients(proc: Path) -> None:
    meter = DrmMeter(cgroup_matcher(CID, proc), proc)
    _fdinfo(proc, 100, 5, "7", 1_000_000_000, 0)
    _fdinfo(proc, 100, 6, "7", 1_000_000_000, 0)  # same client through a second fd
    _fdinfo(proc, 200, 5, "9", 0, 0)  # another container's client
    (proc / "100" / "fdinfo" / "3").write_text("pos:\t0\nflags:\t0100002\n")  # not a DRM fd
    first = meter.measure(2.0)
    assert first.gpu_seconds == 0.0  # the first look only sets the baseline
    assert first.memory_bytes == 1024 * 1024

    _fdinfo(proc, 100, 5, "7", 1_500_000_000, 200_000_000)
    _fdinfo(proc, 100, 6, "7", 1_500_000_000, 200_000_000)
    _fdinfo(proc, 200, 5, "9", 9_000_000_000, 0)
    assert meter.measure(2.0).gpu_seconds == pytest.approx(0.5)  # busiest engine, once
    _fdinfo(proc, 100, 5, "7", 9_500_000_000, 200_000_000)
    assert meter.measure(2.0).gpu_seconds == pytest.approx(2.0)  # capped at the interval


def test_gpu_meter_combines_and_hides_no_driver_note_when_drm_works(proc: Path) -> None:
    meter = GpuMeter(CID, nvml=FakeNVML(driver=False), proc_root=proc)
    assert meter(1.0).condition is not None  # nothing at all: say there is no driver
    _fdinfo(proc, 101, 4, "1", 0, 0)
    _fdinfo(proc, 101, 4, "1", 0, 0)
    r = meter(1.0)
    assert r.condition is None and r.memory_bytes == 1024 * 1024
