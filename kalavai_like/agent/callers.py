"""Who is calling the LocalAPI, what they may do, and how much of the agent they may hold.

The socket is open to every local user, and the agent often runs as root, so a caller is
known by SO_PEERCRED at accept time: root, the agent's own uid and the operator group may
write. `Gate` bounds what the others may hold at once (connections per uid and in all);
`LocalAPILimits` also bounds a body and how long a connection may sit idle.
"""

from __future__ import annotations

import grp
import logging
import os
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalAPILimits:
    """What one caller may cost the agent. Root and the agent's own uid are not counted."""

    max_body: int = 64 * 1024  # bytes of a request body (413 past it, unread)
    idle_timeout: float = 10.0  # seconds a socket read or write may wait (then: closed)
    max_connections: int = 64  # open at once, from every other uid together
    max_per_uid: int = 8  # open at once, from one other uid


@dataclass(frozen=True)
class Peer:
    """The process at the other end of an accepted connection."""

    pid: int
    uid: int
    gid: int

    @property
    def trusted(self) -> bool:
        """Root or the agent's own uid: may write, and is never turned away."""
        return self.uid in (0, os.geteuid())

    def may_write(self, operator: int | None) -> bool:
        """Trusted, or in the operator group (its primary or a supplementary group)."""
        if self.trusted:
            return True
        return operator is not None and (self.gid == operator or operator in _groups_of(self.pid))


def peer_of(sock: socket.socket) -> Peer:
    """The (pid, uid, gid) of the process at the other end of a unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return Peer(*struct.unpack("3i", raw))


def _groups_of(pid: int) -> set[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Groups:"):
                return {int(g) for g in line.split()[1:]}
    except (OSError, ValueError):
        pass
    return set()


def operator_gid(group: str | None) -> int | None:
    """The gid of the operator group (by name or number), None when unset or unknown."""
    if not group:
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning("operator group %r does not exist: only root and the agent may write", group)
        return None


class Gate:
    """Counts open connections; turns away an untrusted caller past the limits."""

    def __init__(self, limits: LocalAPILimits) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._by_uid: Counter[int] = Counter()
        self._untrusted = 0

    def enter(self, peer: Peer) -> bool:
        """Count `peer`'s new connection in; False (nothing counted) when it may not open one."""
        with self._lock:
            if not peer.trusted:
                if (
                    self._untrusted >= self._limits.max_connections
                    or self._by_uid[peer.uid] >= self._limits.max_per_uid
                ):
                    return False
                self._untrusted += 1
            self._by_uid[peer.uid] += 1
            return True

    def leave(self, peer: Peer) -> None:
        """Count a connection `enter` let in out again."""
        with self._lock:
            self._by_uid[peer.uid] -= 1
            if not self._by_uid[peer.uid]:
                del self._by_uid[peer.uid]
            if not peer.trusted:
                self._untrusted -= 1
