"""One tray per user and instance: an flock on `tray.lock` in the instance's run directory
decides who runs, and a QLocalServer on `tray.sock` next to it lets a second launch ask the
running tray to show its window (or open a join link's Join) before it exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

SHOW = b"show\n"
JOIN = b"join "  # + a kalavai-like://join link (no secret in it) + newline


class SingleInstance(QObject):
    """Holds the instance's socket; `show_requested` fires when another launch knocks."""

    show_requested = Signal()
    join_requested = Signal(str)  # a join link

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.path = run_dir / "tray.sock"
        self.lock_path = run_dir / "tray.lock"
        self.server: QLocalServer | None = None
        self._lock_fd: int | None = None
        self._clients: list[QLocalSocket] = []

    def knock(self, url: str | None = None, timeout_ms: int = 500) -> bool:
        """True if a tray already runs (it was asked to show itself, or to open the join
        link `url`)."""
        sock = QLocalSocket()
        sock.connectToServer(str(self.path))
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(JOIN + url.replace("\n", "").encode() + b"\n" if url else SHOW)
        sock.waitForBytesWritten(timeout_ms)
        sock.disconnectFromServer()
        return True

    def claim(self) -> bool:
        """Become the one tray: False if another holds the lock. Then listen on the socket
        (replacing a dead tray's stale one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        QLocalServer.removeServer(str(self.path))
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(str(self.path)):
            return True  # still the one tray; a second launch just cannot knock
        server.newConnection.connect(self.on_new_connection)
        self.server = server
        return True

    def on_new_connection(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            sock.setParent(None)  # ours to close, not the server's to delete under us
            self._clients.append(sock)
            sock.readyRead.connect(self.on_ready_read)

    def on_ready_read(self) -> None:
        for sock in list(self._clients):
            data = bytes(sock.readAll().data())
            if not data:
                continue
            self._clients.remove(sock)
            sock.readyRead.disconnect(self.on_ready_read)
            sock.abort()
            if data.startswith(SHOW.strip()):
                self.show_requested.emit()
            elif data.startswith(JOIN):
                self.join_requested.emit(data[len(JOIN) :].decode(errors="replace").strip())

    def release(self) -> None:
        for sock in self._clients:
            sock.abort()
        self._clients.clear()
        if self.server is not None:
            self.server.close()
            self.server = None
            with contextlib.suppress(OSError):
                self.path.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
