"""The node: one membership state machine (idle -> joining -> running <-> paused -> leaving,
plus error) and the seed role, composed from protocol-typed ports.

`Node` is the core API; the LocalAPI exposes exactly its methods and `NodeClient` mirrors them.
Every method takes and returns dataclasses from kalavai_like.agent.records. The desired state is
persisted through the store port on every change, and `restore()` + `tick()` (the agent's
reconcile loop) make reality match it after any restart: the container is adopted by its
membership label, the overlay restored with the same address, the ledger resumed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like import tokens
from kalavai_like.agent import snapshot, specs
from kalavai_like.agent.policy import Policy
from kalavai_like.agent.ports import PlatformPort, RuntimePort, StorePort, TemplatePort
from kalavai_like.agent.progress import OnStep, Progress, rephrase
from kalavai_like.agent.records import (
    ActionResult,
    ConditionOut,
    JoinRequest,
    JoinResult,
    Membership,
    NodeState,
    NodeStatus,
    Persisted,
    SeedResult,
    SeedRole,
    StartPoolRequest,
    WorkerStatus,
    bare,
)
from kalavai_like.agent.seed import SeedRunner, seed_result
from kalavai_like.agent.worker import WorkerSession
from kalavai_like.container.spec import ContainerSpec
from kalavai_like.container.supervisor import RestartPolicy, Supervisor
from kalavai_like.errors import Conflict, KalavaiError, NotFound, SystemProblem
from kalavai_like.net import KeyPair, OverlayAPI, SpokeConfig, generate_keypair

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeConfig:
    """Tunables of one node: its name prefix, files and intervals."""

    prefix: str
    state_dir: Path
    worker_name: str = "wk"
    hub_name: str = "hub"
    device_name: str = ""
    backend: str = "auto"
    handshake_timeout: float = 10.0
    sample_interval: float = 5.0
    heartbeat_interval: float = 10.0
    check_interval: float = 15.0
    peers_wait: float = 25.0
    restart_backoff: float = 5.0  # first wait before restarting a crashed worker (doubles)
    max_crashes: int = 5  # crashes within 10 min before giving up
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.sqlite"


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
        self.config = config
        self._overlay = overlay
        self._runtime = runtime
        self._templates = templates
        self._platform = platform
        self._store = store
        self._policy = policy  # volunteer preferences and rules (agent/policy.py)
        self._keygen = keygen
        self._wall = wall
        self._mono = mono  # the sampler's interval clock
        self._lock = threading.RLock()
        self._p = Persisted()
        self._state: NodeState = "idle"
        self._reason = "not in a pool"
        self._worker: WorkerSession | None = None
        self._seed = SeedRunner(
            overlay=overlay, runtime=runtime, templates=templates, platform=platform,
            backend=config.backend, peers_wait=config.peers_wait,
        )  # fmt: skip
        self._handshake: tuple[float | None, float] = (None, 0.0)  # (age, when read)
        self._running_since: float | None = None
        self._conditions: list[ConditionOut] = []
        self._next: dict[str, float] = {}
        self.changed = threading.Condition()  # notified on every state change (watch stream)
        self.version = 0
        self.wakeup = threading.Event()  # asks the loop for a heartbeat now
        self.started_at = wall()

    # ---- public API ---------------------------------------------------------------------

    def status(self) -> NodeStatus:
        """The current snapshot (cheap: built from cached observations)."""
        w, s = self._worker, self._p.seed
        conditions = list(self._conditions)
        if w is not None:
            conditions += [ConditionOut(c.code, c.title, c.text) for c in w.conditions()]
            if self._policy is not None:
                rules = self._policy.conditions()
                conditions += [ConditionOut(c.code, c.title, c.text) for c in rules]
        follower = self._seed.follower
        if follower is not None and follower.condition is not None:
            c = follower.condition
            conditions.append(ConditionOut(c.code, c.title, c.text))
        state, reason = self._state, self._reason
        if state == "idle" and s is not None:
            state, reason = "running", f"seed of pool {s.pool_name}"
        return NodeStatus(
            state=state,
            reason=reason,
            worker=self._worker_status(w) if w is not None else None,
            seed=snapshot.seed_status(s, self._seed.follower, self._seed.head_state) if s else None,
            conditions=conditions,
            agent_pid=os.getpid(),
            agent_started_at=self.started_at,
            at=self._wall(),
        )

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
        self._handshake = (up.latest_handshake_age, self._wall())
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
        self._worker = WorkerSession(
            m, info, runtime=self._runtime, platform=self._platform,
            ledger_path=self.config.ledger_path, wall=self._wall, mono=self._mono,
            live_window=self.config.sample_interval,
        )  # fmt: skip
        self._worker.supervisor = supervisor
        self._running_since = self._wall()
        steps.step("Worker is running", current="sending the first heartbeat")
        self._worker.sample()
        self._worker.heartbeat("running")
        self._schedule_all()
        steps.step("First heartbeat acknowledged: contributing to the pool")
        return JoinResult(m.pool_name, bare(m.address) or "", m.device_id, spec.name, steps.done)

    def start_pool(self, req: StartPoolRequest, on_step: OnStep | None = None) -> SeedResult:
        """Become the pool's seed: register the hub, bring it up, start the head container.

        Raises:
            Conflict: this node is already the seed of another pool.
            KalavaiError: a step failed (named in the title); everything it set up was undone.
        """
        with self._lock:
            s = self._p.seed
            if s is not None:
                if s.pool_id == req.pool_id:
                    return seed_result(s, already=True)
                raise Conflict(
                    "Already a seed", f"This node runs pool {s.pool_name}; stop it first."
                )
            steps = Progress(on_step, self._wall)
            try:
                seed = self._start_pool(req, steps)
            except KalavaiError as exc:
                left = steps.rollback()
                self._p.seed = None
                note = "" if not left else " Could not remove: " + "; ".join(left) + "."
                detail = f"{exc.title}: {exc.message}" if exc.message else exc.title
                title = f"Pool start failed while {steps.current}"
                raise rephrase(exc, title, detail + note) from exc
            self._notify()
            return seed_result(seed, already=False)

    def _start_pool(self, req: StartPoolRequest, steps: Progress) -> SeedRole:
        keys = self._keygen()
        steps.step("Registering the hub with the platform", current="registering the hub")
        hub = self._platform.register_hub(
            req.platform, req.api_token, req.pool_id, public_key=keys.public, endpoint=req.endpoint
        )
        pool = hub["pool"]
        port = int(req.endpoint.rpartition(":")[2])
        seed = SeedRole(
            device_id=str(hub["device_id"]), pool_id=str(pool["id"]), pool_name=pool["name"],
            platform=req.platform, credential=hub["credential"], private_key=keys.private,
            public_key=keys.public, prefix=self.config.prefix, name=self.config.hub_name,
            address=str(hub["address"]), address6=hub.get("address6"), subnet=pool["subnet"],
            subnet6=pool.get("subnet6"), endpoint=req.endpoint, listen_port=port,
            template=pool["template"], params=dict(pool.get("params") or {}),
            started_at=self._wall(),
        )  # fmt: skip
        self._seed.start(seed, steps)
        self._p.seed = seed
        self._save()
        steps.undo("saved seed", self._forget_seed)
        self._seed.follow(seed)
        steps.step("Following the platform's peer list")
        return seed

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

    def _need_policy(self) -> Policy:
        if self._policy is None:
            raise SystemProblem("Preferences unavailable", "This agent runs without them.")
        return self._policy

    def _reapply(self) -> None:
        m, w = self._p.membership, self._worker
        if m is not None and w is not None:
            self._apply_policy(m, w)

    def _apply_policy(self, m: Membership, w: WorkerSession) -> None:
        if self._policy is None:
            return
        try:
            out = self._policy.tick(m, w, self._runtime)
        except KalavaiError as exc:
            log.warning("rules not applied: %s", exc)
            return
        if out.changed and (out.state, out.reason) != (self._state, self._reason):
            self._running_since = self._wall() if out.state == "running" else None
            self._set_state(out.state, out.reason)  # type: ignore[arg-type]
            self.wakeup.set()  # the platform hears of it within one round trip

    def _desired(self, m: Membership) -> str:
        """What the worker should be: the user's wish, or paused while a rule holds it."""
        held = self._policy is not None and self._policy.holding
        return "paused" if m.desired == "paused" or held else "running"

    def _beat_state(self, m: Membership) -> tuple[str, str]:
        if m.desired == "running" and self._desired(m) == "paused" and self._policy:
            return "paused", self._policy.reason_text()
        return m.desired, m.pause_reason

    def _policy_status(self, m: Membership) -> dict[str, Any]:
        w, p = self._worker, self._policy
        granted = dict(w.platform_granted) if w is not None else {}
        lv = w.live if w is not None else None
        live = {"cpu_cores": lv.cpu_cores, "memory_bytes": lv.memory_bytes,
                "gpu_fraction": lv.gpu_fraction} if lv else {}  # fmt: skip
        if p is None:
            return {"granted": granted, "live": live}
        lim = p.applied or p.limits_for(m)
        limits = {**lim.to_dict(), "profile": p.decision.profile if p.decision else ""}
        return {"granted": granted, "reasons": p.reasons(), "limits": limits, "live": live}

    # ---- reconcile ----------------------------------------------------------------------

    def restore(self) -> None:
        """Load the persisted desired state and make reality match it (after any restart)."""
        with self._lock:
            data = self._store.load()
            self._p = Persisted.from_dict(data) if data else Persisted()
            m, s = self._p.membership, self._p.seed
            if m is not None:
                try:
                    self._adopt_worker(m)
                except KalavaiError as exc:
                    self._set_state("error", f"{exc.title}: {exc.message}")
            if s is not None:
                try:
                    self._seed.adopt(s)
                except KalavaiError as exc:
                    self._set_state("error", f"seed: {exc.title}: {exc.message}")
            self._schedule_all()
            self._notify()

    def _adopt_worker(self, m: Membership) -> None:
        self._overlay.ensure_spoke(self._spoke_config(m), self.config.handshake_timeout)
        supervisor = self._supervisor(self._worker_spec(m))
        info = self._runtime.state(supervisor.start().container_id or "")
        if self._desired(m) == "paused" and info.state != "paused":
            self._runtime.pause(info.id)
        elif self._desired(m) == "running" and info.state == "paused":
            self._runtime.unpause(info.id)
        info = self._runtime.state(info.id)
        self._worker = WorkerSession(
            m, info, runtime=self._runtime, platform=self._platform,
            ledger_path=self.config.ledger_path, wall=self._wall, mono=self._mono,
            live_window=self.config.sample_interval,
        )  # fmt: skip
        self._worker.supervisor = supervisor
        if self._policy is not None:
            self._policy.adopted(m, self._worker)
        self._worker.sample()
        if m.desired == "paused":
            self._set_state("paused", m.pause_reason or "paused")
        else:
            self._running_since = self._wall()
            self._set_state("running", "contributing")

    def tick(self) -> float:
        """One pass of the reconcile loop; returns the seconds until the next is due."""
        with self._lock:
            now = time.monotonic()
            m, w = self._p.membership, self._worker
            if m is not None and w is not None:
                self._tick_worker(m, w, now)
            elif m is not None and self._due("retry", now, self.config.check_interval):
                with contextlib.suppress(KalavaiError):
                    self._adopt_worker(m)
            if self._p.seed is not None and self._due("seed", now, self.config.check_interval):
                self._seed.check(self._p.seed)
            nxt = min(self._next.values(), default=now + self.config.check_interval)
            return max(0.05, nxt - time.monotonic())

    def _tick_worker(self, m: Membership, w: WorkerSession, now: float) -> None:
        if m.desired == "paused" and m.paused_until and self._wall() >= m.paused_until:
            self.resume()
        if self._due("check", now, self.config.check_interval):
            self._check_worker(m, w)
        if self.wakeup.is_set() or self._due("policy", now, self.config.sample_interval):
            self._apply_policy(m, w)
        if self._due("sample", now, self.config.sample_interval):
            w.sample()
        if self.wakeup.is_set() or self._due("heartbeat", now, self.config.heartbeat_interval):
            self.wakeup.clear()
            self._heartbeat(m, w)
        self._notify()

    def _heartbeat(self, m: Membership, w: WorkerSession) -> None:
        w.sample()
        try:
            desired = w.heartbeat(*self._beat_state(m))
        except KalavaiError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        self._save()  # platform_desired may have moved
        if desired == "paused" and m.desired == "running":
            self.pause(reason="paused from the platform")
        elif desired == "running" and m.desired == "paused":
            self.resume()

    def _check_worker(self, m: Membership, w: WorkerSession) -> None:
        st = self._overlay.spoke_status(m.prefix, m.name)
        if st is None or not st.healthy:
            log.warning("overlay of %s unhealthy: repairing", m.pool_name)
            try:
                cfg = self._spoke_config(m)
                st = self._overlay.ensure_spoke(cfg, self.config.handshake_timeout)
            except KalavaiError as exc:
                self._set_state("error", f"{exc.title}: {exc.message}")
                return
        self._handshake = (st.latest_handshake_age, self._wall())
        sup = w.supervisor or self._supervisor(self._worker_spec(m))
        w.supervisor = sup
        sv = sup.tick() if sup.status.state != "stopped" else sup.start()
        self._supervision(sv.message if sv.state in ("backing_off", "gave_up") else "")
        if sv.state == "gave_up":
            w.container_state = "gave up"
            self._set_state("error", sv.message)
            return
        if sv.state == "backing_off" or sv.container_id is None:
            w.container_state = "restarting"
            return
        info = self._runtime.state(sv.container_id)
        if info.id != w.container_id:
            log.warning("worker %s replaced after a crash", w.container)
            w.replace_container(info)
        if self._desired(m) == "paused" and info.state == "running":
            self._runtime.pause(info.id)
        elif self._desired(m) == "running" and info.state == "paused":
            self._runtime.unpause(info.id)
        w.container_state = "paused" if self._desired(m) == "paused" else info.state
        if self._state == "error":
            self._set_state(*(("paused", m.pause_reason) if m.desired == "paused"
                              else ("running", "contributing")))  # fmt: skip

    def _supervisor(self, spec: ContainerSpec) -> Supervisor:
        policy = RestartPolicy(
            max_crashes=self.config.max_crashes, initial_backoff=self.config.restart_backoff
        )
        return Supervisor(self._runtime, spec, policy)

    def _supervision(self, message: str) -> None:
        self._conditions = [c for c in self._conditions if c.code != "worker_crashed"]
        if message:
            fix = "Check the worker's log (podman logs) and the pool's template."
            self._conditions.append(
                ConditionOut("worker_crashed", "Worker crashed", f"{message}. {fix}")
            )

    def close(self) -> None:
        """Stop background threads and close files (the pool keeps running)."""
        with self._lock:
            self._seed.close()
            if self._worker is not None:
                self._worker.close()

    # ---- internals ----------------------------------------------------------------------

    def _membership_from(
        self, red: dict[str, Any], platform: str, keys: KeyPair, req: JoinRequest
    ) -> Membership:
        c = self.config
        return specs.membership_from(
            red, platform, keys, req, prefix=c.prefix, name=c.worker_name, joined_at=self._wall()
        )

    def _spoke_config(self, m: Membership) -> SpokeConfig:
        return specs.spoke_config(m, self.config.backend)

    def _worker_spec(self, m: Membership) -> ContainerSpec:
        return specs.worker_spec(self._templates, m)

    def _down_spoke(self, m: Membership) -> None:
        self._overlay.down_spoke(m.prefix, m.name)

    def _forget_membership(self) -> None:
        self._p.membership = None
        self._save()

    def _forget_seed(self) -> None:
        self._p.seed = None
        self._save()

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

    def _stop_seed(self, s: SeedRole) -> list[str]:
        warnings = self._seed.stop(s)
        self._forget_seed()
        return warnings

    def _need_worker(self) -> tuple[Membership, WorkerSession]:
        m, w = self._p.membership, self._worker
        if m is None:
            raise NotFound("Not in a pool", "Join one first: kalavai-like pool join TOKEN")
        if w is None:
            raise SystemProblem(
                "Worker not restored yet",
                f"The agent could not restore the worker ({self._reason}); see its log.",
            )
        return m, w

    def _save(self) -> None:
        self._store.save(self._p.to_dict())
        self._notify()

    def _set_state(self, state: NodeState, reason: str) -> None:
        self._state, self._reason = state, reason
        self._notify()

    def _notify(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def _due(self, what: str, now: float, every: float) -> bool:
        if now >= self._next.get(what, 0.0):
            self._next[what] = now + every
            return True
        return False

    def _schedule_all(self) -> None:
        now = time.monotonic()
        self._next = {
            "sample": now + self.config.sample_interval,
            "heartbeat": now + self.config.heartbeat_interval,
            "check": now + self.config.check_interval,
            "seed": now + self.config.check_interval,
        }

    def _worker_status(self, w: WorkerSession) -> WorkerStatus:
        extra = self._policy_status(w.m)
        return snapshot.worker_status(w, self._handshake, self._running_since, self._wall(), extra)
