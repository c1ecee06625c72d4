"""A simulated pool for the credit and preference tests: the real platform, a seed running a
`generic` pool whose workers burn CPU (busybox `sh` in a loop, so usage is known), and three
volunteers. Everything is named `kc7...` and removed by name/PID at the end, even on failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.simulator import FAST, Burn, simulated, start_hosts

PREFIX = "kc7"
BURN = '["sh", "-c", "while :; do :; done"]'


@pytest.fixture(scope="package")
def burn() -> Iterator[Burn]:
    with simulated(PREFIX, FAST, start_hosts("seed", "v1", "v2", "v3")) as sim:
        seed = sim.hosts["seed"]
        sim.cli(seed, "pool", "start", "burn", "--template", "generic",
                "--param", "image=localhost/kalavai-like/busybox:latest",
                "--param", f"command:={BURN}", "--endpoint", f"{seed.address}:51820")  # fmt: skip
        yield Burn(sim)
