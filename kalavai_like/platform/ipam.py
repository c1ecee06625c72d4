"""Overlay addresses: one IPv4 subnet and one ULA /64 per pool, hosts inside them.

A new pool gets a free /`pool_prefix` block of the platform's `pool_space` (settings; pools
made before keep the 10.N.0.0/16 they had) and a free 16-bit subnet id N for
<ula-prefix>:<N>::/64 (the 48-bit ULA prefix is random per platform, made once). A deleted
pool's block and id stay taken for the address hold-back, as a device's freed address does.
Host index 1 is the hub, workers take 2 and up. A lease row per (pool, index) is the unique
constraint; freed leases are reused, lowest first, only after the hold-back time. Callers hold
the pool row locked (or SQLite's write lock).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import secrets
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kalavai_like.errors import Conflict
from kalavai_like.platform.models import AddressLease, PlatformMeta, Pool

HUB_INDEX = 1
FIRST_WORKER = 2
SUBNET_IDS = 65535  # IPv6 subnet ids 1..65535 of the platform's ULA /48
_ULA_KEY = "ula_prefix"


@functools.lru_cache(maxsize=4096)
def network(subnet: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(subnet)


def address(subnet: str, host: int) -> str:
    return str(network(subnet).network_address + host)


def last_host(subnet: str) -> int:
    """The highest host index of a pool's subnet (the one below its broadcast address)."""
    return network(subnet).num_addresses - 2


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


def _spread(key: str, count: int) -> int:
    """Where a search starts: spread out, so concurrent creations rarely collide."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % count


def first_free(count: int, taken: Iterable[range], start: int) -> int | None:
    """The first number of start..count-1, then 0..start-1, inside none of the `taken` ranges."""
    spans = sorted((r.start, r.stop) for r in taken if r)
    for lo, hi in ((start, count), (0, start)):
        k = lo
        for a, b in spans:
            if b <= k:
                continue
            if a > k:
                break
            k = b
        if k < hi:
            return k
    return None


class Space:
    """The IPv4 space new pools' subnets come from, cut into blocks of one prefix length."""

    def __init__(self, space: str, prefix: int) -> None:
        self.net = network(space)
        self.prefix = prefix
        self.count = 2 ** (prefix - self.net.prefixlen)
        self._shift = 32 - prefix

    def block(self, k: int) -> str:
        base = int(self.net.network_address) + (k << self._shift)
        return f"{ipaddress.IPv4Address(base)}/{self.prefix}"

    def blocks_of(self, subnet: str) -> range:
        """The block numbers a subnet overlaps (empty if it lies outside the space)."""
        other, base = network(subnet), int(self.net.network_address)
        lo = max(int(other.network_address), base)
        hi = min(int(other.broadcast_address), int(self.net.broadcast_address))
        if lo > hi:
            return range(0)
        return range((lo - base) >> self._shift, ((hi - base) >> self._shift) + 1)


def pick_subnet(
    session: Session, pool_name: str, space: Space, now: float, holdback: float
) -> tuple[str, int]:
    """A free IPv4 block of `space` and a free IPv6 subnet id for a new pool.

    Live pools' subnets are taken, and deleted pools' until their hold-back ends. Creations
    are serialised on the platform's ULA row (PostgreSQL; SQLite's write lock already is).

    Raises:
        Conflict: every block (or every IPv6 subnet id) is taken.
    """
    session.execute(select(PlatformMeta.key).where(PlatformMeta.key == _ULA_KEY).with_for_update())
    rows = session.execute(select(Pool.id, Pool.subnet, Pool.subnet_index, Pool.deleted_at)).all()
    held = {r.id for r in rows if r.deleted_at is None or r.deleted_at > now - holdback}
    blocks = [space.blocks_of(r.subnet) for r in rows if r.id in held and r.subnet]
    k = first_free(space.count, blocks, _spread(pool_name, space.count))
    ids = [range(r.subnet_index - 1, r.subnet_index) for r in rows if r.id in held]
    # The id search starts where the block says: a reused block gets its old /64 back if free.
    start = _spread(space.block(k), SUBNET_IDS) if k is not None else 0
    i = first_free(SUBNET_IDS, ids, start)
    if k is None or i is None:
        raise Conflict(
            "No free subnet",
            f"Every /{space.prefix} of {space.net} is in use or held back after its pool was "
            "deleted. The platform's operator can widen the pool space (--set pool_space=...).",
        )
    index = i + 1
    stale = [r.id for r in rows if r.subnet_index == index and r.id not in held]
    if stale:  # a deleted pool past its hold-back gives its id up for a unique number below 0
        parked = min(0, *(r.subnet_index for r in rows)) - 1
        session.execute(update(Pool).where(Pool.id == stale[0]).values(subnet_index=parked))
    return space.block(k), index


def lease_of(session: Session, device_id: str) -> AddressLease | None:
    return session.scalars(select(AddressLease).where(AddressLease.device_id == device_id)).first()


def allocate(session: Session, pool: Pool, device_id: str, now: float, holdback: float) -> int:
    """Give the device a host index in the pool (its own if it still holds one).

    Raises Conflict when the pool has no free address.
    """
    own = lease_of(session, device_id)
    if own is not None and own.pool_id == pool.id:
        own.released_at = None
        return own.idx
    reusable = session.scalars(
        select(AddressLease)
        .where(
            AddressLease.pool_id == pool.id,
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
    top = session.scalar(select(func.max(AddressLease.idx)).where(AddressLease.pool_id == pool.id))
    idx = max(FIRST_WORKER, (top or 0) + 1)
    if idx > last_host(pool.subnet):
        raise Conflict(
            "Pool is full", "Every address of this pool is in use or held back after a leave."
        )
    session.add(AddressLease(pool_id=pool.id, idx=idx, device_id=device_id))
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
