"""The private overlay network: WireGuard hub and spokes, one namespace per membership.
May import errors, rollback and home (0600 files) only: it knows nothing of tokens, the platform
or the agent. A membership whose UDP cannot reach its hub goes through the relay (net/paths.py).

Import what the agent needs from here; `Overlay` is the real thing, `FakeOverlay`
(kalavai_like.net.fake) the in-memory stand-in with the same methods.
"""

from __future__ import annotations

from kalavai_like.net.cleanup import Leftovers
from kalavai_like.net.config import (
    BackendInfo,
    HubConfig,
    HubStatus,
    KeyPair,
    Peer,
    PeerStatus,
    RelayRoute,
    SpokeConfig,
    SpokeStatus,
    backend_label,
)
from kalavai_like.net.keys import generate_keypair, public_key
from kalavai_like.net.overlay import Overlay, OverlayAPI
from kalavai_like.net.spoke import check_subnet_free
from kalavai_like.net.wireguard import probe_backend

__all__ = [
    "BackendInfo",
    "HubConfig",
    "HubStatus",
    "KeyPair",
    "Leftovers",
    "Overlay",
    "OverlayAPI",
    "Peer",
    "PeerStatus",
    "RelayRoute",
    "SpokeConfig",
    "SpokeStatus",
    "backend_label",
    "check_subnet_free",
    "generate_keypair",
    "probe_backend",
    "public_key",
]
