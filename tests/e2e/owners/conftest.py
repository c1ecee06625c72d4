"""A simulated pool for the pool owner's tools: the real platform, a seed running a `generic`
pool whose workers sleep (busybox), and one volunteer. Everything is named `ko4...` and removed
by name/PID at the end, even on failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.simulator import FAST, Pool, simulated, start_hosts

PREFIX = "ko4"


@pytest.fixture(scope="package")
def owned() -> Iterator[Pool]:
    with simulated(PREFIX, FAST, start_hosts("seed", "v1")) as sim:
        seed = sim.hosts["seed"]
        sim.cli(seed, "pool", "start", "owned", "--template", "generic",
                "--param", "image=localhost/kalavai-like/busybox:latest",
                "--param", 'command:=["sleep", "100000"]',
                "--endpoint", f"{seed.address}:51820")  # fmt: skip
        yield Pool(sim)
