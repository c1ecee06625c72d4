"""The bridge between the GUI thread and everything that may block: agent calls through
`NodeClient`, platform calls, the keyring. Each call runs on a `QThreadPool` and comes back as
signals (maestral-qt's Worker + emitter); failures are emitted as KalavaiError, never printed.
The agent's watch stream runs on its own daemon thread and re-emits snapshots as
`status_changed`; when no agent answers it emits `agent_lost` and keeps retrying.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from kalavai_like.client.local import NodeClient
from kalavai_like.errors import AgentUnavailable, KalavaiError

log = logging.getLogger(__name__)
RETRY_MAX = 5.0


def as_error(exc: BaseException) -> KalavaiError:
    """A KalavaiError for anything a call raised (library errors become a readable one)."""
    if isinstance(exc, KalavaiError):
        return exc
    log.exception("unexpected error in a background call", exc_info=exc)
    return KalavaiError("Unexpected error", f"{type(exc).__name__}: {exc}")


class Call(QObject):
    """One background call's signals: `progressed` (steps), then `finished` or `failed`."""

    progressed = Signal(object)
    finished = Signal(object)
    failed = Signal(object)


class _Runnable(QRunnable):
    def __init__(self, call: Call, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__()
        self.call, self.fn, self.args = call, fn, args
        self.setAutoDelete(True)

    def run(self) -> None:
        kwargs: dict[str, Any] = {}
        try:
            if "progress" in inspect.signature(self.fn).parameters:
                kwargs["progress"] = self.call.progressed.emit
        except (TypeError, ValueError):
            pass
        try:
            result = self.fn(*self.args, **kwargs)
        except BaseException as exc:
            self.call.failed.emit(as_error(exc))
        else:
            self.call.finished.emit(result)


class _WatchEmitter(QObject):
    status = Signal(object)
    lost = Signal(object)


class Bridge(QObject):
    """Runs calls off the GUI thread; follows the agent's status stream."""

    status_changed = Signal(object)  # NodeStatus
    agent_lost = Signal(object)  # AgentUnavailable (or another KalavaiError)
    busy_changed = Signal(int)  # calls under way

    def __init__(self, node: NodeClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.node = node
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self._calls: set[Call] = set()
        self._emitter = _WatchEmitter()
        self._emitter.status.connect(self.status_changed)
        self._emitter.lost.connect(self.agent_lost)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # ---- one-off calls --------------------------------------------------------------------

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[KalavaiError], None] | None = None,
        progress: Callable[[Any], None] | None = None,
    ) -> Call:
        """Run `fn(*args)` on the pool; `fn` gets `progress=` if it takes one."""
        c = Call()
        if progress is not None:
            c.progressed.connect(progress)
        if done is not None:
            c.finished.connect(done)
        if failed is not None:
            c.failed.connect(failed)
        c.finished.connect(lambda _r, c=c: self._forget(c))
        c.failed.connect(lambda _e, c=c: self._forget(c))
        self._calls.add(c)
        self.busy_changed.emit(len(self._calls))
        self.pool.start(_Runnable(c, fn, args))
        return c

    def _forget(self, c: Call) -> None:
        self._calls.discard(c)
        self.busy_changed.emit(len(self._calls))

    @property
    def pending(self) -> int:
        return len(self._calls)

    # ---- the watch stream -----------------------------------------------------------------

    def start_watching(self) -> None:
        if self._watcher is not None and self._watcher.is_alive():
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="agent-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                for status in self.node.watch():
                    if self._stop.is_set():
                        return
                    self._emitter.status.emit(status)
                    delay = 0.5
                problem: KalavaiError = AgentUnavailable(
                    "The kalavai-like agent stopped", "Its status stream ended."
                )
            except KalavaiError as exc:
                problem = exc
            except (OSError, ValueError) as exc:  # a torn or garbled stream
                problem = AgentUnavailable("Lost the agent", f"{type(exc).__name__}: {exc}")
            if self._stop.is_set():
                return
            self._emitter.lost.emit(problem)
            self._stop.wait(delay)
            delay = min(RETRY_MAX, delay * 2)

    def shutdown(self, wait_ms: int = 2000) -> bool:
        """Stop following the agent and wait a little for calls; True if all finished."""
        self._stop.set()
        self.pool.clear()
        return self.pool.waitForDone(wait_ms)
