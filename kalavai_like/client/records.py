"""The LocalAPI's wire records: requests to the agent and what it reports (status snapshots,
join steps, results). Plain dataclasses with `to_dict`/`from_dict`, so the agent, the CLI and
the tray exchange exactly these; no secret field ever crosses the LocalAPI in a report.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self, TypeVar

from kalavai_like.container.spec import Limits
from kalavai_like.errors import Condition
from kalavai_like.usage.ledger import Counters

__all__ = [
    "ActionResult", "Condition", "Counters", "Granted", "JoinRequest", "JoinResult",
    "LimitsNow", "LiveUse", "NodeState", "NodeStatus", "Record", "RuleReason", "SeedResult",
    "SeedStatus", "StartPoolRequest", "Step", "UsagePoint", "Witnessed", "WorkerStatus", "bare",
    "record_fields", "record_from", "with_prefixlen",
]  # fmt: skip
T = TypeVar("T")

NodeState = Literal["idle", "joining", "running", "paused", "leaving", "error"]


def with_prefixlen(address: str, subnet: str) -> str:
    """`10.1.0.5` + `10.1.0.0/16` -> `10.1.0.5/16` (addresses from the platform carry none)."""
    if "/" in address:
        return address
    return f"{address}/{ipaddress.ip_network(subnet, strict=False).prefixlen}"


def bare(address: str | None) -> str | None:
    """The address without its prefix length."""
    return address.split("/")[0] if address else address


def record_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The items of `data` that are fields of the dataclass `cls` (the others are ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def record_from(cls: type[T], data: dict[str, Any]) -> T:
    """A dataclass `cls` from a JSON object, ignoring keys it does not know."""
    return cls(**record_fields(cls, data))


class Record:
    """`to_dict` / `from_dict` for the flat dataclasses the LocalAPI and the state file carry.

    `from_dict` ignores keys it does not know, so an older agent reads a newer client's JSON.
    """

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return record_from(cls, data)


# ---- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinRequest(Record):
    """`pool join`: the token and the user's API token (used for the one redeem call only)."""

    token: str = field(repr=False)
    api_token: str = field(repr=False)
    cpus: float
    memory_bytes: int
    gpus: int = 0
    device_name: str = ""
    disk_bytes: int = 0  # for the worker's persistent data; 0: no limit of ours

    def __post_init__(self) -> None:
        # Checked wherever one is made: by a frontend from its options, and again by the
        # agent from the LocalAPI's JSON (which may carry NaN, a string, anything).
        Limits(self.cpus, self.memory_bytes, self.gpus, self.disk_bytes).check()


@dataclass(frozen=True)
class StartPoolRequest(Record):
    """`pool start`: the pool (already created by its owner) and where the hub listens."""

    platform: str
    pool_id: str
    api_token: str = field(repr=False)
    endpoint: str
    relay_only: bool = False  # the hub takes no direct UDP (behind NAT): only the relay


# ---- reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step(Record):
    """One step of a long operation, as the CLI prints it with its timestamp."""

    at: float
    text: str


@dataclass(frozen=True)
class RuleReason(Record):
    """Why the worker is (or is not) computing, from the rules: a stable code, the words, and
    when it ends (ISO time) for a timed one."""

    code: str
    text: str
    until: str | None = None


@dataclass(frozen=True)
class Granted(Record):
    """One part of the device's usage as the platform's last heartbeat answer put it: what it
    granted so far (witnessed), or what is pending or unverified (kalavai_like.client.credit)."""

    cpu_core_hours: float = 0.0
    ram_gb_hours: float = 0.0
    gpu_hours: float = 0.0
    credit: float = 0.0
    recent_average: float = 0.0


@dataclass(frozen=True)
class LimitsNow(Record):
    """The limits the worker runs with now: the rules' profile ("idle", "in_use"), never above
    what the join lent."""

    cpus: float
    memory_bytes: int
    gpus: int
    profile: str = ""


@dataclass(frozen=True)
class LiveUse(Record):
    """What the worker uses now: cores, bytes of memory, share of the GPUs."""

    cpu_cores: float = 0.0
    memory_bytes: int = 0
    gpu_fraction: float = 0.0


@dataclass(frozen=True)
class Witnessed(Record):
    """What the pool's head witnessed of the device (the platform's last heartbeat answer):
    tasks, compute and connected seconds, and witnessed / measured CPU (None: none measured);
    its reliability record: results of redundant work judged valid, invalid or in error, and
    the CPU seconds of the invalid ones (never granted)."""

    tasks: int = 0
    compute_seconds: float = 0.0
    connected_seconds: float = 0.0
    ratio: float | None = None
    valid: int = 0
    invalid: int = 0
    errors: int = 0
    invalid_compute_seconds: float = 0.0


_OPTIONAL: dict[str, type[Record]] = {  # {} on the wire: None
    "granted": Granted, "platform_pending": Granted, "unverified": Granted,
    "witnessed": Witnessed, "limits": LimitsNow, "live": LiveUse,
}  # fmt: skip


