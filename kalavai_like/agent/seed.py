"""Seed role at run time: the pool's hub follows the platform's peer list (long-poll) and the
pool's head container runs in the hub's namespace on overlay .1.

`PeerFollower` is a daemon thread: it asks the platform for peer-list changes since the last
version it applied, and applies each new list to the hub as a diff. Errors back off and show as
a condition; they never stop the thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kalavai_like.agent.ports import PlatformPort
from kalavai_like.agent.records import SeedRole, bare, with_prefixlen
from kalavai_like.errors import KalavaiError
from kalavai_like.ledger import Condition
from kalavai_like.net import HubConfig, OverlayAPI, Peer

log = logging.getLogger(__name__)


def hub_config(s: SeedRole, backend: str = "auto") -> HubConfig:
    """The hub's overlay configuration from the persisted seed record."""
    return HubConfig(
        prefix=s.prefix,
        name=s.name,
        private_key=s.private_key,
        address=with_prefixlen(s.address, s.subnet),
        address6=with_prefixlen(s.address6, s.subnet6) if s.address6 and s.subnet6 else None,
        listen_port=s.listen_port,
        pool_subnet=s.subnet,
        pool_subnet6=s.subnet6 if s.address6 else None,
        backend=backend,
    )


def peers_from(payload: dict[str, Any]) -> list[Peer]:
    """Overlay peers from the platform's peer list."""
    out = []
    for p in payload.get("peers", []):
        a6 = bare(p.get("address6"))
        out.append(Peer(p["public_key"], f"{bare(p['address'])}/32", f"{a6}/128" if a6 else None))
    return out


class PeerFollower(threading.Thread):
    """Keeps the hub's peers equal to the platform's list for the pool."""

    def __init__(
        self, seed: SeedRole, platform: PlatformPort, overlay: OverlayAPI, wait: float = 25.0
    ) -> None:
        super().__init__(name="peer-follower", daemon=True)
        self.seed = seed
        self._platform = platform
        self._overlay = overlay
        self._wait = wait
        self._stop = threading.Event()
        self.version = -1
        self.peers: list[Peer] = []
        self.condition: Condition | None = None
        self.applied = threading.Event()  # set after the first list is applied

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                first = self.version < 0
                payload = self._platform.peers(
                    self.seed.platform,
                    self.seed.credential,
                    max(self.version, 0),
                    0 if first else self._wait,
                )
                if self._stop.is_set():
                    return
                version = int(payload.get("version", 0))
                if version != self.version:
                    peers = peers_from(payload)
                    self._overlay.set_peers(self.seed.prefix, self.seed.name, peers)
                    self.peers, self.version = peers, version
                    log.info("hub peers now %d (version %d)", len(peers), version)
                self.applied.set()
                self.condition = None
                backoff = 0.5
            except KalavaiError as exc:
                self.condition = Condition(
                    "peers_stale",
                    "Hub peer list not updating",
                    f"{exc.title}: {exc.message} New workers cannot connect until this clears.",
                )
                log.warning("peer list: %s", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # keep following: one bad answer must not stop the hub
                log.exception("peer follower")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
