"""Status snapshots of a worker membership and a seed role, from what the node last observed."""

from __future__ import annotations

from typing import Any

from kalavai_like.agent.policy import Policy
from kalavai_like.agent.seed import PeerFollower
from kalavai_like.agent.state import Membership, SeedRole
from kalavai_like.agent.worker import WorkerSession
from kalavai_like.client.records import (
    Granted,
    LimitsNow,
    LiveUse,
    SeedStatus,
    Witnessed,
    WorkerStatus,
    bare,
    record_from,
)
from kalavai_like.net import HubStatus, SpokeStatus, backend_label


def path_text(relay_only: bool, spoke: SpokeStatus | None) -> str:
    """How a worker reaches its hub, for people: "direct", "relay (UDP blocked)" or "relay (the
    hub takes only the relay)"; "" before the overlay was read."""
    if spoke is None:
        return ""
    if spoke.path != "relay":
        return "direct"
    return "relay (the hub takes only the relay)" if relay_only else "relay (UDP blocked)"


def connected_text(m: Membership, up: SpokeStatus, direct_timeout: float) -> str:
    """The join's step once the first handshake came: which path, and why the relay."""
    done = "(first WireGuard handshake done)"
    if up.path != "relay":
        return f"Connected to the hub directly over UDP {done}"
    if m.hub_relay_only:
        return f"Connected to the hub through the relay at {m.relay} (relay-only hub) {done}"
    return (f"No UDP reply from the hub within {direct_timeout:g} s: connected through the relay "
            f"at {m.relay} instead {done}")  # fmt: skip


def worker_status(
    w: WorkerSession, spoke: SpokeStatus | None, read_at: float, running_since: float | None,
    now: float, extra: dict[str, Any],
) -> WorkerStatus:  # fmt: skip
    """The worker as the user sees it; `spoke` is its overlay as read at `read_at`; `extra`
    holds what the rules decide (`policy_status`, the pause's until and reason)."""
    m = w.m
    age = spoke.latest_handshake_age if spoke is not None else None
    return WorkerStatus(
        pool_id=m.pool_id, pool_name=m.pool_name, platform=m.platform,
        device_id=m.device_id, address=bare(m.address) or "",
        overlay=f"{m.prefix}-{m.name}w", netns=f"{m.prefix}-{m.name}",
        container=w.container, container_state=w.container_state,
        handshake_age=None if age is None else age + (now - read_at),
        joined_at=m.joined_at, running_since=running_since, cpus=m.cpus,
        memory_bytes=m.memory_bytes, gpus=m.gpus, totals=w.totals(),
        pending=w.ledger.pending_counters(),
        last_heartbeat_at=w.last_heartbeat_at, acked_seq=w.ledger.acked_seq,
        live_cpu_cores=w.live.cpu_cores, network=backend_label(spoke) if spoke else "",
        path=path_text(m.hub_relay_only, spoke), relay=(spoke.relay or m.relay)
        if spoke is not None and spoke.path == "relay" else "",
        relay_state=spoke.relay_state or "" if spoke is not None else "",
        boinc=w.boinc.to_dict() if w.boinc is not None else None, **extra,
    )  # fmt: skip


def platform_parts(w: WorkerSession) -> dict[str, Any]:
    """The platform's last heartbeat answer as typed status parts: granted, pending,
    unverified, witnessed (None until it answered)."""
    answered = {"granted": w.platform_granted, "platform_pending": w.platform_pending,
                "unverified": w.platform_unverified}  # fmt: skip
    parts: dict[str, Any] = {k: record_from(Granted, v) if v else None for k, v in answered.items()}
    witnessed = w.platform_witnessed
    flat = {**witnessed, **(witnessed.get("results") or {})} if witnessed else None
    parts["witnessed"] = record_from(Witnessed, flat) if flat else None
    return parts


def policy_status(w: WorkerSession, p: Policy | None) -> dict[str, Any]:
    """The typed status parts from the rules and the platform: reasons, the platform's parts
    (`platform_parts`), limits, live (see WorkerStatus)."""
    parts = platform_parts(w)
    lv = w.live
    live = LiveUse(lv.cpu_cores, lv.memory_bytes, lv.gpu_fraction) if lv else None
    if p is None:
        return {**parts, "live": live}
    lim = p.applied or p.limits_for(w.m)
    profile = p.decision.profile if p.decision else ""
    limits = LimitsNow(lim.cpus, lim.memory_bytes, lim.gpus, profile)
    return {**parts, "reasons": p.reasons(), "limits": limits, "live": live}


def seed_status(
    s: SeedRole, follower: PeerFollower | None, head_state: str, hub: HubStatus | None
) -> SeedStatus:
    """The hub and head of the pool this node seeds (`hub`: as last read)."""
    known = follower.peers if follower else []
    peers = [{"public_key": p.public_key, "address": bare(p.address)} for p in known]
    return SeedStatus(
        pool_id=s.pool_id, pool_name=s.pool_name, platform=s.platform,
        address=bare(s.address) or "", endpoint=s.endpoint, overlay=f"{s.prefix}-{s.name}w",
        netns=f"{s.prefix}-{s.name}", head=f"{s.prefix}-{s.name}-head",
        head_state=head_state, peers=peers,
        peers_version=follower.version if follower else -1, started_at=s.started_at,
        network=backend_label(hub) if hub else "", relay=s.relay,
        relay_state=hub.relay_state or "" if hub else "", relay_only=s.relay_only,
        relayed_peers=sum(p.relayed for p in hub.peers) if hub else 0,
    )  # fmt: skip
