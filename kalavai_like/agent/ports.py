"""The ports the `Node` is composed from: what it needs of the platform, the container
runtime, the pool templates and its store. The composition root (kalavai_like.agent.composition)
plugs in the real ones; tests plug in fakes. The overlay port is `kalavai_like.net.OverlayAPI`;
`Ports` bundles the four the node's parts share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kalavai_like.container.runtime import WorkerRuntime
from kalavai_like.container.spec import ContainerSpec, Limits
from kalavai_like.net import OverlayAPI


class PlatformPort(Protocol):
    """The platform calls a node makes (docs/API.md). Errors are kalavai_like.errors types."""

    def redeem(
        self,
        platform: str,
        api_token: str,
        *,
        token: str,
        public_key: str,
        name: str,
        cores: float,
        memory_bytes: int,
        gpus: int,
    ) -> dict[str, Any]:
        """POST /api/v1/devices -> Redeemed."""
        ...

    def register_hub(
        self, platform: str, api_token: str, pool_id: str, *, public_key: str, endpoint: str,
        relay_only: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """POST /api/v1/pools/{id}/hub -> {device_id, credential, address, address6, pool}."""
        ...

    def relay(self, platform: str, credential: str) -> dict[str, Any]:
        """GET /api/v1/device/relay -> {address, hub_relay_only}; NotFound: no relay."""
        ...

    def heartbeat(self, platform: str, credential: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/device/heartbeat."""
        ...

    def resumed(self, platform: str, credential: str) -> dict[str, Any]:
        """POST /api/v1/device/resumed: withdraw a pause requested from the web."""
        ...

    def peers(self, platform: str, credential: str, since: int, wait: float) -> dict[str, Any]:
        """GET /api/v1/device/peers (long-poll)."""
        ...

    def leave(self, platform: str, credential: str) -> None:
        """DELETE /api/v1/device."""
        ...

    def witness(self, platform: str, credential: str, report: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/device/witness (the hub's credential) -> {epoch, seq, duplicate,
        refused}."""
        ...


# What the node needs of the container runtime: `ContainerRuntime` and `FakeRuntime` both fit
# (the crash supervisor drives the same protocol).
RuntimePort = WorkerRuntime


class TemplatePort(Protocol):
    """Pool templates: the worker's and the head's container specs."""

    def worker(
        self,
        template: str,
        params: dict[str, Any],
        *,
        name: str,
        membership_id: str,
        limits: Limits,
        head_address: str | None,
        netns_path: str,
        secrets_dir: str | None = None,
    ) -> ContainerSpec: ...

    def head(
        self,
        template: str,
        params: dict[str, Any],
        *,
        name: str,
        membership_id: str,
        netns_path: str,
        head_address: str | None = None,
        witness_dir: str | None = None,
        secrets_dir: str | None = None,
    ) -> ContainerSpec | None: ...

    def data_dir(self, membership_id: str) -> Path | None:
        """Where the membership's persistent worker data lives on the host (None: nowhere)."""
        ...

    def remove_data(self, membership_id: str) -> None:
        """Remove the membership's persistent worker data."""
        ...


class StorePort(Protocol):
    """Persists the node's desired state (a JSON-able dict), atomically, readable only by root."""

    def load(self) -> dict[str, Any] | None: ...
    def save(self, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Ports:
    """The system pieces a node drives, as one bundle its parts share."""

    overlay: OverlayAPI
    runtime: RuntimePort
    templates: TemplatePort
    platform: PlatformPort
