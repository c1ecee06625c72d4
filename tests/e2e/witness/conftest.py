"""A simulated dask pool for the witnessed-credit tests: the real platform, a seed whose head
container runs the Dask scheduler with the witness plugin, and volunteers whose workers do real
Dask work. Everything is named `kw8...` and removed by name/PID at the end, even on failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kalavai_like.devtools.simulator import Simulator
from tests.support.simulator import FAST, simulated, start_hosts

PREFIX = "kw8"


class Witnessed:
    """The simulator, the pool's `pool start` answer and what the tests need of them."""

    def __init__(self, sim: Simulator, pool: dict[str, Any]) -> None:
        self.sim = sim
        self.pool = pool

    @property
    def url(self) -> str:
        """The platform's URL (on the simulated LAN's bridge, reachable from the tests)."""
        assert self.sim.platform is not None
        return str(self.sim.platform.url)

    def host(self, short: str) -> Any:
        return self.sim.hosts[short]

    def token(self, uses: int = 1) -> str:
        out = self.sim.cli_json(self.host("seed"), "pool", "token", "--uses", str(uses))
        return str(out["token"])

    def join(self, vol: str) -> str:
        """`vol` joins with one core; its device id."""
        self.sim.cli(self.host(vol), "pool", "join", "-", "--cpus", "1", "--memory", "1g",
                     "--name", vol, input=self.token() + "\n")  # fmt: skip
        return str(self.sim.client(self.host(vol)).status().worker.device_id)

    def device(self, device_id: str) -> dict[str, Any]:
        """The device as its pool's owner sees it (what `pool workers` shows), asked from here:
        the seed's own network may be cut off from the platform."""
        tokens = json.loads((self.host("seed").home / "state" / "api-tokens.json").read_text())
        (owner,) = tokens.values()
        r = httpx.get(f"{self.url}/api/v1/pools/{self.pool['pool_id']}/devices", timeout=30,
                      headers={"Authorization": f"Bearer {owner}"})  # fmt: skip
        r.raise_for_status()
        for d in r.json():
            if d["id"] == device_id:
                return d  # type: ignore[no-any-return]
        raise AssertionError(f"no device {device_id}")


@pytest.fixture(scope="package")
def wit() -> Iterator[Witnessed]:
    settings = {**FAST, "witness_interval": 2.0}
    with simulated(PREFIX, settings, start_hosts("seed", "v1", "v2")) as sim:
        seed = sim.hosts["seed"]
        pool = sim.cli_json(seed, "pool", "start", "wit", "--template", "dask", "--public",
                            "--endpoint", f"{seed.address}:51820")  # fmt: skip
        yield Witnessed(sim, pool)
