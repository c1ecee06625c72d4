"""`FakeOverlay`: an in-memory overlay with the same methods as `Overlay`, for fast unit tests.

It keeps the real one's observable rules (kept honest by tests/net/test_contract.py): inputs
are validated by the same config classes; a pool subnet overlapping `local_routes` is refused;
bringing up something that exists is a Conflict; `down_*` is idempotent; a spoke completes its
handshake only when the hub on its endpoint's port lists its public key (or, with no such hub
in the shared `FakeNetwork`, when `assume_reachable`); a failed up leaves nothing behind.
`crash()` plays a wireguard-go that died, which `ensure_spoke`/`ensure_hub` repair.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from kalavai_like.errors import Conflict, SystemProblem
from kalavai_like.net import validate
from kalavai_like.net.cleanup import Leftovers
from kalavai_like.net.config import (
    BackendInfo,
    HubConfig,
    HubStatus,
    Names,
    Peer,
    PeerStatus,
    SpokeConfig,
    SpokeStatus,
)
from kalavai_like.net.keys import public_key

_pids = itertools.count(40000)


@dataclass
class FakeNetwork:
    """What several `FakeOverlay`s (simulated hosts) share: the hubs they can reach."""

    assume_reachable: bool = True
    hubs: dict[int, tuple[str, dict[str, Peer]]] = field(default_factory=dict)


@dataclass
class _Spoke:
    cfg: SpokeConfig
    pid: int
    alive: bool = True
    path: str = "direct"


@dataclass
class _Hub:
    cfg: HubConfig
    pid: int
    peers: dict[str, Peer] = field(default_factory=dict)
    alive: bool = True


class FakeOverlay:
    """In-memory hubs and spokes for one simulated host."""

    def __init__(
        self,
        local_routes: Sequence[str] = (),
        network: FakeNetwork | None = None,
        backend: BackendInfo | None = None,
    ) -> None:
        self.local_routes = [ipaddress.ip_network(r) for r in local_routes]
        self.network = network or FakeNetwork()
        self.backend = backend or BackendInfo("userspace", "fake")
        self.spokes: dict[Names, _Spoke] = {}
        self.hubs: dict[Names, _Hub] = {}
        self.calls: list[str] = []
        self.udp_blocked = False  # this host's UDP to hubs is dropped: only the relay works

    def probe_backend(self) -> BackendInfo:
        return self.backend

    def check_subnet_free(self, subnet: str) -> None:
        validate.subnet_free(subnet, lambda: self.local_routes)

    def _claim(self, cfg: SpokeConfig | HubConfig) -> None:
        """Refuse what the real `up_*` refuses before building anything."""
        self.check_subnet_free(cfg.pool_subnet)
        if cfg.pool_subnet6:
            self.check_subnet_free(cfg.pool_subnet6)
        if cfg.names in self.spokes or cfg.names in self.hubs:
            raise Conflict("Already up", f"namespace {cfg.names.netns} exists: bring it down first")

    def _handshake(self, cfg: SpokeConfig) -> bool:
        port = int(cfg.hub_endpoint.rpartition(":")[2])
        hub = self.network.hubs.get(port)
        if hub is None:
            return self.network.assume_reachable
        hub_key, peers = hub
        return hub_key == cfg.hub_public_key and public_key(cfg.private_key) in peers

    def _path(self, cfg: SpokeConfig) -> str | None:
        """The path a handshake takes (None: none), as `kalavai_like.net.paths.connect`."""
        if not self._handshake(cfg):
            return None
        if cfg.relay is not None and (cfg.relay.relay_only or self.udp_blocked):
            return "relay"
        return None if self.udp_blocked else "direct"

    def probe_direct(self, cfg: SpokeConfig) -> bool:
        s = self.spokes.get(cfg.names)
        if s is None or s.path != "relay" or self.udp_blocked or cfg.relay is None:
            return False
        if cfg.relay.relay_only:
            return False
        s.path = "direct"
        return True

    def up_spoke(self, cfg: SpokeConfig, handshake_timeout: float = 10.0) -> SpokeStatus:
        self.calls.append(f"up_spoke {cfg.name}")
        self._claim(cfg)
        path = self._path(cfg)
        if path is None:
            raise SystemProblem(
                f"Bringing up {cfg.names.stem} failed while waiting for the first handshake",
                f"No handshake with the hub: no reply from the hub at {cfg.hub_endpoint} within "
                f"{handshake_timeout:g} s",
            )
        self.spokes[cfg.names] = _Spoke(cfg, next(_pids), path=path)
        return self._spoke_status(cfg.names)

    def down_spoke(self, prefix: str, name: str) -> None:
        self.calls.append(f"down_spoke {name}")
        self.spokes.pop(Names.checked(prefix, name), None)

    def spoke_status(self, prefix: str, name: str) -> SpokeStatus | None:
        names = Names.checked(prefix, name)
        return self._spoke_status(names) if names in self.spokes else None

    def _spoke_status(self, names: Names) -> SpokeStatus:
        s = self.spokes[names]
        return SpokeStatus(
            prefix=names.prefix, name=names.name, netns=names.netns, netns_path=names.netns_path,
            interface=names.wg, address=s.cfg.address if s.alive else None,
            address6=s.cfg.address6 if s.alive else None,
            latest_handshake_age=0.0 if s.alive else None, rx_bytes=0, tx_bytes=0,
            backend=self.backend.kind, backend_version=self.backend.version,
            process_alive=s.alive, pid=s.pid if s.alive else None, path=s.path,
            relay=s.cfg.relay.relay if s.cfg.relay and s.path == "relay" else None,
            relay_state="connected" if s.path == "relay" else None,
        )  # fmt: skip

    def crash(self, prefix: str, name: str) -> None:
        """Play a wireguard-go (spoke or hub) that died."""
        names = Names.checked(prefix, name)
        target = self.spokes.get(names) or self.hubs.get(names)
        if target is None:
            raise KeyError(names)
        target.alive = False
        if names in self.hubs:
            self.hubs[names].peers.clear()
            self._publish(self.hubs[names])

    def ensure_spoke(self, cfg: SpokeConfig, handshake_timeout: float = 10.0) -> SpokeStatus:
        self.calls.append(f"ensure_spoke {cfg.name}")
        current = self.spokes.get(cfg.names)
        if current is None:
            return self.up_spoke(cfg, handshake_timeout)
        if not current.alive:
            if not self._handshake(cfg):
                raise SystemProblem(
                    f"Repairing {cfg.names.stem} failed while waiting for the first handshake",
                    f"No handshake with the hub at {cfg.hub_endpoint}",
                )
            current.alive, current.pid = True, next(_pids)
        current.cfg = cfg
        return self._spoke_status(cfg.names)

    def up_hub(self, cfg: HubConfig) -> HubStatus:
        self.calls.append(f"up_hub {cfg.name}")
        self._claim(cfg)
        hub = _Hub(cfg, next(_pids))
        self.hubs[cfg.names] = hub
        self._publish(hub)
        return self._hub_status(cfg.names)

    def _publish(self, hub: _Hub) -> None:
        self.network.hubs[hub.cfg.listen_port] = (public_key(hub.cfg.private_key), hub.peers)

    def set_peers(self, prefix: str, name: str, peers: Sequence[Peer]) -> None:
        self.calls.append(f"set_peers {name}")
        names = Names.checked(prefix, name)
        hub = self.hubs.get(names)
        if hub is None or not hub.alive:
            raise SystemProblem("WireGuard show allowed-ips failed", f"{names.wg} is not running")
        validate.peers(peers)
        hub.peers.clear()
        hub.peers.update({p.public_key: p for p in peers})

    def down_hub(self, prefix: str, name: str) -> None:
        self.calls.append(f"down_hub {name}")
        hub = self.hubs.pop(Names.checked(prefix, name), None)
        if hub is not None:
            self.network.hubs.pop(hub.cfg.listen_port, None)

    def hub_status(self, prefix: str, name: str) -> HubStatus | None:
        names = Names.checked(prefix, name)
        return self._hub_status(names) if names in self.hubs else None

    def _hub_status(self, names: Names) -> HubStatus:
        h = self.hubs[names]
        peers = tuple(PeerStatus(k, p.allowed_ips, None, 0, 0) for k, p in sorted(h.peers.items()))
        return HubStatus(
            prefix=names.prefix, name=names.name, netns=names.netns, netns_path=names.netns_path,
            interface=names.wg, address=h.cfg.address if h.alive else None,
            address6=h.cfg.address6 if h.alive else None,
            listen_port=h.cfg.listen_port if h.alive else None, peers=peers,
            backend=self.backend.kind, backend_version=self.backend.version,
            process_alive=h.alive, pid=h.pid if h.alive else None,
        )  # fmt: skip

    def ensure_hub(self, cfg: HubConfig, peers: Sequence[Peer] | None = None) -> HubStatus:
        self.calls.append(f"ensure_hub {cfg.name}")
        hub = self.hubs.get(cfg.names)
        if hub is None:
            self.up_hub(cfg)
        elif not hub.alive:
            hub.alive, hub.pid = True, next(_pids)
        if peers is not None:
            self.set_peers(cfg.prefix, cfg.name, peers)
        return self._hub_status(cfg.names)

    def cleanup(self, prefix: str) -> Leftovers:
        self.calls.append(f"cleanup {prefix}")
        validate.prefix(prefix)
        found = Leftovers()
        for names in [n for n in self.spokes if n.prefix == prefix]:
            found.namespaces.append(names.netns)
            del self.spokes[names]
        for names in [n for n in self.hubs if n.prefix == prefix]:
            found.namespaces.append(names.netns)
            self.down_hub(names.prefix, names.name)
        return found
