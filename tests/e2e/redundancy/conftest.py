"""A simulated dask pool for the redundancy tests: the real platform, a seed whose head runs
the Dask scheduler with the witness (and kalavai_redundancy, both in the rebuilt dask image),
and three volunteers of three users whose workers do the work over the overlay. Everything is
named `kq2...` and removed by name/PID at the end, even on failure.

The owner's script runs as the owner's would: `pool run` on the seed, a job container that is
a Dask client of the pool over mutual TLS (its address and certificates from Dask's standard
configuration, so a bare `Client()` connects)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kalavai_like.devtools.simulator import Simulator
from tests.support.simulator import FAST, simulated, start_hosts

PREFIX = "kq2"
VOLUNTEERS = ("v1", "v2", "v3")

PRELUDE = """
import json
from distributed import Client, get_worker
from kalavai_redundancy import Redundancy, run_redundant
client = Client(timeout=60)
client.wait_for_workers({workers}, timeout=120)

def outcome(report):
    return {{"values": report.values(),
             "workunits": [{{"state": w.state, "error": w.error, "agreed": w.agreed,
                             "results": [[r.worker, r.outcome] for r in w.results]}}
                            for w in report.workunits]}}
"""


class Pool:
    """The simulator, the pool's `pool start` answer, and its volunteers' device ids."""

    def __init__(self, sim: Simulator, pool: dict[str, Any]) -> None:
        self.sim = sim
        self.pool = pool
        self.devices: dict[str, str] = {}

    def join(self, vol: str) -> str:
        seed = self.sim.hosts["seed"]
        token = str(self.sim.cli_json(seed, "pool", "token", "--uses", "1")["token"])
        self.sim.cli(self.sim.hosts[vol], "pool", "join", "-", "--cpus", "1", "--memory", "1g",
                     "--name", vol, input=token + "\n")  # fmt: skip
        self.devices[vol] = str(self.sim.client(self.sim.hosts[vol]).status().worker.device_id)
        return self.devices[vol]

    def run(self, body: str) -> dict[str, Any]:
        """Run the owner's script (PRELUDE, then `body`, which prints one JSON line) with
        `pool run` on the seed."""
        seed = self.sim.hosts["seed"]
        script = seed.home / "job.py"
        script.write_text(PRELUDE.format(workers=len(self.devices)) + body)
        proc = self.sim.cli(seed, "pool", "run", str(script), check=False, timeout=600)
        assert proc.returncode == 0, (proc.stderr or proc.stdout)[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def device(self, device_id: str) -> dict[str, Any]:
        """The device as the pool's owner sees it (`pool workers`)."""
        assert self.sim.platform is not None
        home = self.sim.hosts["seed"].home
        (owner,) = json.loads((home / "state" / "api-tokens.json").read_text()).values()
        r = httpx.get(f"{self.sim.platform.url}/api/v1/pools/{self.pool['pool_id']}/devices",
                      headers={"Authorization": f"Bearer {owner}"}, timeout=30)  # fmt: skip
        r.raise_for_status()
        return next(d for d in r.json() if d["id"] == device_id)  # type: ignore[no-any-return]


@pytest.fixture(scope="package")
def pool() -> Iterator[Pool]:
    settings = {**FAST, "witness_interval": 2.0}
    with simulated(PREFIX, settings, start_hosts("seed", *VOLUNTEERS)) as sim:
        seed = sim.hosts["seed"]
        started = sim.cli_json(seed, "pool", "start", "redundant", "--template", "dask",
                               "--public", "--endpoint", f"{seed.address}:51820")  # fmt: skip
        p = Pool(sim, started)
        for vol in VOLUNTEERS:
            p.join(vol)
        yield p
