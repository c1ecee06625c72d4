"""The reconcile loop: `restore()` after any restart (adopt the container, restore the
overlay with the same address, resume the ledger) and `tick()`, which samples, heartbeats,
applies the rules and the platform's desired state, and repairs the overlay and the worker."""

from __future__ import annotations

import contextlib
import logging
import time

from kalavai_like.agent import pool_tls
from kalavai_like.agent.node.journal import Journal
from kalavai_like.agent.node.membership import WorkerMembership
from kalavai_like.agent.node.rules import Rules
from kalavai_like.agent.node.seeding import Seeding
from kalavai_like.agent.node.shared import Shared
from kalavai_like.agent.state import Membership, Persisted, legacy_paused_until
from kalavai_like.agent.worker import REMOVED, WorkerSession
from kalavai_like.errors import KalavaiError
from kalavai_like.net import SpokeStatus
from kalavai_like.net.paths import STALE

log = logging.getLogger(__name__)


class Reconciler:
    """Make reality match the persisted desired state (under the node's lock)."""

    def __init__(
        self,
        shared: Shared,
        membership: WorkerMembership,
        seeding: Seeding,
        rules: Rules,
        journal: Journal,
    ) -> None:
        self._sh = shared
        self._membership = membership
        self._seeding = seeding
        self._rules = rules
        self._journal = journal

    def restore(self) -> None:
        """Load the persisted desired state and make reality match it (after any restart)."""
        sh = self._sh
        with sh.lock:
            data = sh.store.load()
            sh.persisted = Persisted.from_dict(data) if data else Persisted()
            self._journal.recover()  # first: what an interrupted join left blocks the next
            m, s = sh.persisted.membership, sh.persisted.seed
            if m is not None:
                try:
                    self._membership.adopt(m)
                except KalavaiError as exc:
                    sh.set_state("error", f"{exc.title}: {exc.message}")
                until = legacy_paused_until(data)
                if until is not None:
                    self._membership.carry_over(until)
            if s is not None:
                try:
                    self._seeding.adopt()
                except KalavaiError as exc:
                    sh.set_state("error", f"seed: {exc.title}: {exc.message}")
            sh.schedule_all()
            sh.notify()

    def tick(self) -> float:
        """One pass of the reconcile loop; returns the seconds until the next is due."""
        sh = self._sh
        with sh.lock:
            now = time.monotonic()
            m, w = sh.persisted.membership, sh.worker
            if m is not None and w is not None:
                self._tick_worker(m, w, now)
            elif m is not None and sh.due("retry", now, sh.config.check_interval):
                with contextlib.suppress(KalavaiError):
                    self._membership.adopt(m)
            if sh.persisted.seed is not None and sh.due("seed", now, sh.config.check_interval):
                self._seeding.check()
            if sh.persisted.unfinished and sh.due("unfinished", now, sh.config.check_interval):
                self._journal.retry()
            return max(0.05, sh.next_due(now) - time.monotonic())

    def _tick_worker(self, m: Membership, w: WorkerSession, now: float) -> None:
        sh, c = self._sh, self._sh.config
        check = sh.due("check", now, c.check_interval)
        sample = sh.due("sample", now, c.sample_interval)
        if m.finishing and (check or sample):
            # Before the supervisor: a retired Dask worker's exit is no crash to restart.
            w.sample()  # a BOINC client's state, as work_done reads it
            sample = False
            if w.work_done():
                self._finished()
                return
        if check:
            self._check_worker(m, w)
        if sh.due("certificate", now, c.cert_check_interval):
            self._renew_certificate(m, w)
        if sh.wakeup.is_set() or sh.due("policy", now, c.sample_interval):
            self._rules.apply(m, w)  # this also ends a timed pause whose time has come
        if sample:
            w.sample()
        if sh.wakeup.is_set() or sh.due("heartbeat", now, c.heartbeat_interval):
            sh.wakeup.clear()
            self._heartbeat(m, w)
        sh.notify()

    def _renew_certificate(self, m: Membership, w: WorkerSession) -> None:
        """Renew the worker's pool certificate near its end while the agent runs (not only at
        a start: a homelab agent may run for a year); the worker restarts to load it."""
        sh = self._sh
        try:
            renewed = pool_tls.ensure_member_cert(sh.config.state_dir, m, sh.config.dask_tls)
        except KalavaiError as exc:
            log.warning("worker certificate not renewed: %s", exc)
            return
        if renewed and w.supervisor is not None:
            log.info("worker certificate renewed: restarting %s to load it", w.container)
            w.supervisor.stop()
            w.replace_container(sh.ports.runtime.state(w.supervisor.start().container_id or ""))

    def _finished(self) -> None:
        """The finishing worker's work is done: it leaves the pool."""
        sh = self._sh
        sh.set_state("leaving", "the current work is done: leaving the pool")
        for warning in self._membership.leave():
            log.warning("leaving after finishing: %s", warning)
        sh.set_state("idle", "finished: left the pool once its work was done")
        sh.notify()

    def _heartbeat(self, m: Membership, w: WorkerSession) -> None:
        w.sample()
        try:
            desired = w.heartbeat(*self._rules.beat_state(m))
        except KalavaiError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        self._sh.save()  # platform_desired may have moved
        if desired == REMOVED:
            self._removed(m)
            return
        by_user = self._rules.paused_by_user(m)
        if desired == "paused" and not by_user:
            self._membership.pause(reason="paused from the platform")
        elif desired == "running" and by_user:
            self._membership.resume()
        elif desired is None and m.platform_desired == "paused" and not by_user:
            # The user resumed on this machine after a pause from the web: their word wins,
            # and the platform must stop showing "Pause requested".
            try:
                w.withdraw_platform_pause()
            except KalavaiError as exc:
                log.warning("could not withdraw the platform's pause: %s", exc)
                return
            self._sh.save()

    def _removed(self, m: Membership) -> None:
        """The pool's owner removed this device: worker, network and membership go."""
        for warning in self._membership.leave(removed=True):
            log.warning("removed from %s: %s", m.pool_name, warning)
        self._sh.set_state("idle", f"removed from pool '{m.pool_name}' by the pool's owner")

    def _check_worker(self, m: Membership, w: WorkerSession) -> None:
        sh, runtime = self._sh, self._sh.ports.runtime
        st = sh.ports.overlay.spoke_status(m.prefix, m.name)
        if st is None or not st.healthy:
            log.warning("overlay of %s unhealthy: repairing", m.pool_name)
            try:
                cfg = self._membership.spoke_config(m)
                st = sh.ports.overlay.ensure_spoke(cfg, sh.config.handshake_timeout)
            except KalavaiError as exc:
                sh.set_state("error", f"{exc.title}: {exc.message}")
                return
        sh.spoke = (st, sh.wall())
        self._keep_path(m, st)
        sup = w.supervisor or self._membership.supervisor(m)
        w.supervisor = sup
        sv = sup.tick() if sup.status.state != "stopped" else sup.start()
        self._supervision(sv.message if sv.state in ("backing_off", "gave_up") else "")
        if sv.state == "gave_up":
            w.container_state = "gave up"
            sh.set_state("error", sv.message)
            return
        if sv.state == "backing_off" or sv.container_id is None:
            w.container_state = "restarting"
            return
        info = runtime.state(sv.container_id)
        if info.id != w.container_id:
            log.warning("worker %s replaced after a crash", w.container)
            w.replace_container(info)
        desired = self._rules.desired(m)
        if desired == "paused" and info.state == "running":
            runtime.pause(info.id)
        elif desired == "running" and info.state == "paused":
            runtime.unpause(info.id)
        w.container_state = "paused" if desired == "paused" else info.state
        if sh.state == "error":
            sh.set_state(*(("paused", m.pause_reason) if m.desired == "paused"
                           else ("running", "contributing")))  # fmt: skip

    def _keep_path(self, m: Membership, st: SpokeStatus) -> None:
        """A relayed worker whose bridge died gets a new one; a direct one whose handshakes
        stopped moves to the relay; a relayed one tries UDP again every
        `direct_probe_interval` (net/paths.py)."""
        sh = self._sh
        if not m.relay:
            return
        age = st.latest_handshake_age
        bridge_gone = st.path == "relay" and st.relay_state is None
        try:
            if bridge_gone or age is None or age > STALE:
                st = sh.ports.overlay.ensure_spoke(self._membership.spoke_config(m))
            elif (
                st.path == "relay"
                and not m.hub_relay_only
                and sh.due("probe", time.monotonic(), sh.config.direct_probe_interval)
            ):
                if sh.ports.overlay.probe_direct(self._membership.spoke_config(m)):
                    log.info("UDP to the hub of %s works again: direct", m.pool_name)
                st = sh.ports.overlay.spoke_status(m.prefix, m.name) or st
        except KalavaiError as exc:
            log.warning("keeping the path to the hub: %s", exc)
        sh.spoke = (st, sh.wall())

    def _supervision(self, message: str) -> None:
        """The worker-crash condition: set while the supervisor backs off or gave up."""
        fix = "Check the worker's log (podman logs) and the pool's template."
        self._sh.flag("worker_crashed", "Worker crashed" if message else "", f"{message}. {fix}")
