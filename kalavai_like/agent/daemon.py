"""The agent daemon: one per home (lock), rotating log, the LocalAPI, and the reconcile loop
that drives the `Node` until SIGTERM/SIGINT. Stopping the agent leaves the pool running (the
worker, overlay and hub keep going and are adopted by the next agent); `pool stop` leaves it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from kalavai_like.agent.client import NodeClient
from kalavai_like.agent.localapi import LocalAPIServer
from kalavai_like.agent.metrics_server import serve_from_settings
from kalavai_like.agent.store import AgentLock, listen_path, log_path, setup_logging
from kalavai_like.errors import AgentUnavailable, KalavaiError
from kalavai_like.paths import Paths
from kalavai_like.settings import Settings

log = logging.getLogger(__name__)


def run_agent(
    paths: Paths,
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
    **overrides: Any,
) -> None:
    """Run the agent in this process until `stop` is set or a signal arrives.

    Raises:
        Conflict: another agent runs for this home.
        SystemProblem: the container engine or a directory is unusable.
    """
    from kalavai_like.composition import build_node

    paths.ensure()
    lock = AgentLock(paths.run / "agent.lock").acquire()
    handler = setup_logging(log_path(paths))
    stop = stop or threading.Event()
    server = None
    metrics = None
    node = None
    try:
        node = build_node(paths, settings, **overrides)
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: FrameType | None) -> None:
                stop.set()
                node.wakeup.set()

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        operator = str((settings.extra.get("agent") or {}).get("operator_group") or "")
        server = LocalAPIServer(listen_path(paths), node, operator or None).start()
        log.info("agent %d serving on %s", os.getpid(), listen_path(paths))
        metrics = serve_from_settings(settings.extra.get("agent") or {}, node)  # opt-in
        node.restore()
        if ready is not None:
            ready.set()
        while not stop.is_set():
            try:
                delay = node.tick()
            except KalavaiError as exc:
                log.warning("reconcile: %s", exc)
                delay = 5.0
            except Exception:
                log.exception("reconcile")
                delay = 5.0
            node.wakeup.wait(delay)
    finally:
        if metrics is not None:
            metrics.close()
        if server is not None:
            server.close()
        if node is not None:
            node.close()
        log.info("agent %d stopped", os.getpid())
        logging.getLogger().removeHandler(handler)
        handler.close()
        lock.release()


def start_background(paths: Paths, home: str | None, timeout: float = 20.0) -> int:
    """Start `kalavai-like agent` detached (its output to the agent log); returns its PID
    once its LocalAPI answers.

    Raises:
        AgentUnavailable: it did not come up in time (with the end of its log).
    """
    paths.ensure()
    argv = [sys.executable, "-m", "kalavai_like"]
    if home:
        argv += ["--home", home]
    argv.append("agent")
    out = open(log_path(paths).with_suffix(".out"), "ab")
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
    )
    out.close()
    client = NodeClient(listen_path(paths))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            client.ping()
            return proc.pid
        except AgentUnavailable:
            time.sleep(0.05)
    tail = _tail(log_path(paths).with_suffix(".out"))
    raise AgentUnavailable("The agent did not start", tail or "See the agent log.")


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