@dataclass(frozen=True)
class WorkerStatus(Record):
    """The worker membership as the user sees it. `totals` and `pending` (measured, and not
    yet acknowledged by the platform) are CPU core-, RAM GiB- and GPU-seconds. `granted`,
    `platform_pending` (measured, not yet witnessed), `unverified` and `witnessed` are the
    platform's, as its last heartbeat answer said."""

    pool_id: str
    pool_name: str
    platform: str
    device_id: str
    address: str
    overlay: str  # interface name
    netns: str
    container: str  # container name
    container_state: str
    handshake_age: float | None
    joined_at: float
    running_since: float | None
    paused_until: float | None
    pause_reason: str
    cpus: float
    memory_bytes: int
    gpus: int
    totals: Counters
    pending: Counters
    last_heartbeat_at: float | None
    acked_seq: int
    live_cpu_cores: float
    # From the rules (agent/policy.py) and the platform's last heartbeat answer:
    reasons: list[RuleReason] = field(default_factory=list)
    granted: Granted | None = None
    limits: LimitsNow | None = None  # None: the agent runs without preferences
    live: LiveUse | None = None
    network: str = ""  # the WireGuard backend and its version, e.g. "wireguard-go v0.0.20220316"
    path: str = ""  # "direct", "relay (UDP blocked)" or "relay (the hub takes only the relay)"
    relay: str = ""  # the relay's host:port while relayed
    relay_state: str = ""  # its bridge's: connected, connecting, waiting, refused
    platform_pending: Granted | None = None
    unverified: Granted | None = None
    witnessed: Witnessed | None = None
    # A BOINC worker's client: projects, tasks, account manager (kalavai_like.usage.boinc
    # BoincState.to_dict); None for other templates or before the first read.
    boinc: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _OPTIONAL:
            data[name] = data[name] or {}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerStatus:
        known = record_fields(cls, data)
        known["totals"] = record_from(Counters, data.get("totals") or {})
        known["pending"] = record_from(Counters, data.get("pending") or {})
        known["reasons"] = [RuleReason.from_dict(r) for r in data.get("reasons") or []]
        for name, kind in _OPTIONAL.items():
            value = data.get(name)
            known[name] = record_from(kind, value) if value else None
        return cls(**known)


@dataclass(frozen=True)
class SeedStatus(Record):
    """The hub and head of a pool this node runs."""

    pool_id: str
    pool_name: str
    platform: str
    address: str
    endpoint: str
    overlay: str
    netns: str
    head: str
    head_state: str
    peers: list[dict[str, Any]]
    peers_version: int
    started_at: float
    network: str = ""  # the hub's WireGuard backend and its version
    relay: str = ""  # the relay whose relayed workers reach this hub ("" none)
    relay_state: str = ""  # its bridge's: connected, connecting, waiting, refused
    relay_only: bool = False  # registered as reachable only through the relay
    relayed_peers: int = 0  # workers whose datagrams come through the relay now


@dataclass(frozen=True)
class NodeStatus(Record):
    """One snapshot of the node: state and why, worker, seed, ongoing problems."""

    state: NodeState
    reason: str
    worker: WorkerStatus | None = None
    seed: SeedStatus | None = None
    conditions: list[Condition] = field(default_factory=list)
    agent_pid: int = 0
    agent_started_at: float = 0.0
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["worker"] = self.worker.to_dict() if self.worker is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeStatus:
        w, s = data.get("worker"), data.get("seed")
        return cls(
            state=data["state"],
            reason=data.get("reason", ""),
            worker=WorkerStatus.from_dict(w) if w else None,
            seed=SeedStatus.from_dict(s) if s else None,
            conditions=[Condition.from_dict(c) for c in data.get("conditions", [])],
            agent_pid=data.get("agent_pid", 0),
            agent_started_at=data.get("agent_started_at", 0.0),
            at=data.get("at", 0.0),
        )


@dataclass(frozen=True)
class JoinResult(Record):
    """What a finished join reports."""

    pool_name: str
    address: str
    device_id: str
    container: str
    steps: list[Step]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JoinResult:
        steps = [Step(**s) for s in data.get("steps", [])]
        return cls(data["pool_name"], data["address"], data["device_id"], data["container"], steps)


@dataclass(frozen=True)
class SeedResult(Record):
    """What a started (or already running) seed reports."""

    pool_id: str
    pool_name: str
    address: str
    endpoint: str
    head: str
    already: bool = False
    relay: str = ""  # the relay relayed workers come through ("" none)
    relay_only: bool = False


@dataclass(frozen=True)
class ActionResult(Record):
    """What pause, resume and stop report: the new state and a sentence for people."""

    state: str
    message: str
    already: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UsagePoint(Record):
    """Average use over one step of the usage history, ending at `time` (wall seconds):
    CPU cores, GiB of memory and GPUs given to the pool (zero while paused)."""

    time: float
    cpu_cores: float
    memory_gb: float
    gpus: float
