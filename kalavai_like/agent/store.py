"""The agent's files in its home: the persisted desired state (0600: it holds the device
credential and the WireGuard private key), the one-agent-per-home lock, and rotating logs."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import logging.handlers
import os
from pathlib import Path
from typing import Any

from kalavai_like.errors import Conflict, SystemProblem
from kalavai_like.home.files import open_private_append, write_json
from kalavai_like.home.paths import Paths

log = logging.getLogger(__name__)


def agent_dir(paths: Paths) -> Path:
    """The agent's private state directory (0700)."""
    return paths.state / "agent"


class JsonStore:
    """The node's desired state as one JSON file, replaced atomically, 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none.

        Raises:
            SystemProblem: the file exists but cannot be read or parsed.
        """
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SystemProblem(
                "Agent state unreadable", f"{self.path}: {exc}. Move it aside to start afresh."
            ) from exc

    def save(self, data: dict[str, Any]) -> None:
        write_json(self.path, data, secret=True)


class AgentLock:
    """An exclusive flock on `<run>/agent.lock`: one agent per home. Released on exit or crash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> AgentLock:
        """Take the lock.

        Raises:
            Conflict: another agent holds it (its PID is named).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Conflict(
                "An agent already runs for this home",
                f"PID {holder} holds {self.path}. Stop it first, or use another --home.",
            ) from None
        self._fd = fd
        try:  # who holds it, for `holder_pid`; the flock alone is the lock
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:  # a full disk must not stop the agent from starting
            log.warning("agent PID not written to %s: %s", self.path, exc)
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def holder_pid(path: Path) -> int | None:
    """The PID of the agent holding the lock at `path`, None when no agent holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """Each log file (the first and each after a rotation) is created 0600: the log names
    pools, devices and addresses, and errors may quote what a platform answered."""

    def _open(self) -> io.TextIOWrapper:
        stream = open_private_append(Path(self.baseFilename))
        assert isinstance(stream, io.TextIOWrapper)  # text mode: os.fdopen's text wrapper
        return stream


def setup_logging(path: Path, level: int = logging.INFO) -> logging.Handler:
    """Log to `path` (0600, in a 0700 directory), rotating at 1 MB with 3 old files kept."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = _PrivateRotatingHandler(path, maxBytes=1_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
