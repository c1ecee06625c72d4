"""Who may use the relay: enrolled devices that have not left, proven by their credential.

The relay never sees a credential: a device proves it holds one with an HMAC keyed by the
credential's SHA-256 hex digest, which is the `credential_hash` the platform stores
(kalavai_like.net.relay.protocol). Both lookups are plain reads, run off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from kalavai_like.net.relay import protocol
from kalavai_like.net.relay.protocol import Reason
from kalavai_like.platform import ipam
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Device, Pool

LEFT = "refused: this device left its pool (join again to get a new credential)"
_CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True)
class Admission:
    """An authenticated device: its pool, its overlay address and its pool hub's (packed)."""

    device_id: str
    pool_id: str
    address: bytes
    hub: bytes
    credential_hash: str


class Refused(Exception):
    """The relay turns this device away; `text` is shown to its user."""

    def __init__(self, reason: Reason, text: str) -> None:
        super().__init__(text)
        self.reason, self.text = reason, text


class Access:
    """Device look-ups in the platform's database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def admit(self, device_id: str, nonce: bytes, presented: bytes) -> Admission:
        """The device, if `presented` is its MAC over this connection's nonce.

        Raises:
            Refused: unknown device, a device that left (or whose pool was deleted), or a MAC
                that its credential did not make.
        """
        with self.db.read() as s:
            row = s.execute(
                select(
                    Device.credential_hash, Device.left_at, Device.pool_id, Device.address_index,
                    Pool.subnet, Pool.deleted_at,
                )
                .join(Pool, Pool.id == Device.pool_id)
                .where(Device.id == device_id)
            ).first()  # fmt: skip
        if row is None:
            raise Refused(Reason.UNKNOWN_DEVICE, "refused: the platform does not know this device")
        digest, left_at, pool_id, index, subnet, deleted_at = row
        if left_at is not None or digest is None or deleted_at is not None or index is None:
            raise Refused(Reason.LEFT, LEFT)
        if not protocol.mac_matches(digest.encode("ascii"), nonce, device_id, presented):
            raise Refused(Reason.BAD_CREDENTIAL, "refused: wrong credential for this device")
        return Admission(
            device_id=device_id,
            pool_id=pool_id,
            address=protocol.packed(ipam.address(subnet, index)),
            hub=protocol.packed(ipam.address(subnet, ipam.HUB_INDEX)),
            credential_hash=digest,
        )

    def gone(self, admitted: Iterable[Admission]) -> set[str]:
        """The ids of those devices that may no longer use the relay: left, removed, moved to
        another pool, or holding another credential now (a rejoin voids the old one)."""
        wanted = {a.device_id: a for a in admitted}
        ids = list(wanted)
        still: set[str] = set()
        with self.db.read() as s:
            for i in range(0, len(ids), _CHUNK):
                rows = s.execute(
                    select(Device.id, Device.credential_hash, Device.pool_id)
                    .join(Pool, Pool.id == Device.pool_id)
                    .where(
                        Device.id.in_(ids[i : i + _CHUNK]),
                        Device.left_at.is_(None),
                        Pool.deleted_at.is_(None),
                    )
                )
                for device_id, digest, pool_id in rows:
                    a = wanted[device_id]
                    if digest == a.credential_hash and pool_id == a.pool_id:
                        still.add(device_id)
        return set(ids) - still
