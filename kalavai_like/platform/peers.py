"""Peer-list change notification for hubs' long-polls.

Each pool has a `peer_version` column, bumped in the same transaction as any join, leave or
key change. A long-poll re-reads that column at least every POLL seconds, so it works with
several replicas on one PostgreSQL; inside one process a commit also wakes waiters at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.orm import Session

from kalavai_like.platform.models import Pool

POLL = 0.5


def bump(session: Session, pool_id: str) -> None:
    """Increment the pool's peer-list version (call inside the write transaction)."""
    session.execute(
        update(Pool).where(Pool.id == pool_id).values(peer_version=Pool.peer_version + 1)
    )


class PeerWatch:
    """Wakes long-polls of one process when a pool's peer list changed."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def notify(self, pool_id: str) -> None:
        """Wake waiters on `pool_id`; safe to call from any thread, after the commit."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake, pool_id)

    def _wake(self, pool_id: str) -> None:
        for event in self._waiters.pop(pool_id, set()):
            event.set()

    async def wait(self, pool_id: str, timeout: float) -> None:
        """Return when notified about `pool_id` or after `timeout` seconds."""
        event = asyncio.Event()
        self._waiters.setdefault(pool_id, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            waiters = self._waiters.get(pool_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    self._waiters.pop(pool_id, None)


class Peer(BaseModel):
    """One worker on the hub's peer list; `user` names its owner within this pool only
    (user_pseudonym), so the pool's head can keep two results of one workunit off one user."""

    device_id: str
    public_key: str
    address: str
    address6: str
    user: str = ""


def user_pseudonym(pool_id: str, user_id: str) -> str:
    """The same for all of a user's devices in one pool, unrelated across pools."""
    return hashlib.sha256(f"kalavai-user:{pool_id}:{user_id}".encode()).hexdigest()[:32]


class PeersOut(BaseModel):
    """The hub's peer list and its version."""

    version: int
    peers: list[Peer]
