"""`Overlay`: the one entry point the agent uses for hubs and spokes on this host.

The host is the network namespace this process runs in: WireGuard's UDP sockets live there,
and so do the host ends of `internet` memberships' underlays with their NAT. The backend is
probed once per `Overlay`. Calls are serialised by a lock (the agent's reconcile loop and its
API may call concurrently).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from kalavai_like.net import hub, paths, spoke
from kalavai_like.net.cleanup import Leftovers
from kalavai_like.net.cleanup import cleanup as _cleanup
from kalavai_like.net.config import (
    BackendInfo,
    HubConfig,
    HubStatus,
    Names,
    Peer,
    SpokeConfig,
    SpokeStatus,
)
from kalavai_like.net.namespace import DEFAULT_UNDERLAY_RANGE
from kalavai_like.net.runner import CommandRunner, SystemRunner
from kalavai_like.net.wireguard import Device, probe_backend, select_backend


class OverlayAPI(Protocol):
    """What the agent needs from the overlay; `Overlay` and `FakeOverlay` both provide it."""

    def up_spoke(self, cfg: SpokeConfig, handshake_timeout: float = 10.0) -> SpokeStatus: ...
    def down_spoke(self, prefix: str, name: str) -> None: ...
    def spoke_status(self, prefix: str, name: str) -> SpokeStatus | None: ...
    def ensure_spoke(self, cfg: SpokeConfig, handshake_timeout: float = 10.0) -> SpokeStatus: ...
    def probe_direct(self, cfg: SpokeConfig) -> bool: ...
    def up_hub(self, cfg: HubConfig) -> HubStatus: ...
    def set_peers(self, prefix: str, name: str, peers: Sequence[Peer]) -> None: ...
    def down_hub(self, prefix: str, name: str) -> None: ...
    def hub_status(self, prefix: str, name: str) -> HubStatus | None: ...
    def ensure_hub(self, cfg: HubConfig, peers: Sequence[Peer] | None = None) -> HubStatus: ...
    def cleanup(self, prefix: str) -> Leftovers: ...
    def check_subnet_free(self, subnet: str) -> None: ...
    def probe_backend(self) -> BackendInfo: ...


class Overlay:
    """Real hubs and spokes: namespaces, veths, nftables and WireGuard on this machine."""

    def __init__(
        self, runner: CommandRunner | None = None, underlay_range: str = DEFAULT_UNDERLAY_RANGE
    ) -> None:
        self.runner = runner or SystemRunner()
        self.underlay_range = underlay_range
        self._lock = threading.RLock()

    def probe_backend(self) -> BackendInfo:
        """The backend `auto` resolves to here (cached)."""
        return probe_backend(self.runner)

    def _backend(self, requested: str) -> BackendInfo:
        return select_backend(requested, self.runner)

    def check_subnet_free(self, subnet: str) -> None:
        """Raises Conflict when `subnet` overlaps a route of this host namespace."""
        spoke.check_subnet_free(subnet)

    def up_spoke(self, cfg: SpokeConfig, handshake_timeout: float = 10.0) -> SpokeStatus:
        """Build the membership namespace and wait for the first handshake.

        Raises:
            Conflict: the subnet overlaps a local route, or the spoke already exists.
            SystemProblem: a step failed (named in the title); everything was rolled back.
        """
        with self._lock:
            backend = self._backend(cfg.backend)
            spoke.up(self.runner, cfg, backend, self.underlay_range, handshake_timeout)
            return self._spoke_status(cfg.names, cfg.hub_public_key)

    def down_spoke(self, prefix: str, name: str) -> None:
        """Remove the membership's namespace, interfaces, process and rules. Idempotent."""
        with self._lock:
            spoke.down(self.runner, Names.checked(prefix, name))

    def spoke_status(self, prefix: str, name: str) -> SpokeStatus | None:
        """The spoke as it is now; None when it does not exist."""
        with self._lock:
            self.runner.reap()
            return spoke.status(self.runner, Names.checked(prefix, name), self.probe_backend())

    def _spoke_status(self, names: Names, hub_key: str | None) -> SpokeStatus:
        self.runner.reap()
        st = spoke.status(self.runner, names, self.probe_backend(), hub_key)
        assert st is not None
        return st

    def ensure_spoke(self, cfg: SpokeConfig, handshake_timeout: float = 10.0) -> SpokeStatus:
        """Bring the spoke to `cfg`: restart a dead wireguard-go, rebuild a lost namespace."""
        with self._lock:
            self.runner.reap()
            backend = self._backend(cfg.backend)
            spoke.ensure(self.runner, cfg, backend, self.underlay_range, handshake_timeout)
            return self._spoke_status(cfg.names, cfg.hub_public_key)

    def probe_direct(self, cfg: SpokeConfig) -> bool:
        """A relayed spoke tries UDP to its hub again and stays there when the hub answers
        (True); see kalavai_like.net.paths.probe_direct."""
        with self._lock:
            kind, _ = spoke.backend_of(cfg.names, self.probe_backend())
            dev = Device(cfg.names.wg, cfg.names.netns, kind)
            direct = spoke.resolve_hub(cfg.hub_endpoint)
            return paths.probe_direct(self.runner, cfg, dev, direct)

    def up_hub(self, cfg: HubConfig) -> HubStatus:
        """Build the hub namespace with WireGuard listening on `listen_port`, no peers yet."""
        with self._lock:
            hub.up(self.runner, cfg, self._backend(cfg.backend))
            return self._hub_status(cfg.names)

    def set_peers(self, prefix: str, name: str, peers: Sequence[Peer]) -> None:
        """Apply the peer list as a diff; unchanged peers keep their sessions."""
        with self._lock:
            hub.set_peers(self.runner, Names.checked(prefix, name), self.probe_backend(), peers)

    def down_hub(self, prefix: str, name: str) -> None:
        with self._lock:
            hub.down(self.runner, Names.checked(prefix, name))

    def hub_status(self, prefix: str, name: str) -> HubStatus | None:
        with self._lock:
            self.runner.reap()
            return hub.status(self.runner, Names.checked(prefix, name), self.probe_backend())

    def _hub_status(self, names: Names) -> HubStatus:
        st = hub.status(self.runner, names, self.probe_backend())
        assert st is not None
        return st

    def ensure_hub(self, cfg: HubConfig, peers: Sequence[Peer] | None = None) -> HubStatus:
        """Repair the hub (and re-apply `peers` when given; a restarted hub has none)."""
        with self._lock:
            self.runner.reap()
            hub.ensure(self.runner, cfg, self._backend(cfg.backend), peers)
            return self._hub_status(cfg.names)

    def cleanup(self, prefix: str) -> Leftovers:
        """Remove leftovers of crashed runs carrying `prefix`."""
        with self._lock:
            return _cleanup(self.runner, prefix)
