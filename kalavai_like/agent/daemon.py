"""The agent daemon: one per home (lock), rotating log, the LocalAPI, and the reconcile loop
that drives the `Node` until SIGTERM/SIGINT. Stopping the agent freezes the worker (nothing is
lent unaccounted while no agent runs) and leaves word of it next to the socket; the overlay and
the hub keep going, and the next agent adopts all of it and thaws the worker. A crash leaves the
worker running, counted by its cgroup, and the next agent adopts it as it is. `pool stop` leaves
the pool.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from kalavai_like.agent.localapi import LocalAPIServer
from kalavai_like.agent.metrics_server import serve_from_settings
from kalavai_like.agent.store import AgentLock, setup_logging
from kalavai_like.client.local import listen_path, log_path, stopped_path
from kalavai_like.errors import KalavaiError
from kalavai_like.home.files import write_json
from kalavai_like.home.paths import Paths
from kalavai_like.home.settings import Settings

if TYPE_CHECKING:
    from kalavai_like.agent.node import Node

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
    from kalavai_like.agent.composition import build_node

    paths.ensure()
    lock = AgentLock(paths.run / "agent.lock").acquire()
    handler = setup_logging(log_path(paths))
    stop = stop or threading.Event()
    server = None
    metrics = None
    node = None
    stopped_path(listen_path(paths)).unlink(missing_ok=True)
    try:
        node = build_node(paths, settings, **overrides)
        _stop_on_signals(stop, node)
        operator = str((settings.extra.get("agent") or {}).get("operator_group") or "")
        server = LocalAPIServer(listen_path(paths), node, operator_group=operator).start()
        log.info("agent %d serving on %s", os.getpid(), listen_path(paths))
        metrics = serve_from_settings(settings.extra.get("agent") or {}, node)  # opt-in
        node.restore()
        if ready is not None:
            ready.set()
        _reconcile(node, stop)
        _leave_word(paths, node.freeze())
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


def _leave_word(paths: Paths, frozen_pool: str | None) -> None:
    """Say, next to the socket, that the agent was stopped and which pool's worker is frozen."""
    note = {"stopped_at": time.time(), "frozen_pool": frozen_pool}
    try:
        write_json(stopped_path(listen_path(paths)), note)
    except KalavaiError as exc:
        log.warning("could not leave word of the stop: %s", exc)


def _stop_on_signals(stop: threading.Event, node: Node) -> None:
    """SIGTERM and SIGINT end the loop (signals reach the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        node.wakeup.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _reconcile(node: Node, stop: threading.Event) -> None:
    """The reconcile loop: one `tick()` whenever due or woken, until `stop` is set."""
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
