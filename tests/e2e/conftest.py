"""A shared simulated pool for the end-to-end tests: the real platform, a seed running a dask
pool, a second seed whose pool names an image that does not exist, and volunteers; everything
named `kt6...` and removed by name/PID at the end, even when a test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.simulator import FAST, Pool, simulated, start_hosts

PREFIX = "kt6"


@pytest.fixture(scope="package")
def pool() -> Iterator[Pool]:
    with simulated(PREFIX, FAST, start_hosts("seed", "seed2", "v1", "v2", "v3")) as sim:
        seed, seed2 = sim.hosts["seed"], sim.hosts["seed2"]
        sim.cli(seed, "pool", "start", "demo", "--template", "dask",
                "--endpoint", f"{seed.address}:51820")  # fmt: skip
        sim.cli(seed2, "pool", "start", "broken", "--template", "generic",
                "--param", "image=localhost/kalavai-like/kt6-missing:none",
                "--param", 'command:=["sleep", "1000"]',
                "--endpoint", f"{seed2.address}:51820")  # fmt: skip
        yield Pool(sim)
