"""The volunteer's rules on a node: the preferences (`prefs show/set/reset`, the tray's dialog),
the rule engine applied to the running worker (kalavai_like.agent.policy), what the worker
should be (the user's wish, or paused while a rule holds it) and the timed pause.

A timed pause (`pool pause --for`, the tray's timed pauses, `prefs set paused_until`) is one
thing: the `paused_until` preference, held like any rule and ended by the policy alone. A node
built without a policy has no preferences and no timed pauses.
"""

from __future__ import annotations

import logging
from typing import Any

from kalavai_like.agent import snapshot
from kalavai_like.agent.node.shared import Shared
from kalavai_like.agent.policy import Outcome, Policy, pause_text
from kalavai_like.agent.state import Membership
from kalavai_like.agent.worker import WorkerSession
from kalavai_like.errors import Condition, KalavaiError, SystemProblem

log = logging.getLogger(__name__)


class Rules:
    """The node's policy, or none (tests and nodes built without a settings file)."""

    def __init__(self, shared: Shared, policy: Policy | None) -> None:
        self._sh = shared
        self._policy = policy

    def _need(self) -> Policy:
        if self._policy is None:
            raise SystemProblem("Preferences unavailable", "This agent runs without them.")
        return self._policy

    # ---- preferences --------------------------------------------------------------------

    def prefs(self) -> dict[str, str]:
        """The volunteer's preferences as `prefs show` prints them."""
        return self._need().prefs().to_flat()

    def set_pref(self, key: str, value: str) -> dict[str, str]:
        """Set one preference and apply it to the running worker at once (no rejoin).

        Raises:
            InvalidInput: unknown key, bad value, or beyond this machine.
        """
        with self._sh.lock:
            prefs = self._need().set(key, value)
            self.reapply()
            return prefs.to_flat()

    def reset_prefs(self, key: str | None = None) -> dict[str, str]:
        """Reset one preference (or all) to the default and apply it at once."""
        with self._sh.lock:
            prefs = self._need().reset(key)
            self.reapply()
            return prefs.to_flat()

    def set_prefs(self, table: dict[str, Any]) -> dict[str, str]:
        """Replace every preference with a `[prefs]` table (the tray's dialog)."""
        with self._sh.lock:
            prefs = self._need().replace(table)
            self.reapply()
            return prefs.to_flat()

    def update_prefs(self, values: dict[str, str]) -> dict[str, str]:
        """Set the preferences `values` names at once, keeping every other one (a timed pause);
        read and written under the lock, so two updates never lose one another."""
        with self._sh.lock:
            policy = self._need()
            prefs = policy.replace({**policy.prefs().to_flat(), **values})
            self.reapply()
            return prefs.to_flat()

    # ---- applying the rules ---------------------------------------------------------------

    def apply(self, m: Membership, w: WorkerSession) -> None:
        """Evaluate the rules and apply them to the worker (a failure is logged, not raised)."""
        if self._policy is None:
            return
        try:
            out = self._policy.tick(m, w, self._sh.ports.runtime)
        except KalavaiError as exc:
            log.warning("rules not applied: %s", exc)
            return
        self._take(out)

    def hold_now(self, m: Membership, w: WorkerSession) -> None:
        """Apply the rules at once (a timed pause just began).

        Raises:
            KalavaiError: the runtime could not freeze the worker.
        """
        self._take(self._need().tick(m, w, self._sh.ports.runtime))

    def _take(self, out: Outcome) -> None:
        sh = self._sh
        if out.changed and (out.state, out.reason) != (sh.state, sh.reason):
            sh.running_since = sh.wall() if out.state == "running" else None
            sh.set_state(out.state, out.reason)  # type: ignore[arg-type]
            sh.wakeup.set()  # the platform hears of it within one round trip

    def reapply(self) -> None:
        """Apply changed preferences to the running worker, if there is one."""
        m, w = self._sh.persisted.membership, self._sh.worker
        if m is not None and w is not None:
            self.apply(m, w)

    def holding(self) -> bool:
        """A rule (not the user's open-ended pause) keeps the worker frozen."""
        return self._policy is not None and self._policy.holding

    def desired(self, m: Membership) -> str:
        """What the worker should be: the user's wish, or paused while a rule holds it."""
        return "paused" if m.desired == "paused" or self.holding() else "running"

    def beat_state(self, m: Membership) -> tuple[str, str]:
        """The state and reason a heartbeat reports."""
        if m.desired == "running" and self.holding():
            return "paused", self.reason_text()
        return m.desired, m.pause_reason

    def reason_text(self) -> str:
        """Why the rules hold the worker, in one line."""
        return self._need().reason_text()

    def hold_on_resume(self, m: Membership, w: WorkerSession) -> str | None:
        """The user lifted their pause: the reason a rule still holds the worker, or None."""
        return self._policy.hold_on_resume(m, w) if self._policy is not None else None

    def adopted(self, m: Membership, w: WorkerSession) -> None:
        if self._policy is not None:
            self._policy.adopted(m, w)

    def forget(self) -> None:
        """The membership ended: nothing is held any more, a timed pause is over."""
        if self._policy is not None:
            self._policy.forget()

    # ---- the timed pause ------------------------------------------------------------------

    def paused_until(self) -> float | None:
        """When the timed pause ends, or None."""
        return self._policy.paused_until() if self._policy is not None else None

    def pause_until(self, until: float | None) -> None:
        """Start, move or (with None) end the timed pause.

        Raises:
            SystemProblem: this node runs without preferences.
        """
        self._need().pause_until(until)

    def end_anyway(self) -> None:
        """A pause of the volunteer's own ends a "compute anyway" (no-op without prefs)."""
        if self._policy is not None:
            self._policy.end_anyway()

    def paused_by_user(self, m: Membership) -> bool:
        """The user paused the worker: open-ended or for a while."""
        return m.desired == "paused" or self.paused_until() is not None

    # ---- reading --------------------------------------------------------------------------

    def conditions(self) -> list[Condition]:
        return self._policy.conditions() if self._policy is not None else []

    def status_fields(self, w: WorkerSession) -> dict[str, Any]:
        """The worker status fields the rules decide: the policy's, and the pause's."""
        m, until = w.m, self.paused_until()
        pause: dict[str, Any] = {"paused_until": None, "pause_reason": m.pause_reason}
        if m.desired == "running" and until is not None:
            pause = {"paused_until": until, "pause_reason": pause_text(until, self._sh.wall())}
        return {**snapshot.policy_status(w, self._policy), **pause}
