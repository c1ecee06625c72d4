"""Endpoints a device calls with its own credential: heartbeat, its relay, peer list and witness
reports (hubs), leave."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select

from kalavai_like.errors import NotFound
from kalavai_like.platform import heartbeats, ipam, ledger, peers, witness
from kalavai_like.platform.api.devices import leave
from kalavai_like.platform.auth import Db, DeviceCaller, DeviceCredential, Settings
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Device, Pool
from kalavai_like.platform.peers import Peer, PeersOut, user_pseudonym
from kalavai_like.platform.problems import forbidden, unauthorized
from kalavai_like.platform.schemas import HeartbeatIn, HeartbeatOut


class RelayOut(BaseModel):
    """The relay a device of this pool uses (host:port), and whether its hub needs it."""

    address: str
    hub_relay_only: bool


router = APIRouter(prefix="/api/v1/device", tags=["device"])


@router.post("/heartbeat", response_model=HeartbeatOut)
def heartbeat(
    credential: DeviceCredential, body: HeartbeatIn, db: Db, cfg: Settings
) -> HeartbeatOut:
    """Report state and cumulative usage; the reply carries the desired state."""
    reply = heartbeats.record(db, ledger.Rules.of(cfg), credential, body)
    # Already the JSON of a HeartbeatOut: skip FastAPI's validation on this hot path.
    return Response(reply, media_type="application/json")  # type: ignore[return-value]


class ResumedOut(BaseModel):
    """The device's desired state on the platform after its own resume."""

    desired_state: str


@router.post("/resumed", response_model=ResumedOut)
def resumed(who: DeviceCaller, db: Db) -> ResumedOut:
    """The device's user resumed it on the machine (CLI or tray): a pause requested from the
    web is withdrawn, so the device's card stops saying "Pause requested". Idempotent."""
    with db.write() as s:
        device = s.get(Device, who.credential_id)
        if device is None or device.left_at is not None:
            raise unauthorized("This device left its pool.")
        device.desired_state = "running"
    return ResumedOut(desired_state="running")


@router.post("/witness", response_model=witness.WitnessOut)
def witness_report(
    credential: DeviceCredential, body: witness.WitnessIn, db: Db, cfg: Settings
) -> witness.WitnessOut:
    """The hub reports what its pool's head witnessed: cumulative totals per worker device in
    one scheduler epoch. A replayed or older report changes nothing; another pool's device is
    refused (listed) and the rest still counts."""
    return witness.record(db, ledger.Rules.of(cfg), credential, body)


def _version(db: Database, pool_id: str) -> int:
    with db.read() as s:
        return int(s.scalar(select(Pool.peer_version).where(Pool.id == pool_id)) or 0)


def _peer_list(db: Database, pool_id: str) -> PeersOut:
    with db.read() as s:
        pool = s.get(Pool, pool_id)
        assert pool is not None
        ula = ipam.ula_prefix(s)
        rows = s.scalars(
            select(Device)
            .where(
                Device.pool_id == pool_id,
                Device.role == "worker",
                Device.left_at.is_(None),
                Device.address_index.is_not(None),
            )
            .order_by(Device.address_index)
        )
        return PeersOut(
            version=pool.peer_version,
            peers=[
                Peer(
                    device_id=d.id,
                    public_key=d.public_key,
                    address=ipam.address(pool.subnet, d.address_index),  # type: ignore[arg-type]
                    address6=ipam.address6(ula, pool.subnet_index, d.address_index),  # type: ignore[arg-type]
                    user=user_pseudonym(pool_id, d.user_id),
                )
                for d in rows
            ],
        )


def _hub_pool(db: Database, who: DeviceCaller) -> str:
    with db.write() as s:
        device = s.get(Device, who.credential_id)
        if device is None or device.left_at is not None:
            raise unauthorized("This device left its pool.")
        if device.role != "hub":
            raise forbidden("Only the pool's hub may read its peer list.")
        # The hub sends no heartbeats: reading its peer list is its sign of life (the owner's
        # pages say it runs, or when it was last seen).
        device.last_heartbeat_at = time.time()
        return device.pool_id


@router.get("/peers", response_model=PeersOut)
async def peer_list(
    who: DeviceCaller,
    db: Db,
    request: Request,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    wait: Annotated[float, Query(ge=0, le=30, allow_inf_nan=False)] = 0,
) -> PeersOut:
    """The hub's peer list; with `wait`, blocks until its version exceeds `since`."""
    pool_id = await run_in_threadpool(_hub_pool, db, who)
    watch: peers.PeerWatch = request.app.state.peers
    deadline = time.monotonic() + wait
    while True:
        version = await run_in_threadpool(_version, db, pool_id)
        left = deadline - time.monotonic()
        if version > since or left <= 0:
            return await run_in_threadpool(_peer_list, db, pool_id)
        await watch.wait(pool_id, min(peers.POLL, left))


@router.get("/relay", response_model=RelayOut)
def relay(who: DeviceCaller, db: Db, cfg: Settings) -> RelayOut:
    """The relay this device's pool uses when UDP to its hub fails (the same for the pool)."""
    with db.read() as s:
        device = s.get(Device, who.credential_id)
        if device is None or device.left_at is not None:
            raise unauthorized("This device left its pool.")
        pool = s.get(Pool, device.pool_id)
        assert pool is not None
        address = cfg.relay_for(pool.id)
        if address is None:
            raise NotFound(
                "No relay",
                "This platform runs no relay, so a device whose UDP is blocked cannot join. "
                "Its operator can start one (platform serve --relay-port, or relay serve).",
            )
        return RelayOut(address=address, hub_relay_only=pool.hub_relay_only)


@router.delete("", status_code=204)
def leave_pool(who: DeviceCaller, db: Db, request: Request) -> Response:
    """The device leaves its pool (its address is held back before reuse)."""
    with db.write() as s:
        device = s.get(Device, who.credential_id)
        if device is None:
            raise unauthorized()
        pool_id = device.pool_id
        leave(s, device)
    request.app.state.peers.notify(pool_id)
    return Response(status_code=204)
