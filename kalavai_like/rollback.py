"""Multi-step changes that undo what they set up when a later step fails.

`Rollback` keeps one undo action per completed step; on failure it runs them newest first and
reports what stayed behind. `step(name)` wraps one step so that its failure rolls back and the
error names the operation and the step. `rephrase` retitles an error keeping its type and its
extra fields (a `TokenError` keeps its `reason`). The overlay (kalavai_like.net) and the agent's
join and pool start (kalavai_like.agent.progress) both use it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

from kalavai_like.errors import KalavaiError, SystemProblem

log = logging.getLogger(__name__)
E = TypeVar("E", bound=KalavaiError)


def rephrase(exc: E, title: str, message: str) -> E:
    """The same error (type, and extra fields such as a TokenError's reason) newly worded."""
    new = type(exc).__new__(type(exc))
    new.__dict__.update(exc.__dict__)
    new.title, new.message = title, message
    new.args = (f"{title}: {message}" if message else title,)
    return new


def detail(exc: KalavaiError) -> str:
    """The error in one line: its title, and its message when it has one."""
    return f"{exc.title}: {exc.message}" if exc.message else exc.title


class Rollback:
    """Undo actions of a multi-step `operation`, run newest first when a later step fails."""

    def __init__(self, operation: str = "") -> None:
        self.operation = operation
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self.left: list[str] = []  # what the last rollback could not undo

    def undo(self, what: str, action: Callable[[], None]) -> None:
        """Register how to undo the step just done (`what` names it in reports)."""
        self._undo.append((what, action))

    def rollback(self) -> list[str]:
        """Run every undo action, newest first; returns what stayed behind, and why."""
        left = self.left = []
        while self._undo:
            what, action = self._undo.pop()
            try:
                action()
            except Exception as exc:  # keep undoing the rest; report what stayed behind
                log.warning("%s: could not undo %s: %s", self.operation or "rollback", what, exc)
                left.append(f"{what} ({exc})")
        return left

    def failed(self, exc: E, title: str, cleaned: str = "") -> E:
        """Roll back, then `exc` retitled `title`; its message ends with what stayed behind
        (or with `cleaned` when nothing did)."""
        return rephrase(exc, title, detail(exc) + self._rolled_back(cleaned))

    def _rolled_back(self, cleaned: str) -> str:
        left = self.rollback()
        return " Could not remove: " + "; ".join(left) + "." if left else cleaned

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """One step: a failure inside rolls back and is re-raised as "<operation> failed
        while <name>", with the same error type (library errors become SystemProblem)."""
        log.debug("%s: %s", self.operation, name)
        title = f"{self.operation} failed while {name}"
        try:
            yield
        except KalavaiError as exc:
            raise self.failed(exc, title) from exc
        except Exception as exc:  # an unexpected library error still rolls back
            what = f"{type(exc).__name__}: {exc}"
            raise SystemProblem(title, what + self._rolled_back("")) from exc
