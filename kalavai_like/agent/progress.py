"""Progress of a multi-step node operation (join, pool start): each step reported with its
time as it happens, an undo action per completed step, and the error that names the step."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from kalavai_like.client.records import Step
from kalavai_like.errors import KalavaiError

log = logging.getLogger(__name__)
OnStep = Callable[[Step], None]


def rephrase(exc: KalavaiError, title: str, message: str) -> KalavaiError:
    """The same error type (and reason) with a new title and message."""
    new = type(exc).__new__(type(exc))
    new.__dict__.update(exc.__dict__)
    new.title, new.message = title, message
    new.args = (f"{title}: {message}",)
    return new


class Progress:
    """Reports each step with its time and keeps the undo actions of a multi-step operation."""

    def __init__(self, on_step: OnStep | None, wall: Callable[[], float]) -> None:
        self.done: list[Step] = []
        self.current = "starting"
        self._on_step = on_step
        self._wall = wall
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def step(self, text: str, *, current: str | None = None) -> None:
        s = Step(self._wall(), text)
        self.done.append(s)
        self.current = current or text
        log.info("step: %s", text)
        if self._on_step is not None:
            with contextlib.suppress(Exception):  # a gone client must not break the join
                self._on_step(s)

    def undo(self, what: str, action: Callable[[], None]) -> None:
        self._undo.append((what, action))

    def rollback(self) -> list[str]:
        left: list[str] = []
        while self._undo:
            what, action = self._undo.pop()
            try:
                action()
            except Exception as exc:
                log.warning("rollback: could not undo %s: %s", what, exc)
                left.append(f"{what} ({exc})")
        return left
