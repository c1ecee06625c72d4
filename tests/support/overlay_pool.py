"""A simulated pool for overlay tests: a hub host with the hub up and worker hosts running
stand-in agents (tests/support/netsim.py), in namespaces, torn down fully."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator

import pytest

from kalavai_like.net import HubConfig, KeyPair, Overlay, Peer, SpokeConfig, generate_keypair
from tests.support import netsim as sim

HUB_ENDPOINT = "198.18.0.10:51820"
POOL4, POOL6 = "10.42.0.0/16", "fd42::/64"
PREFIXES = {"hub": "kt4c", "h1": "kt4a", "h2": "kt4b", "h3": "kt4d"}


def needs_netns() -> None:
    if os.geteuid() != 0 or shutil.which("wireguard-go") is None or shutil.which("nft") is None:
        pytest.skip("needs root, wireguard-go and nft")


@dataclasses.dataclass
class Member:
    host: sim.SimHost
    keys: KeyPair
    cfg: SpokeConfig

    @property
    def ns(self) -> str:
        return self.cfg.names.netns

    @property
    def peer(self) -> Peer:
        ip4 = self.cfg.address.split("/")[0]
        ip6 = self.cfg.address6.split("/")[0] if self.cfg.address6 else None
        return Peer(self.keys.public, f"{ip4}/32", f"{ip6}/128" if ip6 else None)

    @property
    def ip(self) -> str:
        return self.cfg.address.split("/")[0]


@dataclasses.dataclass
class Pool:
    net: sim.Network
    hub_host: sim.SimHost
    hub_keys: KeyPair
    hub_cfg: HubConfig
    hosts: dict[str, sim.SimHost]
    members: dict[str, Member] = dataclasses.field(default_factory=dict)

    @property
    def hub_ns(self) -> str:
        return self.hub_cfg.names.netns

    def member(self, host: str, name: str, index: int, policy: str = "pool") -> Member:
        keys = generate_keypair()
        cfg = SpokeConfig(
            prefix=PREFIXES[host], name=name, private_key=keys.private,
            address=f"10.42.0.{index}/16", address6=f"fd42::{index}/64",
            hub_public_key=self.hub_keys.public, hub_endpoint=HUB_ENDPOINT,
            pool_subnet=POOL4, pool_subnet6=POOL6, policy=policy,
        )  # fmt: skip
        m = Member(self.hosts[host], keys, cfg)
        self.members[name] = m
        return m

    def publish(self) -> None:
        """The hub's peer list = every member known to the test."""
        self.hub_host.set_peers(self.hub_cfg.prefix, self.hub_cfg.name,
                                [m.peer for m in self.members.values()])  # fmt: skip


def build_pool(tag: str, hosts: tuple[str, ...]) -> Iterator[Pool]:
    """Router, hub host with the hub up, and worker hosts with stand-in agents; torn down fully."""
    needs_netns()
    net = sim.Network(tag)
    started: list[sim.SimHost] = []
    try:
        net.start()
        hub_host = sim.SimHost(net.add_host("hh", 10), PREFIXES["hub"])
        started.append(hub_host)
        workers = {}
        for i, h in enumerate(hosts):
            workers[h] = sim.SimHost(net.add_host(h, 11 + i), PREFIXES[h])
            started.append(workers[h])
        hub_keys = generate_keypair()
        hub_cfg = HubConfig(
            prefix=PREFIXES["hub"], name="hub", private_key=hub_keys.private,
            address="10.42.0.1/16", address6="fd42::1/64", listen_port=51820,
            pool_subnet=POOL4, pool_subnet6=POOL6,
        )  # fmt: skip
        hub_host.up_hub(hub_cfg)
        yield Pool(net, hub_host, hub_keys, hub_cfg, workers)
    finally:
        for h in started:
            try:
                if h.proc is None:
                    h.start()
                h.cleanup(h.prefix)
            except Exception:
                pass
            h.close()
        # Last resort from here: stray processes and namespaces are machine-wide.
        for prefix in {h.prefix for h in started}:
            Overlay().cleanup(prefix)
        net.stop()
