"""A worker membership's lifecycle on a node: join (with its steps and rollback), pause (open-
ended, or for a while through the rules' timed pause), resume (a rule may keep holding the
worker), adopting the worker after a restart, and leaving the pool."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable

from kalavai_like import tokens
from kalavai_like.agent import pool_tls, specs
from kalavai_like.agent.node.journal import Journal
from kalavai_like.agent.node.rules import Rules
from kalavai_like.agent.node.shared import FINISHING, Shared
from kalavai_like.agent.policy import pause_text
from kalavai_like.agent.progress import OnStep, Progress
from kalavai_like.agent.snapshot import connected_text
from kalavai_like.agent.state import Membership, Unfinished
from kalavai_like.agent.worker import WorkerSession, retired
from kalavai_like.client.records import ActionResult, JoinRequest, JoinResult, bare
from kalavai_like.container.spec import ContainerInfo
from kalavai_like.container.supervisor import RestartPolicy, Supervisor
from kalavai_like.errors import Conflict, KalavaiError, SystemProblem
from kalavai_like.net import KeyPair, SpokeConfig

log = logging.getLogger(__name__)


def _paused(already: bool) -> ActionResult:
    text = "already paused" if already else "paused: the worker is frozen and accrues nothing"
    return ActionResult("paused", text, already=already)


class WorkerMembership:
    """Join, pause, resume, adopt and leave the one worker membership (under the node's lock)."""

    def __init__(
        self, shared: Shared, rules: Rules, journal: Journal, keygen: Callable[[], KeyPair]
    ) -> None:
        self._sh = shared
        self._rules = rules
        self._journal = journal
        self._keygen = keygen

    # ---- join -----------------------------------------------------------------------------

    def join(self, req: JoinRequest, on_step: OnStep | None = None) -> JoinResult:
        """Redeem a join token, bring up the overlay and the worker, send the first heartbeat.

        Raises:
            Conflict: this node already works for a pool.
            KalavaiError: a step failed (named in the title); everything it set up was undone.
        """
        sh = self._sh
        with sh.lock:
            if sh.persisted.membership is not None:
                raise Conflict(
                    "Already in a pool",
                    f"This node works for pool {sh.persisted.membership.pool_name}. "
                    "Run `kalavai-like pool stop` first.",
                )
            steps = Progress(on_step, sh.wall)
            sh.set_state("joining", "joining a pool")
            u: Unfinished | None = None
            try:
                u = self._journal.begin("join", "spoke", sh.config.worker_name)
                result = self._join(req, steps, u)
            except KalavaiError as exc:
                err = steps.failed(exc, f"Join failed while {steps.current}",
                                   " Everything the join set up was removed.")  # fmt: skip
                sh.persisted.membership = None
                sh.worker = None
                if u is not None:
                    self._journal.settle(u, cleaned=not steps.left)
                    sh.save()
                sh.set_state("idle", f"last join failed: {exc.title}")
                raise err from exc
            sh.set_state("running", "contributing")
            return result

    def _join(self, req: JoinRequest, steps: Progress, u: Unfinished) -> JoinResult:
        sh, platform = self._sh, self._sh.ports.platform
        steps.current = "checking the token"
        tok = tokens.parse(req.token)
        steps.report(f"Token format is correct (pool {tok.pool_name} at {tok.platform})")
        steps.current = "generating WireGuard keys"
        keys = self._keygen()
        steps.report("Registering this machine with the platform", current="registering")
        red = platform.redeem(
            tok.platform,
            req.api_token,
            token=req.token,
            public_key=keys.public,
            name=req.device_name or sh.config.device_name or os.uname().nodename,
            cores=max(1, min(math.ceil(req.cpus), os.cpu_count() or 1)),  # never above the host
            memory_bytes=req.memory_bytes,
            gpus=req.gpus,
        )
        m = specs.membership_from(red, tok.platform, keys, req, prefix=sh.config.prefix,
                                  name=sh.config.worker_name, joined_at=sh.wall())  # fmt: skip
        self._journal.note(u, platform=m.platform, credential=m.credential)
        if not red.get("hub"):
            platform.leave(m.platform, m.credential)
            raise Conflict(
                "The pool has no hub yet",
                f"Pool {m.pool_name} is not started: its owner runs `kalavai-like pool start`.",
            )
        steps.undo("device at the platform", lambda: platform.leave(m.platform, m.credential))
        m.relay, m.hub_relay_only = sh.relay_of(m.platform, m.credential)
        steps.report(f"Using {bare(m.address)} address for worker")
        via = f"hub {m.hub_endpoint}" + (f", relay {m.relay}" if m.relay else "")
        steps.report(f"Joining private network ({via})", current="joining the network")
        self._journal.note(u, network=True)
        up = sh.ports.overlay.up_spoke(self.spoke_config(m), sh.config.handshake_timeout)
        sh.spoke = (up, sh.wall())
        steps.undo("network namespace and WireGuard",
                   lambda: sh.ports.overlay.down_spoke(m.prefix, m.name))  # fmt: skip
        steps.report(connected_text(m, up, sh.config.direct_timeout),
                     current="preparing the worker container")  # fmt: skip
        if pool_tls.ensure_member_cert(sh.config.state_dir, m, sh.config.dask_tls):
            steps.report("Got this worker's certificate from the pool's seed (key made here)")
        supervisor = self.supervisor(m)  # the pool's template and parameters are read here
        spec = supervisor.spec
        steps.report(f"Starting worker container {spec.name} ({spec.image})",
                     current="starting the worker container")  # fmt: skip
        self._journal.note(u, container=spec.name)
        steps.undo("worker data", lambda: sh.ports.templates.remove_data(m.id))
        steps.undo("worker container", lambda: sh.ports.runtime.remove(spec.name))
        info = sh.ports.runtime.state(supervisor.start().container_id or spec.name)
        if info.state != "running":
            raise SystemProblem(
                "Worker container did not start", f"{spec.name}: {info.describe_exit()}."
            )
        sh.persisted.membership = m
        self._journal.settle(u)  # in the same save: the membership owns what the join set up
        sh.save(required=True)
        steps.undo("saved membership", self._forget)
        w = self._start_session(m, info, supervisor)
        sh.running_since = sh.wall()
        steps.report("Worker is running", current="sending the first heartbeat")
        w.sample()
        w.heartbeat("running")
        sh.schedule_all()
        steps.report("First heartbeat acknowledged: contributing to the pool")
        return JoinResult(m.pool_name, bare(m.address) or "", m.device_id, spec.name, steps.done)

    # ---- pause and resume -----------------------------------------------------------------

    def pause(self, for_seconds: float | None = None, reason: str = "") -> ActionResult:
        """Freeze the worker and stop accrual, until resumed or for `for_seconds`.

        Raises:
            NotFound: this node is not in a pool.
            SystemProblem: a timed pause on a node without preferences.
        """
        with self._sh.lock:
            m, w = self._sh.need_worker()
            self._rules.end_anyway()
            if for_seconds:
                return self._pause_for(m, w, self._sh.wall() + for_seconds)
            why = reason or "paused by the user"
            until = self._rules.paused_until()
            if until is not None:  # an open-ended pause replaces the timed one; still frozen
                self._rules.pause_until(None)
            if m.desired == "paused" or until is not None:
                m.desired, m.pause_reason = "paused", why
                self._sh.save()
                self._sh.set_state("paused", why)
                if until is None:
                    return _paused(True)
                self._rules.apply(m, w)  # the rules let go; the user's pause holds now
                was = pause_text(until, self._sh.wall()).removeprefix("paused ")
                return ActionResult("paused", f"paused until you resume (no longer {was})")
            self._sh.ports.runtime.pause(w.container_id)
            w.container_state = "paused"
            w.set_running(False)
            m.desired, m.pause_reason = "paused", why
            self._sh.save()
            self._sh.running_since = None
            self._sh.set_state("paused", why)
            self._sh.wakeup.set()
            return _paused(False)

    def _pause_for(self, m: Membership, w: WorkerSession, until: float) -> ActionResult:
        """The timed pause: the rules hold the worker until `until`, then let it go. Its answer
        says the deadline, and when an earlier one was moved."""
        open_ended = m.desired == "paused"
        before = self._rules.paused_until()
        self._rules.pause_until(until)
        try:
            if m.desired == "paused":  # the open-ended pause becomes a timed one, still frozen
                m.desired, m.pause_reason = "running", ""
                self._rules.hold_on_resume(m, w)
                self._sh.save()
                self._sh.set_state("paused", self._rules.reason_text())
            else:
                self._rules.hold_now(m, w)
        except KalavaiError:
            self._rules.pause_until(before)
            raise
        self._sh.running_since = None
        self._sh.wakeup.set()
        now = self._sh.wall()
        text = pause_text(self._rules.paused_until() or until, now)
        if before is not None and before == self._rules.paused_until():
            return ActionResult("paused", f"already {text}", already=True)
        if before is not None:
            was = pause_text(before, now).removeprefix("paused ")
            return ActionResult("paused", f"pause moved: {text} (was {was})")
        if open_ended:
            return ActionResult("paused", f"{text} (no longer until you resume)")
        return ActionResult("paused", f"{text}: the worker is frozen and accrues nothing")

    def resume(self) -> ActionResult:
        """Thaw the worker and restart accrual (ends a timed pause too).

        Raises:
            NotFound: this node is not in a pool.
        """
        sh = self._sh
        with sh.lock:
            m, w = sh.need_worker()
            timed = self._rules.paused_until()
            if m.desired == "running" and timed is None:
                if self._rules.holding():
                    why = self._rules.reason_text()
                    return ActionResult("paused", f"not paused by you: {why} holds the worker "
                                        "(resume --anyway sets your rules aside)",
                                        already=True)  # fmt: skip
                return ActionResult("running", "already running", already=True)
            before = m.desired, m.pause_reason
            if timed is not None:
                self._rules.pause_until(None)
            m.desired, m.pause_reason = "running", ""
            held = self._rules.hold_on_resume(m, w)
            if held:  # the worker stays frozen; the rule lifts by itself
                sh.save()
                sh.set_state("paused", held)
                sh.wakeup.set()
                return ActionResult(
                    "paused",
                    f"resumed your pause, but {held} still holds the worker "
                    "(resume --anyway sets your rules aside)",
                )
            try:
                sh.ports.runtime.unpause(w.container_id)
            except KalavaiError:
                m.desired, m.pause_reason = before
                if timed is not None:
                    self._rules.pause_until(timed)
                raise
            w.container_state = "running"
            w.set_running(True)
            sh.save()
            sh.running_since = sh.wall()
            sh.set_state("running", "contributing")
            sh.wakeup.set()
            return ActionResult("running", "resumed: the worker runs again")

    # ---- after a restart ------------------------------------------------------------------

    def adopt(self, m: Membership) -> None:
        """Restore the overlay with the same address and adopt (or restart) the container.

        Raises:
            KalavaiError: the overlay or the container could not be restored.
        """
        sh, runtime = self._sh, self._sh.ports.runtime
        sh.ports.overlay.ensure_spoke(self.spoke_config(m), sh.config.handshake_timeout)
        pool_tls.ensure_member_cert(sh.config.state_dir, m, sh.config.dask_tls)
        supervisor = self.supervisor(m)
        info = retired(m, runtime, supervisor.spec.name)  # then the next tick leaves
        info = info or runtime.state(supervisor.start().container_id or "")
        if self._rules.desired(m) == "paused" and info.state == "running":
            runtime.pause(info.id)
        elif self._rules.desired(m) == "running" and info.state == "paused":
            runtime.unpause(info.id)
        info = runtime.state(info.id)
        w = self._start_session(m, info, supervisor)
        self._rules.adopted(m, w)
        w.sample()
        if m.desired == "paused":
            sh.set_state("paused", m.pause_reason or "paused")
        else:
            sh.running_since = sh.wall()
            sh.set_state("running", FINISHING if m.finishing else "contributing")
            self._rules.apply(m, w)  # a rule holding the worker names itself at once

    def carry_over(self, until: float) -> None:
        """A state file from before timed pauses were preferences paused until `until`: carry
        the countdown over to the rules' timed pause (resume when it has passed)."""
        m = self._sh.persisted.membership
        if m is None or m.desired != "paused" or self._sh.worker is None:
            return
        try:
            left = until - self._sh.wall()
            if left > 0:
                self.pause(for_seconds=left)
            else:
                self.resume()
        except KalavaiError as exc:
            log.warning("timed pause not carried over: %s", exc)

    def freeze(self) -> str | None:
        """The agent stops gracefully: a last heartbeat says so and the worker freezes, so the
        machine lends nothing unaccounted (no ledger, no rules) while no agent runs; the next
        agent's `adopt` thaws it. Returns the pool's name when a worker was frozen."""
        sh = self._sh
        with sh.lock:
            m, w = sh.persisted.membership, sh.worker
            if m is None or w is None or w.container_state != "running":
                return None
            try:
                w.sample()
                w.heartbeat("paused", "the agent was stopped")
            except KalavaiError as exc:
                log.warning("last heartbeat not sent (%s); usage kept locally", exc.title)
            try:
                sh.ports.runtime.pause(w.container_id)
            except KalavaiError as exc:
                log.warning("worker not frozen: %s", exc)
                return None
            w.container_state = "paused"
            w.set_running(False)
            return m.pool_name

    # ---- leave ----------------------------------------------------------------------------

    def leave(self, *, removed: bool = False) -> list[str]:
        """Final heartbeat, worker and network removed, device deregistered, membership
        forgotten; returns what could not be removed. Once `removed` by the pool's owner, the
        platform has let the device go already: no heartbeat, no deregistering."""
        sh, m = self._sh, self._sh.persisted.membership
        if m is None:
            return []
        warnings: list[str] = []
        w = sh.worker
        if w is not None and not removed:
            try:
                w.sample()
                w.heartbeat("leaving", "left the pool")
            except KalavaiError as exc:
                warnings.append(f"final heartbeat not sent ({exc.title}); usage kept locally")
        actions: list[tuple[str, Callable[[], None]]] = [
            ("worker container", lambda: sh.ports.runtime.remove(self._spec_name(m))),
            ("worker data", lambda: sh.ports.templates.remove_data(m.id)),
            ("network", lambda: sh.ports.overlay.down_spoke(m.prefix, m.name)),
        ]
        if not removed:
            deregister = lambda: sh.ports.platform.leave(m.platform, m.credential)  # noqa: E731
            actions.append(("device at the platform", deregister))
        for what, action in actions:
            try:
                action()
            except KalavaiError as exc:
                warnings.append(f"{what}: {exc.title}: {exc.message}")
        if w is not None:
            w.close()
        self._rules.forget()
        sh.worker = None
        sh.running_since = None
        pool_tls.forget_member(sh.config.state_dir, m.id)
        self._forget()
        return warnings

    # ---- the worker's parts ---------------------------------------------------------------

    def spoke_config(self, m: Membership) -> SpokeConfig:
        c = self._sh.config
        return specs.spoke_config(m, c.backend, c.relay_dir, c.direct_timeout)

    def supervisor(self, m: Membership) -> Supervisor:
        """A crash supervisor for the membership's worker container."""
        c = self._sh.config
        policy = RestartPolicy(max_crashes=c.max_crashes, initial_backoff=c.restart_backoff)
        secrets = pool_tls.member_secrets(self._sh.config.state_dir, m, self._sh.config.dask_tls)
        spec = specs.worker_spec(self._sh.ports.templates, m, secrets)
        return Supervisor(self._sh.ports.runtime, spec, policy)

    def _start_session(self, m: Membership, info: ContainerInfo, sup: Supervisor) -> WorkerSession:
        """The worker session of a running (or adopted) container, with its supervisor."""
        sh = self._sh
        w = WorkerSession(
            m, info, runtime=sh.ports.runtime, platform=sh.ports.platform,
            ledger_path=sh.config.ledger_path, wall=sh.wall, mono=sh.mono,
            live_window=sh.config.sample_interval,
            data_dir=sh.ports.templates.data_dir(m.id),
        )  # fmt: skip
        w.supervisor = sup
        sh.worker = w
        return w

    def _spec_name(self, m: Membership) -> str:
        return specs.worker_spec(self._sh.ports.templates, m).name

    def _forget(self) -> None:
        self._sh.persisted.membership = None
        self._sh.save()
