"""Progress of a multi-step node operation (join, pool start): each step reported with its
time as it happens, and the undo actions of kalavai_like.rollback for what it set up."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from kalavai_like.client.records import Step
from kalavai_like.rollback import Rollback

log = logging.getLogger(__name__)
OnStep = Callable[[Step], None]


class Progress(Rollback):
    """Reports each step with its time; `current` names the step under way (for errors)."""

    def __init__(self, on_step: OnStep | None, wall: Callable[[], float]) -> None:
        super().__init__()
        self.done: list[Step] = []
        self.current = "starting"
        self._on_step = on_step
        self._wall = wall

    def report(self, text: str, *, current: str | None = None) -> None:
        """A step is done (`text`); `current` (default: `text`) names what comes next."""
        s = Step(self._wall(), text)
        self.done.append(s)
        self.current = current or text
        log.info("step: %s", text)
        if self._on_step is not None:
            with contextlib.suppress(Exception):  # a gone client must not break the join
                self._on_step(s)
