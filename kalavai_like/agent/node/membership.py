"""A worker membership's lifecycle on a node: join (with its steps and rollback), pause,
resume (a rule may keep holding the worker) and leaving the pool."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

from kalavai_like import tokens
from kalavai_like.agent.node.core import NodeCore
from kalavai_like.agent.progress import OnStep, Progress, rephrase
from kalavai_like.agent.state import Membership
from kalavai_like.client.records import ActionResult, JoinRequest, JoinResult, bare
from kalavai_like.errors import Conflict, KalavaiError, SystemProblem


class WorkerMembership(NodeCore):
    """Join, pause, resume and leave the one worker membership (under the node's lock)."""

    def join(self, req: JoinRequest, on_step: OnStep | None = None) -> JoinResult:
        """Redeem a join token, bring up the overlay and the worker, send the first heartbeat.

        Raises:
            Conflict: this node already works for a pool.
            KalavaiError: a step failed (named in the title); everything it set up was undone.
        """
        with self._lock:
            if self._p.membership is not None:
                raise Conflict(
                    "Already in a pool",
                    f"This node works for pool {self._p.membership.pool_name}. "
                    "Run `kalavai-like pool stop` first.",
                )
            steps = Progress(on_step, self._wall)
            self._set_state("joining", "joining a pool")
            try:
                result = self._join(req, steps)
            except KalavaiError as exc:
                left = steps.rollback()
                self._p.membership = None
                self._worker = None
                self._set_state("idle", f"last join failed: {exc.title}")
                note = (
                    " Everything the join set up was removed."
                    if not left
                    else " Could not remove: " + "; ".join(left) + "."
                )
                detail = f"{exc.title}: {exc.message}" if exc.message else exc.title
                raise rephrase(exc, f"Join failed while {steps.current}", detail + note) from exc
            self._set_state("running", "contributing")
            return result

    def _join(self, req: JoinRequest, steps: Progress) -> JoinResult:
        steps.current = "checking the token"
        tok = tokens.parse(req.token)
        steps.step(f"Token format is correct (pool {tok.pool_name} at {tok.platform})")
        steps.current = "generating WireGuard keys"
        keys = self._keygen()
        steps.step("Registering this machine with the platform", current="registering")
        red = self._platform.redeem(
            tok.platform,
            req.api_token,
            token=req.token,
            public_key=keys.public,
            name=req.device_name or self.config.device_name or os.uname().nodename,
            cores=max(1, min(math.ceil(req.cpus), os.cpu_count() or 1)),  # never above the host
            memory_bytes=req.memory_bytes,
            gpus=req.gpus,
        )
        m = self._membership_from(red, tok.platform, keys, req)
        if not red.get("hub"):
            self._platform.leave(m.platform, m.credential)
            raise Conflict(
                "The pool has no hub yet",
                f"Pool {m.pool_name} is not started: its owner runs `kalavai-like pool start`.",
            )
        steps.undo("device at the platform", lambda: self._platform.leave(m.platform, m.credential))
        steps.step(f"Using {bare(m.address)} address for worker")
        steps.step(f"Joining private network (hub {m.hub_endpoint})", current="joining the network")
        up = self._overlay.up_spoke(self._spoke_config(m), self.config.handshake_timeout)
        self._spoke = (up, self._wall())
        steps.undo("network namespace and WireGuard", lambda: self._down_spoke(m))
        steps.step("Connected to the hub (first WireGuard handshake done)")
        spec = self._worker_spec(m)
        steps.step(f"Starting worker container {spec.name} ({spec.image})",
                   current="starting the worker container")  # fmt: skip
        steps.undo("worker container", lambda: self._runtime.remove(spec.name))
        supervisor = self._supervisor(spec)
        info = self._runtime.state(supervisor.start().container_id or spec.name)
        if info.state != "running":
            raise SystemProblem(
                "Worker container did not start", f"{spec.name}: {info.describe_exit()}."
            )
        self._p.membership = m
        self._save()
        steps.undo("saved membership", self._forget_membership)
        w = self._start_session(m, info, supervisor)
        self._running_since = self._wall()
        steps.step("Worker is running", current="sending the first heartbeat")
        w.sample()
        w.heartbeat("running")
        self._schedule_all()
        steps.step("First heartbeat acknowledged: contributing to the pool")
        return JoinResult(m.pool_name, bare(m.address) or "", m.device_id, spec.name, steps.done)

    def pause(self, for_seconds: float | None = None, reason: str = "") -> ActionResult:
        """Freeze the worker and stop accrual (optionally for a while).

        Raises:
            NotFound: this node is not in a pool.
        """
        with self._lock:
            m, w = self._need_worker()
            until = self._wall() + for_seconds if for_seconds else None
            why = reason or ("paused until " + time.strftime("%H:%M", time.localtime(until))
                             if until else "paused by the user")  # fmt: skip
            if m.desired == "paused":
                m.paused_until, m.pause_reason = until, why
                self._save()
                self._set_state("paused", why)
                return ActionResult("paused", "already paused", already=True)
            self._runtime.pause(w.container_id)
            w.container_state = "paused"
            w.set_running(False)
            m.desired, m.paused_until, m.pause_reason = "paused", until, why
            self._save()
            self._running_since = None
            self._set_state("paused", why)
            self.wakeup.set()
            return ActionResult("paused", "paused: the worker is frozen and accrues nothing")

    def resume(self) -> ActionResult:
        """Thaw the worker and restart accrual.

        Raises:
            NotFound: this node is not in a pool.
        """
        with self._lock:
            m, w = self._need_worker()
            if m.desired == "running":
                if self._policy is not None and self._policy.holding:
                    why = self._policy.reason_text()
                    return ActionResult("paused", f"not paused by you: {why} holds the worker",
                                        already=True)  # fmt: skip
                return ActionResult("running", "already running", already=True)
            before = m.desired, m.paused_until, m.pause_reason
            m.desired, m.paused_until, m.pause_reason = "running", None, ""
            held = self._policy.hold_on_resume(m, w) if self._policy is not None else None
            if held:  # the worker stays frozen; the rule lifts by itself
                self._save()
                self._set_state("paused", held)
                self.wakeup.set()
                return ActionResult(
                    "paused", f"resumed your pause, but {held} still holds the worker"
                )
            try:
                self._runtime.unpause(w.container_id)
            except KalavaiError:
                m.desired, m.paused_until, m.pause_reason = before
                raise
            w.container_state = "running"
            w.set_running(True)
            self._save()
            self._running_since = self._wall()
            self._set_state("running", "contributing")
            self.wakeup.set()
            return ActionResult("running", "resumed: the worker runs again")

    def _leave_worker(self, m: Membership) -> list[str]:
        warnings: list[str] = []
        w = self._worker
        if w is not None:
            try:
                w.sample()
                w.heartbeat("leaving", "left the pool")
            except KalavaiError as exc:
                warnings.append(f"final heartbeat not sent ({exc.title}); usage kept locally")
        actions: list[tuple[str, Callable[[], None]]] = [
            ("worker container", lambda: self._runtime.remove(self._worker_spec(m).name)),
            ("network", lambda: self._down_spoke(m)),
            ("device at the platform", lambda: self._platform.leave(m.platform, m.credential)),
        ]
        for what, action in actions:
            try:
                action()
            except KalavaiError as exc:
                warnings.append(f"{what}: {exc.title}: {exc.message}")
        if w is not None:
            w.close()
        if self._policy is not None:
            self._policy.forget()
        self._worker = None
        self._running_since = None
        self._forget_membership()
        return warnings
