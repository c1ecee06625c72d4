"""The journal of a join or a pool start: each part is written down before it is set up (the
device at the platform, the namespace and WireGuard, the container), so that an agent killed
mid-way leaves nothing behind. The next agent undoes what an unfinished operation left
(`recover`, at start) and retries what it could not undo yet, such as the device at an
unreachable platform, on later ticks (`retry`).

Undoing rather than finishing: the operation's caller is gone with the old agent, and a step that
crashed the agent once would crash it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kalavai_like.agent.node.shared import Shared
from kalavai_like.agent.state import Unfinished
from kalavai_like.errors import AuthError, KalavaiError
from kalavai_like.rollback import detail

log = logging.getLogger(__name__)


class Journal:
    """The unfinished operations in the persisted state (under the node's lock)."""

    def __init__(self, shared: Shared) -> None:
        self._sh = shared

    def begin(self, operation: str, role: str, name: str) -> Unfinished:
        """Write down that `operation` starts, before it sets anything up.

        Raises:
            SystemProblem: the state could not be saved (the operation must not start).
        """
        u = Unfinished.from_dict(
            {
                "operation": operation,
                "started_at": self._sh.wall(),
                "role": role,
                "prefix": self._sh.config.prefix,
                "name": name,
            }
        )
        self._sh.persisted.unfinished.append(u)
        self._sh.save(required=True)
        return u

    def note(self, u: Unfinished, **parts: str | bool) -> None:
        """Write down the part about to be set up (`credential`: the one just made).

        Raises:
            SystemProblem: the state could not be saved (the part must not be set up).
        """
        for key, value in parts.items():
            setattr(u, key, value)
        self._sh.save(required=True)

    def settle(self, u: Unfinished, *, cleaned: bool = True) -> None:
        """The operation finished or rolled back; without `cleaned` its rollback left parts
        behind, which later ticks undo again. The caller saves."""
        others = [x for x in self._sh.persisted.unfinished if x is not u]
        self._sh.persisted.unfinished = others if cleaned else [*others, u]

    def recover(self) -> None:
        """Undo what unfinished operations left (after a restart); the node's reason says so."""
        if not self._sh.persisted.unfinished:
            return
        what = ", ".join(sorted({u.operation for u in self._sh.persisted.unfinished}))
        left = self.retry()
        done = "; could not undo yet: " + "; ".join(left) if left else ""
        log.warning("an interrupted %s was undone%s", what, done)
        self._sh.set_state("idle", f"an interrupted {what} was undone{done}")

    def retry(self) -> list[str]:
        """Undo every unfinished operation's parts; returns what could not be undone yet."""
        sh = self._sh
        left: list[str] = []
        for u in list(sh.persisted.unfinished):
            left += self._undo(u)
        sh.persisted.unfinished = [u for u in sh.persisted.unfinished if u.left]
        self._flag(left)
        sh.save()
        return left

    def _undo(self, u: Unfinished) -> list[str]:
        ports = self._sh.ports
        down = ports.overlay.down_hub if u.role == "hub" else ports.overlay.down_spoke
        parts: list[tuple[str, str, Callable[[], None]]] = [
            ("container", u.container, lambda: ports.runtime.remove(u.container)),
            ("network", "x" if u.network else "", lambda: down(u.prefix, u.name)),
            ("credential", u.credential, lambda: self._leave(u)),
        ]
        left: list[str] = []
        for attr, value, action in parts:
            if not value:
                continue
            try:
                action()
            except KalavaiError as exc:
                left.append(f"{u.operation}'s {attr}: {detail(exc)}")
                continue
            setattr(u, attr, False if attr == "network" else "")
        return left

    def _leave(self, u: Unfinished) -> None:
        try:
            self._sh.ports.platform.leave(u.platform, u.credential)
        except AuthError:
            pass  # the credential is void already: the device has left

    def _flag(self, left: list[str]) -> None:
        fix = "The agent retries; check that the platform is reachable."
        title = "Interrupted join not fully undone" if left else ""
        self._sh.flag("unfinished", title, "; ".join(left) + ". " + fix)
