"""The relay as a process: `kalavai-like relay serve` (replicas against one PostgreSQL), and
the child `platform serve --relay-port` starts on a socket it bound (its own process, so
relaying and the API do not share one interpreter lock on a small host).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text

from kalavai_like.errors import InvalidInput, PlatformUnavailable
from kalavai_like.platform.db import Database
from kalavai_like.platform.relay.access import Access
from kalavai_like.platform.relay.server import Relay

DATABASE_ENV = "KALAVAI_LIKE_DATABASE_URL"
STATS_EVERY = 60.0


def listen(host: str, port: int, option: str = "--relay-port") -> socket.socket:
    """A listening TCP socket for the relay.

    Raises:
        InvalidInput: the port is out of range, or the address is taken or not ours.
    """
    if not 0 <= port <= 65535:
        raise InvalidInput("Bad port", f"{option} must be 1-65535 (or 0 for any); got {port}.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise InvalidInput("Cannot listen", f"relay {host}:{port}: {exc.strerror}.") from None
    return sock


def advertised(public: str, port: int) -> str:
    """HOST:PORT of the relay as devices reach it: the public URL's host."""
    host = urlsplit(public).hostname or "localhost"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_database(url: str) -> Database:
    """The platform's database, which must already hold the platform's schema.

    Raises:
        PlatformUnavailable: it cannot be opened, or no platform has set it up yet.
    """
    db = Database(url)
    try:
        with db.read() as s:
            s.execute(text("SELECT id, credential_hash, left_at FROM devices WHERE 1 = 0"))
    except Exception as exc:  # a library error at the boundary: say what failed
        db.dispose()
        raise PlatformUnavailable(
            "No platform database",
            f"The relay reads the platform's database and could not ({type(exc).__name__}). "
            "Start the platform once (it sets the database up) and give the relay the same "
            "--data-dir or database URL.",
        ) from None
    return db


def run(
    db: Database,
    listener: socket.socket,
    *,
    recheck: float = 3.0,
    keepalive: int = 10,
    parent: int | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (or, with `parent`, until that process is gone)."""
    relay = Relay(Access(db), recheck=recheck, keepalive=keepalive)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        side = [loop.create_task(_report(relay))]
        if parent is not None:
            side.append(loop.create_task(_watch_parent(parent, task)))
        try:
            await relay.serve(listener)
        finally:
            for each in side:
                each.cancel()

    try:
        with contextlib.suppress(asyncio.CancelledError):
            _run_loop(main())
    finally:
        listener.close()
        db.dispose()
        print(f"kalavai-like relay stopped: {_stats_line(relay)}", flush=True)


def _run_loop(coro: Coroutine[Any, Any, None]) -> None:
    # uvloop (the platform's extra, as for uvicorn) when present: less loop overhead per read.
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


async def _watch_parent(parent: int, task: asyncio.Task[Any]) -> None:
    """Stop when the `platform serve` that started us is gone (even if it was killed)."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    task.cancel()


async def _report(relay: Relay) -> None:
    last = -1
    while True:
        await asyncio.sleep(STATS_EVERY)
        if relay.stats.frames != last:
            last = relay.stats.frames
            print(f"kalavai-like relay: {_stats_line(relay)}", flush=True)


def _stats_line(relay: Relay) -> str:
    s = relay.stats
    refused = ", ".join(f"{k} {v}" for k, v in sorted(s.refused.items())) or "none"
    return (
        f"{len(relay.links)} connected, {s.admitted} admitted, refused: {refused}; "
        f"{s.frames} frames ({s.bytes} bytes) forwarded, dropped {s.no_route} without a route "
        f"in the sender's pool and {s.full} to full queues"
    )


@contextlib.contextmanager
def running_beside(
    listener: socket.socket | None, database_url: str, data_dir: Path
) -> Iterator[None]:
    """Run `kalavai-like relay serve` on `listener` in a child for as long as the block runs
    (nothing when `listener` is None). The database URL travels in the environment, never in
    argv."""
    if listener is None:
        yield
        return
    fd = listener.fileno()
    args = [sys.executable, "-m", "kalavai_like", "relay", "serve", "--fd", str(fd)]
    args += ["--data-dir", str(data_dir), "--exit-with-parent"]
    env = {k: v for k, v in os.environ.items() if k != DATABASE_ENV}
    if database_url:
        env[DATABASE_ENV] = database_url
    child = subprocess.Popen(args, pass_fds=(fd,), env=env, stdin=subprocess.DEVNULL)
    listener.close()  # the child has its own copy
    try:
        yield
    finally:
        child.terminate()
        child.wait(10)
