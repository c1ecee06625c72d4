"""One set of assertions, run against `FakeOverlay` and against the real `Overlay`.

The real one runs on simulated hosts (namespaces, wireguard-go, nftables), driven through the
stand-in agent; the fake runs in memory. Agreement here keeps the agent's unit tests honest.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kalavai_like.errors import Conflict, InvalidInput, SystemProblem
from kalavai_like.net import (
    HubConfig,
    Peer,
    SpokeConfig,
    generate_keypair,
)
from kalavai_like.net.fake import FakeNetwork, FakeOverlay
from tests.support import overlay_pool
from tests.support.waiting import wait_for

PREFIX = "kt4a"


@dataclasses.dataclass
class Harness:
    hub: Any  # OverlayAPI on the hub's host
    worker: Any  # OverlayAPI on a worker host
    hub_cfg: HubConfig
    crash: Callable[[Any, str, str], None]
    known: list[Peer] = dataclasses.field(default_factory=list)

    def spoke(self, name: str, index: int, *, known: bool = True, **changes: Any) -> SpokeConfig:
        keys = generate_keypair()
        cfg = SpokeConfig(
            prefix=PREFIX, name=name, private_key=keys.private, address=f"10.42.0.{index}/16",
            address6=f"fd42::{index}/64",
            hub_public_key=_pub(self.hub_cfg), hub_endpoint=overlay_pool.HUB_ENDPOINT,
            pool_subnet=overlay_pool.POOL4, pool_subnet6=overlay_pool.POOL6,
        )  # fmt: skip
        cfg = dataclasses.replace(cfg, **changes)
        if known:
            self.known.append(Peer(keys.public, f"10.42.0.{index}/32", f"fd42::{index}/128"))
            self.hub.set_peers(self.hub_cfg.prefix, self.hub_cfg.name, self.known)
        return cfg


def _pub(cfg: HubConfig) -> str:
    from kalavai_like.net import public_key

    return public_key(cfg.private_key)


def _fake_harness() -> Iterator[Harness]:
    network = FakeNetwork(assume_reachable=False)
    hub = FakeOverlay(local_routes=["198.18.0.0/24"], network=network)
    worker = FakeOverlay(local_routes=["198.18.0.0/24"], network=network)
    keys = generate_keypair()
    hub_cfg = HubConfig("kt4c", "hub", keys.private, "10.42.0.1/16", "fd42::1/64", 51820,
                        overlay_pool.POOL4, overlay_pool.POOL6)  # fmt: skip
    hub.up_hub(hub_cfg)

    def crash(overlay: Any, prefix: str, name: str) -> None:
        overlay.crash(prefix, name)

    yield Harness(hub, worker, hub_cfg, crash)


def _real_harness() -> Iterator[Harness]:
    for pool in overlay_pool.build_pool("k", ("h1",)):

        def crash(overlay: Any, prefix: str, name: str) -> None:
            st = overlay.spoke_status(prefix, name) or overlay.hub_status(prefix, name)
            os.kill(st.pid, signal.SIGKILL)
            wait_for(lambda: not overlay.spoke_status(prefix, name).process_alive, timeout=10)

        yield Harness(pool.hub_host, pool.hosts["h1"], pool.hub_cfg, crash)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("fake"),
        pytest.param("real", marks=[pytest.mark.netns, pytest.mark.slow]),
    ],
)
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    yield from (_fake_harness() if request.param == "fake" else _real_harness())


def test_spoke_lifecycle(h: Harness) -> None:
    cfg = h.spoke("c1", 21)
    st = h.worker.up_spoke(cfg)
    assert (st.address, st.address6) == ("10.42.0.21/16", "fd42::21/64")
    assert (st.netns, st.netns_path, st.interface) == ("kt4a-c1", "/run/netns/kt4a-c1", "kt4a-c1w")
    assert st.process_alive and st.pid is not None and st.latest_handshake_age is not None
    assert st.backend == h.worker.probe_backend().kind
    again = h.worker.spoke_status(PREFIX, "c1")
    assert again is not None and again.address == st.address and again.pid == st.pid
    with pytest.raises(Conflict):
        h.worker.up_spoke(cfg)
    h.worker.down_spoke(PREFIX, "c1")
    h.worker.down_spoke(PREFIX, "c1")
    assert h.worker.spoke_status(PREFIX, "c1") is None


def test_hub_applies_peer_lists(h: Harness) -> None:
    a, b, c = (generate_keypair().public for _ in range(3))
    hub = h.hub_cfg
    st = h.hub.hub_status(hub.prefix, hub.name)
    assert st.address == "10.42.0.1/16" and st.listen_port == 51820 and st.process_alive
    assert st.netns_path == "/run/netns/kt4c-hub"
    h.hub.set_peers(hub.prefix, hub.name, [Peer(a, "10.42.1.1/32"), Peer(b, "10.42.1.2/32")])
    peers = {p.public_key: p.allowed_ips for p in h.hub.hub_status(hub.prefix, hub.name).peers}
    assert peers == {a: ("10.42.1.1/32",), b: ("10.42.1.2/32",)}
    h.hub.set_peers(hub.prefix, hub.name,
                    [Peer(b, "10.42.1.9/32", "fd42::9/128"), Peer(c, "10.42.1.3/32")])  # fmt: skip
    peers = {p.public_key: p.allowed_ips for p in h.hub.hub_status(hub.prefix, hub.name).peers}
    assert peers == {b: ("10.42.1.9/32", "fd42::9/128"), c: ("10.42.1.3/32",)}
    with pytest.raises(InvalidInput, match="twice"):
        h.hub.set_peers(hub.prefix, hub.name, [Peer(c, "10.42.1.3/32"), Peer(c, "10.42.1.4/32")])
    h.hub.set_peers(hub.prefix, hub.name, h.known)


def test_overlapping_pool_subnet_is_refused(h: Harness) -> None:
    with pytest.raises(Conflict, match=r"198\.18\.0\.0/24"):
        h.worker.check_subnet_free("198.18.0.0/16")
    h.worker.check_subnet_free("10.42.0.0/16")
    cfg = h.spoke("c3", 23, known=False, pool_subnet="198.18.0.0/16", address="198.18.7.7/16",
                  address6=None, pool_subnet6=None)  # fmt: skip
    with pytest.raises(Conflict, match=r"overlaps the local route 198\.18\.0\.0/24"):
        h.worker.up_spoke(cfg)
    assert h.worker.spoke_status(PREFIX, "c3") is None


def test_unknown_device_gets_no_handshake_and_nothing_stays(h: Harness) -> None:
    cfg = h.spoke("c4", 24, known=False)
    with pytest.raises(SystemProblem, match="waiting for the first handshake"):
        h.worker.up_spoke(cfg, handshake_timeout=1.0)
    assert h.worker.spoke_status(PREFIX, "c4") is None


def test_ensure_restarts_a_dead_spoke_with_the_same_address(h: Harness) -> None:
    cfg = h.spoke("c5", 25)
    first = h.worker.up_spoke(cfg)
    h.crash(h.worker, PREFIX, "c5")
    dead = h.worker.spoke_status(PREFIX, "c5")
    assert dead is not None and not dead.process_alive
    st = h.worker.ensure_spoke(cfg)
    assert st.process_alive and st.pid != first.pid and st.address == "10.42.0.25/16"
    assert h.worker.ensure_spoke(cfg).pid == st.pid  # healthy: nothing restarted
    h.worker.down_spoke(PREFIX, "c5")


def test_cleanup_removes_what_carries_the_prefix(h: Harness) -> None:
    cfg = h.spoke("c6", 26)
    h.worker.up_spoke(cfg)
    left = h.worker.cleanup(PREFIX)
    assert "kt4a-c6" in left.namespaces
    assert h.worker.spoke_status(PREFIX, "c6") is None
    assert h.worker.cleanup(PREFIX).namespaces == []
