"""The node: one membership state machine (idle -> joining -> running <-> paused -> leaving,
plus error) and the seed role, composed from protocol-typed ports.

`Node` is the core API; the LocalAPI exposes exactly its methods and `NodeClient` mirrors them.
Every method takes and returns dataclasses from kalavai_like.client.records. The desired state is
persisted through the store port on every change, and `restore()` + `tick()` (the agent's
reconcile loop) make reality match it after any restart: the container is adopted by its
membership label, the overlay restored with the same address, the ledger resumed.

`Node` is a thin front over parts that are each handed the one explicit shared state
(.shared.Shared: configuration, ports, lock, desired state, state and reason, the worker
session, notifications): .membership (join, pause, resume, adopt, leave), .seeding (the seed
role), .rules (preferences, the rule engine, the timed pause), .journal (what an interrupted
join or pool start left, undone after a crash) and .reconcile (restore and the loop). No
part reaches into another's private state.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from kalavai_like.agent import history, snapshot
from kalavai_like.agent.dask_access import DaskAccess
from kalavai_like.agent.node.journal import Journal
from kalavai_like.agent.node.membership import WorkerMembership
from kalavai_like.agent.node.reconcile import Reconciler
from kalavai_like.agent.node.rules import Rules
from kalavai_like.agent.node.seeding import Seeding
from kalavai_like.agent.node.shared import FINISHING, NodeConfig, Shared
from kalavai_like.agent.policy import Policy
from kalavai_like.agent.ports import PlatformPort, Ports, RuntimePort, StorePort, TemplatePort
from kalavai_like.agent.progress import OnStep
from kalavai_like.agent.worker import WorkerSession
from kalavai_like.client.records import (
    ActionResult,
    JoinRequest,
    JoinResult,
    NodeStatus,
    SeedResult,
    StartPoolRequest,
    UsagePoint,
    WorkerStatus,
)
from kalavai_like.net import KeyPair, OverlayAPI, generate_keypair

__all__ = ["Node", "NodeConfig"]


class Node:
    """See the module docstring. Thread-safe: one lock serialises every change."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        overlay: OverlayAPI,
        runtime: RuntimePort,
        templates: TemplatePort,
        platform: PlatformPort,
        store: StorePort,
        policy: Policy | None = None,
        keygen: Callable[[], KeyPair] = generate_keypair,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        ports = Ports(overlay, runtime, templates, platform)
        self._sh = sh = Shared(config, ports, store, wall=wall, mono=mono)
        self._rules = Rules(sh, policy)
        journal = Journal(sh)
        self._membership = WorkerMembership(sh, self._rules, journal, keygen)
        self._seeding = Seeding(sh, journal, keygen)
        self.dask = DaskAccess(lambda: sh.persisted.seed, config.state_dir, runtime,
                               self._seeding.head_image)  # fmt: skip
        self._reconciler = Reconciler(sh, self._membership, self._seeding, self._rules, journal)
        self.config = config
        self.changed: threading.Condition = sh.changed  # notified on every state change
        self.wakeup: threading.Event = sh.wakeup  # asks the loop for a heartbeat now
        self.started_at = sh.started_at

    @property
    def version(self) -> int:
        """Counts state changes; the watch stream waits on `changed` for it to move."""
        return self._sh.version

    def status(self) -> NodeStatus:
        """The current snapshot (cheap: built from cached observations)."""
        sh = self._sh
        w, s = sh.worker, sh.persisted.seed
        conditions = list(sh.conditions)
        if w is not None:
            conditions += w.conditions() + self._rules.conditions()
        conditions += self._seeding.conditions()
        state, reason = sh.state, sh.reason
        if state == "idle" and s is not None:
            state, reason = "running", f"seed of pool {s.pool_name}"
        return NodeStatus(
            state=state,
            reason=reason,
            worker=self._worker_status(w) if w is not None else None,
            seed=self._seeding.status(),
            conditions=conditions,
            agent_pid=os.getpid(),
            agent_started_at=self.started_at,
            at=sh.wall(),
        )

    def _worker_status(self, w: WorkerSession) -> WorkerStatus:
        sh = self._sh
        spoke, read_at = sh.spoke
        extra = self._rules.status_fields(w)
        return snapshot.worker_status(w, spoke, read_at, sh.running_since, sh.wall(), extra)

    def usage_history(self, since: float, step: float) -> list[UsagePoint]:
        """The worker's average use per `step` seconds from `since` until now, from the ledger
        (kalavai_like.agent.history): zero while paused, no point while the agent was down,
        empty when not in a pool.

        Raises:
            InvalidInput: a bad `since`/`step`, or more than history.MAX_POINTS points.
        """
        now = self._sh.wall()
        history.check_request(since, step, now)
        w = self._sh.worker
        if w is None:
            return []
        gap = max(history.DEFAULT_MAX_GAP, 4 * self.config.sample_interval)
        return history.usage_points(w.ledger.rows_since(since), since, step, now, max_gap=gap)

    # ---- the membership (kalavai_like.agent.node.membership) ------------------------------

    def join(self, req: JoinRequest, on_step: OnStep | None = None) -> JoinResult:
        """Redeem a join token, bring up the overlay and the worker, send the first heartbeat.

        Raises:
            Conflict: this node already works for a pool.
            KalavaiError: a step failed (named in the title); everything it set up was undone.
        """
        return self._membership.join(req, on_step)

    def pause(self, for_seconds: float | None = None, reason: str = "") -> ActionResult:
        """Freeze the worker and stop accrual, until resumed or for `for_seconds`.

        Raises:
            NotFound: this node is not in a pool.
            SystemProblem: a timed pause on a node without preferences.
        """
        return self._membership.pause(for_seconds, reason)

    def resume(self) -> ActionResult:
        """Thaw the worker and restart accrual (ends a timed pause too).

        Raises:
            NotFound: this node is not in a pool.
        """
        return self._membership.resume()

    # ---- the seed role (kalavai_like.agent.node.seeding) ----------------------------------

    def start_pool(self, req: StartPoolRequest, on_step: OnStep | None = None) -> SeedResult:
        """Become the pool's seed: register the hub, bring it up, start the head container.

        Raises:
            Conflict: this node is already the seed of another pool.
            KalavaiError: a step failed (named in the title); everything it set up was undone.
        """
        return self._seeding.start_pool(req, on_step)

    # ---- the loop (kalavai_like.agent.node.reconcile) -------------------------------------

    def restore(self) -> None:
        """Load the persisted desired state and make reality match it (after any restart)."""
        self._reconciler.restore()

    def tick(self) -> float:
        """One pass of the reconcile loop; returns the seconds until the next is due."""
        return self._reconciler.tick()

    # ---- preferences (kalavai_like.agent.node.rules) --------------------------------------

    def prefs(self) -> dict[str, str]:
        """The volunteer's preferences as `prefs show` prints them."""
        return self._rules.prefs()

    def set_pref(self, key: str, value: str) -> dict[str, str]:
        """Set one preference and apply it to the running worker at once (no rejoin).

        Raises:
            InvalidInput: unknown key, bad value, or beyond this machine.
        """
        return self._rules.set_pref(key, value)

    def reset_prefs(self, key: str | None = None) -> dict[str, str]:
        """Reset one preference (or all) to the default and apply it at once."""
        return self._rules.reset_prefs(key)

    def set_prefs(self, table: dict[str, Any]) -> dict[str, str]:
        """Replace every preference with a `[prefs]` table."""
        return self._rules.set_prefs(table)

    def update_prefs(self, values: dict[str, str]) -> dict[str, str]:
        """Set the preferences `values` names, keeping the others (the tray's dialog)."""
        return self._rules.update_prefs(values)

    # ---- leaving and closing --------------------------------------------------------------

    def stop(self) -> ActionResult:
        """Leave: final heartbeat, worker removed, overlay torn down, device deregistered.

        Idempotent: says "already stopped" when there is nothing to stop.
        """
        sh = self._sh
        with sh.lock:
            if sh.persisted.membership is None and sh.persisted.seed is None:
                return ActionResult("idle", "already stopped", already=True)
            warnings: list[str] = []
            if sh.persisted.membership is not None:
                sh.set_state("leaving", "leaving the pool")
                warnings += self._membership.leave()
            self.dask.disconnect()
            warnings += self._seeding.stop()
            sh.set_state("idle", "not in a pool")
            return ActionResult("idle", "stopped: nothing of the pool is left", warnings=warnings)

    def finish(self) -> ActionResult:
        """`pool stop --finish`: fetch no new work and leave once the current work is done
        (BOINC: the client detaches after reporting its tasks; Dask: the worker retires
        gracefully and exits); the reconcile loop then leaves. A worker with nothing to finish
        leaves now, as `stop` does.

        Raises:
            SystemProblem: the BOINC client does not answer (nothing changed).
        """
        sh = self._sh
        with sh.lock:
            m, w = sh.persisted.membership, sh.worker
            if m is None or w is None:
                return self.stop()
            if m.finishing:
                return ActionResult(sh.state, "already finishing", already=True)
            if not w.start_finishing():
                return self.stop()
            m.finishing = True
            sh.save()
            sh.set_state("running", FINISHING)
            return ActionResult("running", "finishing: no new work; this node leaves the pool "
                                "once the current work is done")  # fmt: skip

    def freeze(self) -> str | None:
        """For a graceful agent stop: freeze the worker after a last heartbeat (the next agent
        thaws it). Returns the pool's name when a worker was frozen."""
        return self._membership.freeze()

    def close(self) -> None:
        """Stop background threads and close files (the overlay and the hub keep running)."""
        self.dask.disconnect()
        with self._sh.lock:
            self._seeding.close()
            if self._sh.worker is not None:
                self._sh.worker.close()
