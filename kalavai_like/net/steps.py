"""A multi-step system change that rolls back what it did when a later step fails."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from kalavai_like.errors import KalavaiError, SystemProblem

log = logging.getLogger(__name__)


class Steps:
    """Records an undo action per completed step; `rollback()` runs them newest first.

    A failure inside `step(name)` is re-raised as the same error type, titled with the
    operation and the step, so the user learns where it stopped.
    """

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self._undo: list[tuple[str, Callable[[], None]]] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        log.debug("%s: %s", self.operation, name)
        try:
            yield
        except KalavaiError as exc:
            self.rollback()
            raise type(exc)(f"{self.operation} failed while {name}", _detail(exc)) from exc
        except Exception as exc:  # an unexpected library error still rolls back
            self.rollback()
            raise SystemProblem(
                f"{self.operation} failed while {name}", f"{type(exc).__name__}: {exc}"
            ) from exc

    def undo(self, name: str, action: Callable[[], None]) -> None:
        self._undo.append((name, action))

    def rollback(self) -> None:
        while self._undo:
            name, action = self._undo.pop()
            try:
                action()
            except Exception:  # keep undoing the rest; report what stayed behind
                log.warning("%s: could not undo %s", self.operation, name, exc_info=True)


def _detail(exc: KalavaiError) -> str:
    return f"{exc.title}: {exc.message}" if exc.message else exc.title
