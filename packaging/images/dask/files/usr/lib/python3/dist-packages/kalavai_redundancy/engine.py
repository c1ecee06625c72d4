"""The loop of one redundant run: sends results to volunteers (Dask tasks restricted to one
volunteer's workers), collects them, gives up on late ones, validates each workunit and
reports outcomes to the pool head's witness."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from kalavai_redundancy import (
    DONE,
    IN_PROGRESS,
    NO_CONSENSUS,
    NOT_SENDABLE,
    TOO_MANY_ERRORS,
    TOO_MANY_RESULTS,
    WAITING,
    Redundancy,
    Result,
    Workunit,
    _call,
    consensus,
)

log = logging.getLogger("kalavai_redundancy")
REFRESH = 0.5  # seconds between looks at the connected workers
REPORT_EVERY = 1.0  # seconds between outcome reports to the witness
# The witness is told each result's outcome: valid, invalid, error (raised, lost, timed out),
# or "unchecked" (no consensus, not needed), which releases its held credit as it was.


class Engine:
    """Runs workunits to completion (see kalavai_redundancy.run_redundant)."""

    def __init__(
        self,
        client: Any,
        fn: Callable[[Any], Any],
        policy: Redundancy,
        compare: Callable[[Any, Any], bool],
        identity: Callable[[str, dict[str, Any]], str | None],
        trust: dict[str, int],
    ) -> None:
        self.client, self.fn, self.p = client, fn, policy
        self.compare, self.identity, self.trust = compare, identity, trust
        self.prefix = ""
        self.report = True
        self.pending: dict[str, tuple[Workunit, Result, Any]] = {}
        self.outstanding: dict[str, int] = {}
        self.users: dict[str, list[str]] = {}  # user -> worker addresses
        self.threads: dict[str, int] = {}
        self.outcomes: list[dict[str, str]] = []
        self._wake = threading.Event()
        self._refreshed = -REFRESH
        self._reported = 0.0

    def run(self, units: list[Workunit], tick: float) -> None:
        """Until every workunit is done or in error."""
        todo = sorted(units, key=lambda w: (-w.priority, w.index))
        try:
            while todo:
                now = time.monotonic()
                self.refresh(now)
                self.expire(now)
                for wu in todo:
                    self.top_up(wu, now)
                todo = [w for w in todo if w.state == IN_PROGRESS]
                self.flush(now)
                if todo and not self._wake.wait(tick):
                    continue
                self._wake.clear()
                done = [k for k, (_, _, f) in self.pending.items() if f.done()]
                values = self.gather(done)
                for key in done:
                    self.collect(key, time.monotonic(), values)
        finally:  # interrupted: what is still out is not needed
            for wu in {id(w): w for w, _, _ in self.pending.values()}.values():
                if wu.state == IN_PROGRESS:
                    self.finish(wu, "error", "interrupted", time.monotonic())
            self.flush(time.monotonic(), force=True)

    def refresh(self, now: float) -> None:
        """Group the connected workers by user."""
        if now - self._refreshed < REFRESH:
            return
        self._refreshed = now
        users: dict[str, list[str]] = {}
        threads: dict[str, int] = {}
        for address, info in self.client.scheduler_info()["workers"].items():
            user = self.identity(address, info)
            if user is None:
                continue
            users.setdefault(user, []).append(address)
            threads[user] = threads.get(user, 0) + int(info.get("nthreads", 1) or 1)
        self.users, self.threads = users, threads

    def expire(self, now: float) -> None:
        """Give up on results not back within delay_bound; they are replaced elsewhere."""
        if self.p.delay_bound is None:
            return
        late = [k for k, (_, r, _) in self.pending.items() if now - r.sent > self.p.delay_bound]
        for key in late:
            wu, r, f = self._drop(key)
            r.outcome = "timed out"
            self.outcomes.append({"key": r.key, "outcome": "error"})
            f.cancel()
            self.validate(wu, now)

    def top_up(self, wu: Workunit, now: float) -> None:
        """Send the results `wu` needs: target_nresults (one for a trusted volunteer's), one
        more after each inconclusive validation, a replacement for each error or timeout."""
        if wu.state != IN_PROGRESS:
            return
        while wu.count(IN_PROGRESS, "success") < self.wanted(wu):
            if len(wu.results) >= self.p.max_total_results:
                self.finish(wu, "error", TOO_MANY_RESULTS, now)
                return
            user, short = self.pick(wu)
            if user is None:
                if short and wu.count(IN_PROGRESS) == 0:
                    self.short(wu, now)
                return
            if not wu.results:
                wu.single = self.trusted(user)
            self.send(wu, user, now)
        wu.waiting_since = None

    def quorum(self, wu: Workunit) -> int:
        return 1 if wu.single else self.p.min_quorum

    def wanted(self, wu: Workunit) -> int:
        target = 1 if wu.single else self.p.target
        succ = wu.count("success")
        return target if succ < self.quorum(wu) else max(target, succ + 1)

    def trusted(self, user: str) -> bool:
        """Adaptive replication: `user` may take a workunit alone (but for spot checks)."""
        return (
            self.p.adaptive
            and self.trust.get(user, 0) >= self.p.trusted_after
            and random.random() >= self.p.spot_check
        )

    def pick(self, wu: Workunit) -> tuple[str | None, bool]:
        """The least busy volunteer without a result of `wu` and with room for one more;
        (None, True) when no connected volunteer is without one."""
        used = {r.user for r in wu.results}
        free = [u for u in self.users if u not in used]
        room = [u for u in free if self.outstanding.get(u, 0) < self.p.buffer * self.threads[u]]
        if not room:
            return None, not free
        return min(room, key=lambda u: self.outstanding.get(u, 0) / self.threads[u]), False

    def short(self, wu: Workunit, now: float) -> None:
        """`wu` needs a result and no volunteer may take it: wait, or end it, as configured."""
        if self.p.when_short == "error":
            self.finish(wu, "error", NOT_SENDABLE, now)
            return
        if wu.waiting_since is None:
            wu.waiting_since = now
            log.info("workunit %d: %s (a result each)", wu.index, WAITING)
        wu.error = WAITING
        if self.p.send_timeout is not None and now - wu.waiting_since > self.p.send_timeout:
            self.finish(wu, "error", NOT_SENDABLE, now)

    def send(self, wu: Workunit, user: str, now: float) -> None:
        key = f"{self.prefix}{wu.index}-{len(wu.results)}"
        f = self.client.submit(
            _call, self.fn, wu.arg, key=key, workers=self.users[user],
            allow_other_workers=False, priority=wu.priority, pure=False,
        )  # fmt: skip
        r = Result(key, user, now)
        wu.results.append(r)
        wu.error = ""
        self.pending[key] = (wu, r, f)
        self.outstanding[user] = self.outstanding.get(user, 0) + 1
        f.add_done_callback(lambda _: self._wake.set())

    def _drop(self, key: str) -> tuple[Workunit, Result, Any]:
        wu, r, f = self.pending.pop(key)
        self.outstanding[r.user] -= 1
        return wu, r, f

    def gather(self, keys: list[str]) -> dict[str, Any]:
        """The outputs of the finished results among `keys`, in one round trip (those whose
        data is lost are missing)."""
        futures = {k: self.pending[k][2] for k in keys if self.pending[k][2].status == "finished"}
        try:
            return dict(zip(futures, self.client.gather(list(futures.values())), strict=True))
        except Exception:  # one's data was lost with its worker: each on its own
            return {}

    def collect(self, key: str, now: float, values: dict[str, Any]) -> None:
        """A result came back (or failed): record it and validate its workunit."""
        if key not in self.pending:
            return  # its workunit ended meanwhile
        wu, r, f = self._drop(key)
        r.received = now
        if f.status == "finished":
            try:
                r.worker, r.value = values[key] if key in values else f.result()
                r.outcome = "success"
            except Exception as exc:  # its data was lost with its worker
                r.outcome, r.error = "error", repr(exc)
        else:
            r.outcome = "error"
            r.error = repr(f.exception()) if f.status == "error" else f.status
        if r.outcome == "error":
            self.outcomes.append({"key": r.key, "outcome": "error"})
        self.validate(wu, now)

    def validate(self, wu: Workunit, now: float) -> None:
        """End `wu` when a strict majority of at least min_quorum successes agree, or when it
        has too many errors or too many successes without consensus."""
        if wu.state != IN_PROGRESS:
            return
        if wu.single and wu.count("error", "timed out"):
            wu.single = False  # its trusted volunteer failed it: replicated as usual
        if wu.count("error") > self.p.max_error_results:
            self.finish(wu, "error", TOO_MANY_ERRORS, now)
            return
        succ = [r for r in wu.results if r.outcome == "success"]
        if len(succ) < self.quorum(wu):
            return
        group = consensus([r.value for r in succ], self.compare)
        if group:
            agreed = [succ[i] for i in group]
            for r in succ:
                r.outcome = "valid" if r in agreed else "invalid"
            wu.canonical = agreed[0].value
            wu.agreed = [r.user for r in agreed]
            self.finish(wu, DONE, "", now)
        elif len(succ) > self.p.max_success_results:
            self.finish(wu, "error", NO_CONSENSUS, now)

    def finish(self, wu: Workunit, state: str, error: str, now: float) -> None:
        """End `wu`: results still out are not needed (cancelled); outcomes to report."""
        wu.state, wu.error, wu.finished = state, error, now
        for r in wu.results:
            if r.outcome == IN_PROGRESS:
                _, _, f = self._drop(r.key)
                f.cancel()
                r.outcome = "not needed"
            if r.outcome in ("valid", "invalid"):
                self.outcomes.append({"key": r.key, "outcome": r.outcome})
            elif r.outcome in ("success", "not needed"):
                self.outcomes.append({"key": r.key, "outcome": "unchecked"})
            self._record(wu, r)

    def _record(self, wu: Workunit, r: Result) -> None:
        """Trust grows only with results others agreed with; a wrong or failed one ends it."""
        if r.outcome == "valid" and not wu.single:
            self.trust[r.user] = self.trust.get(r.user, 0) + 1
        elif r.outcome in ("invalid", "error", "timed out"):
            self.trust[r.user] = 0

    def flush(self, now: float, *, force: bool = False) -> None:
        """Report the outcomes gathered so far to the witness (at most every REPORT_EVERY s)."""
        if not self.outcomes or not (force or now - self._reported >= REPORT_EVERY):
            return
        batch, self.outcomes = self.outcomes, []
        self._reported = now
        if not self.report:
            return
        try:
            self.client.sync(self.client.scheduler.kalavai_outcomes, outcomes=batch)
        except Exception as exc:  # a scheduler without the witness plugin
            log.warning("outcomes not reported to the witness: %s", exc)
            self.report = False
