"""Devices seen by users: redeem a join token, list, leave, and set the desired state."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from kalavai_like.errors import Conflict, InvalidInput, TokenError
from kalavai_like.platform import bounds, credentials, heartbeats, ipam, ledger, peers, quotas
from kalavai_like.platform.api import HexId
from kalavai_like.platform.api.pools import (
    PoolKey,
    check_open,
    lookup_token,
    not_running,
    owned_pool,
    token_status,
)
from kalavai_like.platform.auth import Db, Enroller, User
from kalavai_like.platform.db import oldest_first
from kalavai_like.platform.models import AccountKey, Device, JoinTokenRow, Pool, now
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.problems import Problem, not_found
from kalavai_like.platform.schemas import (
    DesiredIn,
    DeviceOut,
    PoolDeviceOut,
    Redeemed,
    RedeemIn,
    WorkerSpec,
)
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.platform.views import device_out, hub_out, pool_device_out, pool_out
from kalavai_like.tokens import WORKER

router = APIRouter(prefix="/api/v1", tags=["devices"])

_REFUSED = {
    "revoked": ("Join token revoked", "The pool owner revoked this token. Ask for a new one."),
    "expired": ("Join token expired", "This token has expired. Ask the pool owner for a new one."),
    "used_up": ("Join token used up", "Every use of this token is taken. Ask for a new one."),
    "unknown": (
        "Unknown join token",
        "This platform does not know this token. Check you copied it whole, from this platform.",
    ),
}


POOL_DELETED = "Its owner deleted this pool, so nobody can join it. Join another pool."


def refuse(reason: str) -> TokenError:
    title, message = _REFUSED[reason]
    return TokenError(reason, title, message)


def claim(s: Session, row: JoinTokenRow, t: float) -> None:
    """Take one use of the token in one conditional UPDATE, so racing joins cannot both win.

    Raises:
        TokenError: revoked, expired or used_up.
    """
    result = s.execute(
        update(JoinTokenRow)
        .where(
            JoinTokenRow.id == row.id,
            JoinTokenRow.used < JoinTokenRow.uses,
            JoinTokenRow.revoked_at.is_(None),
            JoinTokenRow.expires_at > t,
        )
        .values(used=JoinTokenRow.used + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        s.refresh(row)
        status = token_status(row, t)
        raise refuse("used_up" if status == "valid" else status)


def _enrol(
    s: Session, who: Enroller, pool: Pool, body: RedeemIn, credential: str, cfg: PlatformSettings
) -> Device:
    """Create the device, or revive the caller's device with that key or name in this pool.

    Raises:
        Problem: 409 past the user's device limit in this pool (not for the pool's owner).
    """
    t = now()
    stranger = s.scalars(
        select(Device.id).where(
            Device.pool_id == pool.id,
            Device.public_key == body.public_key,
            Device.user_id != who.user_id,
            Device.left_at.is_(None),
        )
    ).first()
    if stranger:
        raise Conflict("Key in use", "Another device in this pool uses that WireGuard key.")
    device = s.scalars(
        select(Device)
        .where(
            Device.pool_id == pool.id,
            Device.user_id == who.user_id,
            Device.role == "worker",
            or_(Device.public_key == body.public_key, Device.name == body.name),
        )
        .order_by(case((Device.left_at.is_(None), 0), else_=1), Device.created_at.desc())
        .limit(1)
    ).first()
    if (device is None or device.left_at is not None) and who.user_id != pool.owner_id:
        quotas.check_devices(s, cfg, pool, who.user_id)
    if device is None:
        device = Device(user_id=who.user_id, pool_id=pool.id, role="worker")
        s.add(device)
    device.name, device.public_key = body.name, body.public_key
    device.cores, device.memory_bytes, device.gpus = body.cores, body.memory_bytes, body.gpus
    device.credential_hash = credentials.digest(credential)
    device.left_at, device.state, device.reason = None, "joining", None
    if device.desired_state == heartbeats.REMOVED:  # removed once, now let in again
        device.desired_state = "running"
    # A (re)joined agent counts from zero again: new sequence and counter baseline.
    device.last_seq, device.base_cpu, device.base_ram, device.base_gpu = 0, 0.0, 0.0, 0.0
    device.base_at = t
    ledger.new_session(device, t)
    s.flush()
    device.address_index = ipam.allocate(s, pool, device.id, t, cfg.address_holdback)
    return device


@router.post("/devices", status_code=201, response_model=Redeemed)
def redeem(body: RedeemIn, who: Enroller, db: Db, request: Request) -> Redeemed:
    """Redeem a join token: claim a use, enrol the device, allocate its overlay address.
    Anything refused (hardware over the pool's maxima included) leaves the token's use unspent:
    the whole redeem is one transaction."""
    cfg = request.app.state.settings
    credential = credentials.new(credentials.DEVICE)
    with db.write() as s:
        parsed, row = lookup_token(s, cfg, body.token)
        if parsed.tier != WORKER:
            raise InvalidInput("Unsupported token tier", f"Tier {parsed.tier!r} cannot enrol.")
        if row is None:
            raise refuse("unknown")
        t = now()
        # The pool first, then the token: the order deleting a pool takes them in.
        pool = s.scalars(select(Pool).where(Pool.id == row.pool_id).with_for_update()).one()
        if pool.deleted_at is not None:
            raise Problem(410, TokenError("pool_deleted", "Pool deleted", POOL_DELETED))
        check_open(pool, who.user_id)
        bounds.check_declared(cfg, pool, body.cores, body.memory_bytes, body.gpus)
        if hub_out(s, pool) is None:  # checked before the claim: a join that cannot work
            raise not_running()
        claim(s, row, t)
        device = _enrol(s, who, pool, body, credential, cfg)
        device.join_token_id = row.id
        if who.kind == credentials.ACCOUNT_KEY:
            s.execute(
                update(AccountKey).where(AccountKey.id == who.credential_id).values(last_used_at=t)
            )
        peers.bump(s, pool.id)
        s.flush()
        s.refresh(pool)
        result = Redeemed(
            device=device_out(s, device, pool),
            credential=credential,
            pool=pool_out(s, pool, who.user_id),
            hub=hub_out(s, pool),
            worker=WorkerSpec(  # the one place a worker gets the pool's secret parameters
                template=pool.template,
                params=json.loads(pool.params),
                head_address=ipam.address(pool.subnet, ipam.HUB_INDEX),
            ),
        )
    request.app.state.peers.notify(pool.id)
    return result


@router.get("/devices", response_model=list[DeviceOut])
def my_devices(who: User, db: Db) -> list[DeviceOut]:
    with db.read() as s:
        rows = oldest_first(s, Device, Device.user_id == who.user_id, SHOWN)
        return [device_out(s, d) for d in rows]


@router.get("/pools/{pool_key}/devices", response_model=list[PoolDeviceOut])
def pool_devices(pool_key: PoolKey, who: User, db: Db) -> list[PoolDeviceOut]:
    """The pool's devices with their users (pool owner only)."""
    with db.read() as s:
        pool = owned_pool(s, who, pool_key)
        rows = s.execute(
            select(Device, UserRow)
            .join(UserRow, UserRow.id == Device.user_id)
            .where(Device.pool_id == pool.id, SHOWN)
            .order_by(Device.created_at)
        ).all()
        return [pool_device_out(s, d, u, pool, who.user_id) for d, u in rows]


def leave(s: Session, device: Device, removed_because: str | None = None) -> None:
    """The device leaves its pool: credential void, address held back, peer list changed.
    Removed by the pool's owner (`removed_because`), its credential stays only so its next
    heartbeat learns that (heartbeats.REMOVED). A join that never completed (no heartbeat since
    this enrolment) gives its token use back."""
    t = now()
    if device.left_at is None:
        device.left_at, device.state = t, "left"
        if removed_because:
            device.reason, device.desired_state = removed_because, heartbeats.REMOVED
        else:
            device.credential_hash = None
        ipam.release(s, device.id, t)
        peers.bump(s, device.pool_id)
        _give_back(s, device)


def _give_back(s: Session, device: Device) -> None:
    """Return the use a never-completed join claimed, once: every accepted heartbeat sets
    `last_seq` above 0, so a device that did any work keeps its use spent."""
    token_id, device.join_token_id = device.join_token_id, None
    if token_id is None or device.last_seq != 0:
        return
    s.execute(
        update(JoinTokenRow)
        .where(JoinTokenRow.id == token_id, JoinTokenRow.used > 0)
        .values(used=JoinTokenRow.used - 1)
        .execution_options(synchronize_session=False)
    )


# A device that left without ever sending a heartbeat did nothing: lists leave it out (its
# row stays, so its address is held back like any other).
SHOWN = or_(Device.left_at.is_(None), Device.last_heartbeat_at.is_not(None))


def _mine(s: Session, who: User, device_id: str) -> Device:
    device = s.get(Device, device_id)
    if device is None or device.user_id != who.user_id:
        raise not_found("device")
    return device


@router.delete("/devices/{device_id}", status_code=204)
def remove_device(device_id: HexId, who: User, db: Db, request: Request) -> Response:
    """Remove one of your devices from its pool (idempotent)."""
    with db.write() as s:
        device = _mine(s, who, device_id)
        pool_id = device.pool_id
        leave(s, device)
    request.app.state.peers.notify(pool_id)
    return Response(status_code=204)


@router.post("/devices/{device_id}/desired", response_model=DeviceOut)
def set_desired(device_id: HexId, body: DesiredIn, who: User, db: Db) -> DeviceOut:
    """Ask a device to pause or resume; it learns this from its next heartbeat's reply."""
    with db.write() as s:
        device = _mine(s, who, device_id)
        device.desired_state = body.state
        s.flush()
        return device_out(s, device)
