"""A shared simulated pool for the end-to-end tests: the real platform, a seed running a dask
pool, a second seed whose pool names an image that does not exist, and volunteers; everything
named `kt6...` and removed by name/PID at the end, even when a test fails."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.devtools.simulator import Simulator

PREFIX = "kt6"


def needs_root_tools() -> pytest.MarkDecorator:
    ok = os.geteuid() == 0 and all(
        shutil.which(t) for t in ("nsenter", "ip", "podman", "wireguard-go", "wg")
    )
    return pytest.mark.skipif(not ok, reason="needs root, podman, wireguard-go")


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Pool:
    """The simulator plus what the tests need to know about it."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.token = ""
        self.broken_token = ""

    def host(self, short: str) -> Any:
        return self.sim.hosts[short]

    def fresh_token(self, seed: str = "seed") -> str:
        out = self.sim.cli_json(self.host(seed), "pool", "token", "--uses", "1")
        return str(out["token"])

    def join(self, vol: str, token: str | None = None, check: bool = True) -> Any:
        h = self.host(vol)
        return self.sim.cli(
            h, "pool", "join", "-", "--cpus", "1", "--memory", "512m", "--name", vol,
            input=(token or self.fresh_token()) + "\n", check=check,
        )  # fmt: skip

    def devices(self, seed: str = "seed") -> list[dict[str, Any]]:
        out = self.sim.cli_json(self.host(seed), "pool", "workers", "--all")
        return out  # type: ignore[no-any-return]

    def device(self, name: str, seed: str = "seed") -> dict[str, Any]:
        found = [d for d in self.devices(seed) if d["name"] == name]
        return sorted(found, key=lambda d: d["created_at"])[-1]


@pytest.fixture(scope="package")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    base = Path(f"/run/kalavai-like/test-{PREFIX}")
    sim = Simulator(PREFIX, base)
    sim.agent_settings = {
        "sample_interval": 1.0, "heartbeat_interval": 1.0, "check_interval": 2.0,
        "handshake_timeout": 3.0,
    }  # fmt: skip
    try:
        sim.start_network()
        hosts = [sim.add_host(h) for h in ("seed", "seed2", "v1", "v2", "v3")]
        sim.start_platform()
        for h in hosts:
            sim.start_agent(h)
            sim.signup(h)
        seed, seed2 = hosts[0], hosts[1]
        sim.cli(seed, "pool", "start", "demo", "--template", "dask",
                "--endpoint", f"{seed.address}:51820")  # fmt: skip
        sim.cli(seed2, "pool", "start", "broken", "--template", "generic",
                "--param", "image=localhost/kalavai-like/kt6-missing:none",
                "--param", 'command:=["sleep", "1000"]',
                "--endpoint", f"{seed2.address}:51820")  # fmt: skip
        yield Pool(sim)
    finally:
        sim.close()
        left = sim.leftovers()
        assert not left, f"left behind: {left}"
