"""The reconcile loop: `restore()` after any restart (adopt the container, restore the
overlay with the same address, resume the ledger) and `tick()`, which samples, heartbeats,
applies the rules and the platform's desired state, and repairs the overlay and the worker."""

from __future__ import annotations

import contextlib
import logging
import time

from kalavai_like.agent.node.membership import WorkerMembership
from kalavai_like.agent.node.seeding import PoolSeeding
from kalavai_like.agent.state import Membership, Persisted
from kalavai_like.agent.worker import WorkerSession
from kalavai_like.errors import KalavaiError

log = logging.getLogger(__name__)


class Reconciler(WorkerMembership, PoolSeeding):
    """Make reality match the persisted desired state (under the node's lock)."""

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
        w = self._start_session(m, info, supervisor)
        if self._policy is not None:
            self._policy.adopted(m, w)
        w.sample()
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
        self._spoke = (st, self._wall())
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
