"""The node's shared core: its configuration, state, persisted desired state, the ports it
is composed from, its status snapshot, and the small operations every part of it uses
(persisting, notifying watchers, applying the volunteer's rules, building specs).

`NodeCore` is the base of the node's parts: kalavai_like.agent.node.membership (join, pause,
resume, leave), kalavai_like.agent.node.seeding (the seed role) and
kalavai_like.agent.node.reconcile
(restore and the reconcile loop); kalavai_like.agent.node.Node puts them together.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like.agent import history, snapshot, specs
from kalavai_like.agent.policy import Policy
from kalavai_like.agent.ports import PlatformPort, RuntimePort, StorePort, TemplatePort
from kalavai_like.agent.seed import SeedRunner
from kalavai_like.agent.state import Membership, Persisted
from kalavai_like.agent.worker import WorkerSession
from kalavai_like.client.records import (
    Granted,
    JoinRequest,
    LimitsNow,
    LiveUse,
    NodeState,
    NodeStatus,
    UsagePoint,
    WorkerStatus,
    record_from,
)
from kalavai_like.container.spec import ContainerInfo, ContainerSpec
from kalavai_like.container.supervisor import RestartPolicy, Supervisor
from kalavai_like.errors import Condition, KalavaiError, NotFound, SystemProblem
from kalavai_like.net import KeyPair, OverlayAPI, SpokeConfig, SpokeStatus, generate_keypair

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


class NodeCore:
    """State and shared operations of a node. Thread-safe: one lock serialises every change."""

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
        self._spoke: tuple[SpokeStatus | None, float] = (None, 0.0)  # as last read, and when
        self._running_since: float | None = None
        self._conditions: list[Condition] = []
        self._next: dict[str, float] = {}
        self.changed = threading.Condition()  # notified on every state change (watch stream)
        self.version = 0
        self.wakeup = threading.Event()  # asks the loop for a heartbeat now
        self.started_at = wall()

    def status(self) -> NodeStatus:
        """The current snapshot (cheap: built from cached observations)."""
        w, s = self._worker, self._p.seed
        conditions = list(self._conditions)
        if w is not None:
            conditions += [c for c in w.conditions()]
            if self._policy is not None:
                rules = self._policy.conditions()
                conditions += [c for c in rules]
        follower = self._seed.follower
        if follower is not None and follower.condition is not None:
            c = follower.condition
            conditions.append(c)
        state, reason = self._state, self._reason
        if state == "idle" and s is not None:
            state, reason = "running", f"seed of pool {s.pool_name}"
        role = self._seed
        seed = snapshot.seed_status(s, role.follower, role.head_state, role.network) if s else None
        return NodeStatus(
            state=state,
            reason=reason,
            worker=self._worker_status(w) if w is not None else None,
            seed=seed,
            conditions=conditions,
            agent_pid=os.getpid(),
            agent_started_at=self.started_at,
            at=self._wall(),
        )

    def usage_history(self, since: float, step: float) -> list[UsagePoint]:
        """The worker's average use per `step` seconds from `since` until now, from the ledger
        (kalavai_like.agent.history): zero while paused, no point while the agent was down,
        empty when not in a pool.

        Raises:
            InvalidInput: a bad `since`/`step`, or more than history.MAX_POINTS points.
        """
        now = self._wall()
        history.check_request(since, step, now)
        w = self._worker
        if w is None:
            return []
        gap = max(history.DEFAULT_MAX_GAP, 4 * self.config.sample_interval)
        return history.usage_points(w.ledger.rows_since(since), since, step, now, max_gap=gap)

    def _worker_status(self, w: WorkerSession) -> WorkerStatus:
        extra = self._policy_status(w.m)
        spoke, read_at = self._spoke
        return snapshot.worker_status(w, spoke, read_at, self._running_since, self._wall(), extra)

    def _policy_status(self, m: Membership) -> dict[str, Any]:
        """The typed status parts from the rules and the platform: reasons, granted, limits,
        live (see WorkerStatus)."""
        w, p = self._worker, self._policy
        granted = record_from(Granted, w.platform_granted) if w and w.platform_granted else None
        lv = w.live if w is not None else None
        live = LiveUse(lv.cpu_cores, lv.memory_bytes, lv.gpu_fraction) if lv else None
        if p is None:
            return {"granted": granted, "live": live}
        lim = p.applied or p.limits_for(m)
        profile = p.decision.profile if p.decision else ""
        limits = LimitsNow(lim.cpus, lim.memory_bytes, lim.gpus, profile)
        return {"granted": granted, "reasons": p.reasons(), "limits": limits, "live": live}

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

    def _start_session(self, m: Membership, info: ContainerInfo, sup: Supervisor) -> WorkerSession:
        """The worker session of a running (or adopted) container, with its supervisor."""
        w = WorkerSession(
            m, info, runtime=self._runtime, platform=self._platform,
            ledger_path=self.config.ledger_path, wall=self._wall, mono=self._mono,
            live_window=self.config.sample_interval,
        )  # fmt: skip
        w.supervisor = sup
        self._worker = w
        return w

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
                Condition("worker_crashed", "Worker crashed", f"{message}. {fix}")
            )

    def _forget_membership(self) -> None:
        self._p.membership = None
        self._save()

    def _forget_seed(self) -> None:
        self._p.seed = None
        self._save()

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
