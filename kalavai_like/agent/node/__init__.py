"""The node: one membership state machine (idle -> joining -> running <-> paused -> leaving,
plus error) and the seed role, composed from protocol-typed ports.

`Node` is the core API; the LocalAPI exposes exactly its methods and `NodeClient` mirrors them.
Every method takes and returns dataclasses from kalavai_like.client.records. The desired state is
persisted through the store port on every change, and `restore()` + `tick()` (the agent's
reconcile loop) make reality match it after any restart: the container is adopted by its
membership label, the overlay restored with the same address, the ledger resumed.

The node is built along its seams: kalavai_like.agent.node.core (configuration, state, status and
the operations every part uses), .membership (join, pause, resume, leave), .seeding (the seed
role) and .reconcile (restore and the loop); `Node` adds stop, preferences and close.
"""

from __future__ import annotations

from typing import Any

from kalavai_like.agent.node.core import NodeConfig
from kalavai_like.agent.node.reconcile import Reconciler
from kalavai_like.client.records import ActionResult

__all__ = ["Node", "NodeConfig"]


class Node(Reconciler):
    """See the module docstring. Thread-safe: one lock serialises every change."""

    def stop(self) -> ActionResult:
        """Leave: final heartbeat, worker removed, overlay torn down, device deregistered.

        Idempotent: says "already stopped" when there is nothing to stop.
        """
        with self._lock:
            if self._p.membership is None and self._p.seed is None:
                return ActionResult("idle", "already stopped", already=True)
            warnings: list[str] = []
            if self._p.membership is not None:
                self._set_state("leaving", "leaving the pool")
                warnings += self._leave_worker(self._p.membership)
            if self._p.seed is not None:
                warnings += self._stop_seed(self._p.seed)
            self._set_state("idle", "not in a pool")
            return ActionResult("idle", "stopped: nothing of the pool is left", warnings=warnings)

    # ---- preferences (applied by kalavai_like.agent.policy) -----------------------------

    def prefs(self) -> dict[str, str]:
        """The volunteer's preferences as `prefs show` prints them."""
        return self._need_policy().prefs().to_flat()

    def set_pref(self, key: str, value: str) -> dict[str, str]:
        """Set one preference and apply it to the running worker at once (no rejoin).

        Raises:
            InvalidInput: unknown key, bad value, or beyond this machine.
        """
        with self._lock:
            prefs = self._need_policy().set(key, value)
            self._reapply()
            return prefs.to_flat()

    def reset_prefs(self, key: str | None = None) -> dict[str, str]:
        """Reset one preference (or all) to the default and apply it at once."""
        with self._lock:
            prefs = self._need_policy().reset(key)
            self._reapply()
            return prefs.to_flat()

    def set_prefs(self, table: dict[str, Any]) -> dict[str, str]:
        """Replace every preference with a `[prefs]` table (the tray's dialog)."""
        with self._lock:
            prefs = self._need_policy().replace(table)
            self._reapply()
            return prefs.to_flat()

    def close(self) -> None:
        """Stop background threads and close files (the pool keeps running)."""
        with self._lock:
            self._seed.close()
            if self._worker is not None:
                self._worker.close()
