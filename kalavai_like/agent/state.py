"""The agent's persisted desired state: the worker membership and the seed role, with
everything needed to restore them after a restart.

Fields named `credential` and `private_key` are secrets: the store persists them 0600, and they
never appear in a status snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kalavai_like.client.records import Record


@dataclass
class PoolDevice(Record):
    """What a worker membership and a seed role share: this node as one device of a pool, with
    its platform credential, WireGuard keys, names and overlay addresses."""

    device_id: str
    pool_id: str
    pool_name: str
    platform: str
    credential: str = field(repr=False)
    private_key: str = field(repr=False)
    public_key: str
    prefix: str
    name: str
    address: str
    address6: str | None
    subnet: str
    subnet6: str | None


@dataclass
class Membership(PoolDevice):
    """A worker membership as persisted: everything needed to restore it after a restart.

    `desired` is the user's own wish; a timed pause is not kept here but as the `paused_until`
    preference, held and lifted by the rules (kalavai_like.agent.policy). State files written
    before kept `paused_until` here; `from_dict` drops it and the node carries it over.
    """

    hub_public_key: str
    hub_endpoint: str
    template: str
    params: dict[str, Any] = field(repr=False)  # a pool's weak key, passwords
    head_address: str | None
    cpus: float
    memory_bytes: int
    gpus: int
    joined_at: float
    desired: Literal["running", "paused"] = "running"
    pause_reason: str = ""
    platform_desired: str = "running"  # last desired_state seen from the platform
    relay: str = ""  # the pool's relay (host:port) when UDP to the hub fails; "": none
    hub_relay_only: bool = False  # the hub takes no direct UDP: go through the relay at once
    disk_bytes: int = 0  # the worker's persistent data may use this much (0: no limit of ours)
    finishing: bool = False  # `pool stop --finish`: no new work; leave once the current is done

    @property
    def id(self) -> str:
        """The membership id: it labels the worker container and keys the ledger."""
        return self.device_id


@dataclass
class SeedRole(PoolDevice):
    """This node as a pool's hub and head, as persisted."""

    endpoint: str
    listen_port: int
    template: str
    params: dict[str, Any] = field(repr=False)  # a pool's weak key, passwords
    started_at: float
    relay: str = ""  # the pool's relay, where relayed workers reach the hub; "": none
    relay_only: bool = False  # the hub registered as reachable only through the relay


@dataclass
class Unfinished(Record):
    """A join or pool start under way, written down before each of its steps: what it may
    have set up, so that the next agent undoes it after a crash (kalavai_like.agent.journal).
    Empty fields are parts not (yet) set up, or already undone."""

    operation: Literal["join", "pool start"]
    started_at: float
    role: Literal["spoke", "hub"]
    prefix: str
    name: str  # the namespace and WireGuard interface
    network: bool = False  # bringing them up was started
    container: str = ""  # the worker or head container's name, once starting it
    platform: str = ""
    credential: str = field(default="", repr=False)  # the device's, once registered

    @property
    def left(self) -> bool:
        """Whether anything is left to undo."""
        return bool(self.network or self.container or self.credential)


@dataclass
class Persisted(Record):
    """Everything the agent persists: the desired state the reconcile loop restores."""

    membership: Membership | None = None
    seed: SeedRole | None = None
    unfinished: list[Unfinished] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "membership": self.membership.to_dict() if self.membership else None,
            "seed": self.seed.to_dict() if self.seed else None,
            "unfinished": [u.to_dict() for u in self.unfinished],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Persisted:
        m, s = data.get("membership"), data.get("seed")
        return cls(
            Membership.from_dict(m) if m else None,
            SeedRole.from_dict(s) if s else None,
            [Unfinished.from_dict(u) for u in data.get("unfinished") or []],
        )


def legacy_paused_until(data: dict[str, Any] | None) -> float | None:
    """The end of a timed pause in a state file written when the membership kept it (before it
    became the `paused_until` preference), or None."""
    m = (data or {}).get("membership") or {}
    until = m.get("paused_until")
    return float(until) if until and m.get("desired") == "paused" else None
