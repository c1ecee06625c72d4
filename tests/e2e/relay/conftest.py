"""A simulated LAN for the relay tests: the real platform with `relay serve` beside it, a seed
whose pool volunteers reach over UDP (`open`), a seed behind "NAT" (its namespace drops all
inbound UDP) started `--relay-only` (`natted`), and volunteers. The networks are nftables rules
in the hosts' namespaces. Everything is named `kr6...` and removed by name/PID at the end."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from kalavai_like.devtools.simulator import SimHost, Simulator
from tests.support.simulator import FAST, simulated

PREFIX = "kr6"
TABLE = "kr6_block"  # the test's own nft table in a host's namespace


def nft(host: SimHost, script: str) -> None:
    proc = subprocess.run(["nsenter", f"--net=/run/netns/{host.netns}", "--", "nft", "-f", "-"],
                          input=script, capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def block_udp(host: SimHost, direction: str) -> None:
    """Drop all of the host's UDP leaving (`out`: an office firewall) or arriving (`in`: NAT
    without a port forward) on its LAN side; loopback stays open."""
    hook, dev = ("output", "oifname") if direction == "out" else ("input", "iifname")
    nft(
        host,
        f"""table inet {TABLE} {{
  chain {direction} {{
    type filter hook {hook} priority filter; policy accept;
    {dev} != "lo" meta l4proto udp drop
  }}
}}
""",
    )


def lift_block(host: SimHost) -> None:
    nft(host, f"delete table inet {TABLE}\n")


class Relayed:
    """The simulator, both pools' `pool start` answers and what the tests need of them."""

    def __init__(self, sim: Simulator, pools: dict[str, dict[str, Any]]) -> None:
        self.sim = sim
        self.pools = pools

    def host(self, short: str) -> SimHost:
        return self.sim.hosts[short]

    def join(self, vol: str, seed: str) -> list[str]:
        """`vol` joins `seed`'s pool with one core; the join's printed steps."""
        token = self.sim.cli_json(self.host(seed), "pool", "token", "--uses", "1")["token"]
        out = self.sim.cli(self.host(vol), "pool", "join", "-", "--cpus", "1", "--memory", "1g",
                           "--name", vol, input=token + "\n")  # fmt: skip
        return out.stdout.splitlines()

    def worker(self, vol: str) -> dict[str, Any]:
        """`pool status --json`'s worker on `vol`."""
        return self.sim.cli_json(self.host(vol), "pool", "status")["worker"]  # type: ignore[no-any-return]


@pytest.fixture(scope="package")
def relayed() -> Iterator[Relayed]:
    settings = {**FAST, "direct_probe_interval": 2.0, "direct_timeout": 1.5}

    def setup(sim: Simulator) -> None:
        sim.start_network()
        hosts = [sim.add_host(h) for h in ("open", "natted", "v1", "v2", "v3")]
        sim.start_platform(relay=True)
        for h in hosts:
            sim.start_agent(h)
            sim.signup(h)

    with simulated(PREFIX, settings, setup) as sim:
        pools = {}
        open_seed, natted = sim.hosts["open"], sim.hosts["natted"]
        block_udp(natted, "in")
        pools["open"] = sim.cli_json(open_seed, "pool", "start", "open", "--template", "dask",
                                     "--endpoint", f"{open_seed.address}:51820")  # fmt: skip
        pools["natted"] = sim.cli_json(natted, "pool", "start", "natted", "--template", "dask",
                                       "--relay-only", "--endpoint",
                                       f"{natted.address}:51820")  # fmt: skip
        yield Relayed(sim, pools)
