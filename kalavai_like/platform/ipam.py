"""Overlay addresses: one /16 inside 10.0.0.0/8 and one ULA /64 per pool, hosts inside them.

Pool N gets 10.N.0.0/16 and <ula-prefix>:<N>::/64 (the 48-bit ULA prefix is random per
platform, made once). Host index 1 is the hub, workers take 2 and up. A lease row per
(pool, index) is the unique constraint; freed leases are reused, lowest first, only after
the hold-back time. Callers hold the pool row locked (or SQLite's write lock).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kalavai_like.errors import Conflict
from kalavai_like.platform.models import AddressLease, PlatformMeta, Pool

HUB_INDEX = 1
FIRST_WORKER = 2
LAST_HOST = 65534  # 10.N.255.254
_ULA_KEY = "ula_prefix"


def subnet(index: int) -> str:
    return f"10.{index}.0.0/16"


def address(pool_index: int, host: int) -> str:
    return f"10.{pool_index}.{host >> 8}.{host & 255}"


def subnet6(ula: str, index: int) -> str:
    return str(ipaddress.IPv6Network(f"{ula}:{index:x}::/64"))


def address6(ula: str, pool_index: int, host: int) -> str:
    net = ipaddress.IPv6Network(f"{ula}:{pool_index:x}::/64")
    return str(net.network_address + host)


def ula_prefix(session: Session) -> str:
    """The platform's ULA /48 as 'fdxx:xxxx:xxxx' (RFC 4193 random global ID), made once."""
    row = session.get(PlatformMeta, _ULA_KEY)
    if row is not None:
        return row.value
    gid = secrets.token_bytes(5)
    prefix = "fd{:02x}:{:02x}{:02x}:{:02x}{:02x}".format(*gid)
    try:
        with session.begin_nested():
            session.add(PlatformMeta(key=_ULA_KEY, value=prefix))
    except IntegrityError:  # another request made it first
        return session.get(PlatformMeta, _ULA_KEY, populate_existing=True).value  # type: ignore[union-attr]
    return prefix


def subnet_candidates(pool_name: str) -> list[int]:
    """Second octets to try for a pool, in a deterministic order that spreads pools out."""
    start = int.from_bytes(hashlib.sha256(pool_name.encode()).digest()[:4], "big") % 254
    return [(start + i) % 254 + 1 for i in range(254)]


def pick_subnet(session: Session, pool_name: str) -> int:
    """The first free /16 for a new pool. Raises Conflict when all 254 are taken."""
    taken = set(session.scalars(select(Pool.subnet_index)))
    for index in subnet_candidates(pool_name):
        if index not in taken:
            return index
    raise Conflict("No free subnet", "Every 10.N.0.0/16 on this platform is in use.")


def lease_of(session: Session, device_id: str) -> AddressLease | None:
    return session.scalars(select(AddressLease).where(AddressLease.device_id == device_id)).first()


def allocate(session: Session, pool_id: str, device_id: str, now: float, holdback: float) -> int:
    """Give the device a host index in the pool (its own if it still holds one).

    Raises Conflict when the pool has no free address.
    """
    own = lease_of(session, device_id)
    if own is not None and own.pool_id == pool_id:
        own.released_at = None
        return own.idx
    reusable = session.scalars(
        select(AddressLease)
        .where(
            AddressLease.pool_id == pool_id,
            AddressLease.idx >= FIRST_WORKER,
            AddressLease.released_at.is_not(None),
            AddressLease.released_at <= now - holdback,
        )
        .order_by(AddressLease.idx)
        .limit(1)
    ).first()
    if reusable is not None:
        reusable.device_id, reusable.released_at = device_id, None
        session.flush()
        return reusable.idx
    top = session.scalar(select(func.max(AddressLease.idx)).where(AddressLease.pool_id == pool_id))
    idx = max(FIRST_WORKER, (top or 0) + 1)
    if idx > LAST_HOST:
        raise Conflict(
            "Pool is full", "Every address of this pool is in use or held back after a leave."
        )
    session.add(AddressLease(pool_id=pool_id, idx=idx, device_id=device_id))
    session.flush()
    return idx


def take_hub(session: Session, pool_id: str, device_id: str) -> None:
    """Give the hub address (.1) to the hub device."""
    lease = session.get(AddressLease, (pool_id, HUB_INDEX))
    if lease is None:
        session.add(AddressLease(pool_id=pool_id, idx=HUB_INDEX, device_id=device_id))
    else:
        lease.device_id, lease.released_at = device_id, None
    session.flush()


def release(session: Session, device_id: str, now: float) -> None:
    """Start the hold-back of the device's address (it keeps it if it rejoins meanwhile)."""
    lease = lease_of(session, device_id)
    if lease is not None and lease.released_at is None:
        lease.released_at = now
