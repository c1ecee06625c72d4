"""Rows to response bodies: pools (as one viewer may see them), hubs, devices and totals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kalavai_like.platform import credit, ipam, ledger
from kalavai_like.platform.about import PoolAbout
from kalavai_like.platform.models import Device, Pool, User, now
from kalavai_like.platform.schemas import (
    DeviceOut,
    HubOut,
    PoolDeviceOut,
    PoolOut,
    PoolOwner,
    UserRef,
    WeightsOut,
)

# Template parameters only a pool's owner sees (workers get them in their worker spec).
# kalavai_like.container.templates marks the same names per template (a test holds them equal).
# The account manager's login is often the owner's email: others never see it.
SECRET_PARAMS = frozenset(
    {"weak_key", "gui_rpc_password", "account_manager_user", "account_manager_password", "env"}
)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def iso_req(ts: float) -> str:
    return iso(ts) or ""


def hub_out(session: Session, pool: Pool) -> HubOut | None:
    if pool.hub_device_id is None or pool.hub_endpoint is None:
        return None
    hub = session.get(Device, pool.hub_device_id)
    if hub is None or hub.left_at is not None:
        return None
    return HubOut(
        public_key=hub.public_key,
        endpoint=pool.hub_endpoint,
        address=ipam.address(pool.subnet, ipam.HUB_INDEX),
        relay_only=pool.hub_relay_only,
    )


def shown_params(pool: Pool, viewer: str) -> dict[str, object]:
    """The pool's parameters: all for its owner, the secret ones left out for anyone else."""
    params: dict[str, object] = json.loads(pool.params)
    if viewer == pool.owner_id:
        return params
    return {k: v for k, v in params.items() if k not in SECRET_PARAMS}


def member_counts(session: Session, pool_ids: list[str]) -> dict[str, int]:
    """Live workers per pool (pools without any are left out)."""
    rows = session.execute(
        select(Device.pool_id, func.count())
        .where(Device.pool_id.in_(pool_ids), Device.role == "worker", Device.left_at.is_(None))
        .group_by(Device.pool_id)
    ).all()
    return {pool_id: int(n) for pool_id, n in rows}


def pools_out(
    session: Session, pools: list[Pool], viewer: str, *, secrets: bool = False
) -> list[PoolOut]:
    """The pools as `viewer` (a user id) may see them: owners by their display names, owners'
    emails only their own, and secret parameters only their own with `secrets`."""
    if not pools:
        return []
    ula = ipam.ula_prefix(session)
    members = member_counts(session, [p.id for p in pools])
    owners = {p.owner_id for p in pools}
    people = {
        u.id: (u.display_name, u.email)
        for u in session.execute(
            select(User.id, User.display_name, User.email).where(User.id.in_(owners))
        )
    }
    hubs = {p.id: hub_out(session, p) for p in pools}
    return [
        PoolOut(
            id=p.id,
            name=p.name,
            owner=_owner(p.owner_id, people.get(p.owner_id, ("", "")), viewer),
            template=p.template,
            params=shown_params(p, viewer if secrets else ""),
            public=p.public,
            closed=p.closed,
            subnet=p.subnet,
            subnet6=ipam.subnet6(ula, p.subnet_index),
            weights=WeightsOut(cpu=p.weight_cpu, ram=p.weight_ram, gpu=p.weight_gpu),
            members=int(members.get(p.id, 0)),
            hub=hubs[p.id],
            running=hubs[p.id] is not None,
            created_at=iso_req(p.created_at),
            trusted=p.trusted,
            witness=ledger.witness_kind(p.template, p.trusted),
            about=PoolAbout(description=p.description, computes=p.computes, run_by=p.run_by),
        )
        for p in pools
    ]


def _owner(owner_id: str, person: tuple[str, str], viewer: str) -> PoolOwner:
    name, email = person
    return PoolOwner(id=owner_id, display=name, email=email if owner_id == viewer else None)


def user_ref(user: User, viewer: str) -> UserRef:
    """A user as `viewer` (a user id) sees them: the display name; the email if it is theirs."""
    email = user.email if user.id == viewer else None
    return UserRef(id=user.id, display=user.display_name, email=email)


def pool_out(session: Session, pool: Pool, viewer: str, *, secrets: bool = False) -> PoolOut:
    """One pool as `viewer` sees it; with `secrets` (showing it, registering its hub) its
    owner sees its secret parameters too."""
    return pools_out(session, [pool], viewer, secrets=secrets)[0]


def device_out(session: Session, d: Device, pool: Pool | None = None) -> DeviceOut:
    pool = pool or session.get(Pool, d.pool_id)
    assert pool is not None
    ula = ipam.ula_prefix(session)
    has_addr = d.address_index is not None
    row = ledger.row(d)
    split = ledger.split(row, pool_weights(pool), now())
    return DeviceOut(
        id=d.id,
        name=d.name,
        pool_id=d.pool_id,
        role=d.role,
        address=ipam.address(pool.subnet, d.address_index) if has_addr else None,  # type: ignore[arg-type]
        address6=ipam.address6(ula, pool.subnet_index, d.address_index) if has_addr else None,  # type: ignore[arg-type]
        public_key=d.public_key,
        state=d.state,
        reason=d.reason,
        desired_state=d.desired_state,
        cores=d.cores,
        memory_bytes=d.memory_bytes,
        gpus=d.gpus,
        last_heartbeat_at=iso(d.last_heartbeat_at),
        totals=split.totals("granted"),
        clamped=split.totals("clamped"),
        created_at=iso_req(d.created_at),
        left_at=iso(d.left_at),
        pending=split.totals("pending"),
        unverified=split.totals("unverified"),
        witnessed=ledger.witnessed(row),
        witness=ledger.witness_kind(pool.template, pool.trusted),
    )


def pool_weights(pool: Pool) -> credit.Weights:
    return credit.Weights(pool.weight_cpu, pool.weight_ram, pool.weight_gpu)


def pool_device_out(
    session: Session, d: Device, owner: User, pool: Pool, viewer: str
) -> PoolDeviceOut:
    base = device_out(session, d, pool)
    return PoolDeviceOut(**base.model_dump(), user=user_ref(owner, viewer))
