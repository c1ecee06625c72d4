"""The sampler on a real worker container: lowering the CPU cap live cuts the measured CPU per
second, and the container is not restarted (its id does not change)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from kalavai_like.container import ContainerRuntime, RuntimeConfig
from kalavai_like.container.spec import ContainerSpec
from kalavai_like.usage.sampler import Sampler

pytestmark = pytest.mark.podman
BUSYBOX = "localhost/kalavai-like/busybox:latest"
BURN = "while :; do :; done"


@pytest.fixture
def runtime() -> ContainerRuntime:
    config = RuntimeConfig.detect()
    exists = subprocess.run(config.command("image", "exists", BUSYBOX), env=config.environ())
    if exists.returncode != 0:
        pytest.fail(f"{BUSYBOX} is missing: run packaging/images/build (scripts/setup does)")
    return ContainerRuntime(config)


@pytest.fixture
def burner(runtime: ContainerRuntime) -> Iterator[str]:
    name = f"ks-burn-{uuid.uuid4().hex[:8]}"
    spec = ContainerSpec(
        name=name,
        image=BUSYBOX,
        command=["sh", "-c", f"({BURN}) & ({BURN}) & wait"],
        cpus=1.0,
        memory_bytes=64 * 2**20,
    )
    info = runtime.run(spec)
    try:
        yield info.id
    finally:
        runtime.remove(info.id)


def measured_cores(sampler: Sampler, window: float) -> float:
    """CPU cores the worker used over a measuring window (the window is the measurement)."""
    sampler.sample()
    time.sleep(window)
    sampler.sample()
    return sampler.live.cpu_cores


def test_lowering_the_cpu_cap_live_cuts_measured_cpu(runtime: ContainerRuntime, burner: str):
    sampler = Sampler(lambda: runtime.usage(burner), source_id=burner)
    before = measured_cores(sampler, 3.0)
    runtime.update(burner, cpus=0.25)
    sampler.sample()  # the interval that straddles the change is not judged
    after = measured_cores(sampler, 3.0)
    assert after <= 0.25 * 1.2, f"capped at 0.25 cores, measured {after:.2f}"
    assert before >= 0.5, f"uncapped burn measured only {before:.2f} cores (host overloaded?)"
    assert runtime.state(burner).id == burner  # same container: no restart
    assert runtime.state(burner).state == "running"
