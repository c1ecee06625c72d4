"""The agent's side of the volunteer's preferences: applies the rule engine to the running
worker on every tick.

`Policy.tick(m, w, runtime)` reads the host (idle time, power, other programs' load, the clock)
and the user's pause, asks `kalavai_like.volunteer.rules` for a `Decision`, and applies it:

- limits: the decision's profile limits, never above what the membership declared at join,
  go to `runtime.update` on the running container (never a restart), only when they change;
- a rule pause (schedule, battery, idle-only, load, a timed pause) freezes the worker and stops
  accrual without touching the user's own desired state, so the worker resumes by itself when
  the rule lifts; the user's open-ended pause stays the `Node`'s business;
- the timed pause (`pool pause --for`, the tray's timed pauses, `prefs set paused_until`) is
  the `paused_until` preference: held like any rule, and cleared by `evaluate` once it ends;
- the reasons go to the status snapshot.

The rule engine's debounce memory and whether a rule holds the worker are persisted to
`<state>/rules.json`, so a restart neither flaps nor thaws a held worker. Preferences live in
the `[prefs]` table of settings.toml (`PrefsFile`), re-read when the file changes, so the CLI,
the tray and a hand edit all apply live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kalavai_like.client.records import RuleReason
from kalavai_like.container.spec import Limits
from kalavai_like.errors import Condition, InvalidInput, KalavaiError, SystemProblem
from kalavai_like.home.files import write_json
from kalavai_like.units import format_when
from kalavai_like.volunteer.prefs import Hardware, Prefs
from kalavai_like.volunteer.rules import Decision, Inputs, RuleEngine, RuleState

if TYPE_CHECKING:
    from kalavai_like.agent.state import Membership
    from kalavai_like.agent.worker import WorkerSession

log = logging.getLogger(__name__)


class HostPort(Protocol):
    """The rule inputs of this machine (kalavai_like.volunteer.hostinfo.Host)."""

    def inputs(self, worker_cpu_seconds: float | None, user_paused: bool = False) -> Inputs: ...


class LimitsRuntime(Protocol):
    """What the policy needs of the container runtime."""

    def pause(self, ident: str) -> None: ...
    def unpause(self, ident: str) -> None: ...
    def update(
        self, ident: str, *, cpus: float | None = None, memory_bytes: int | None = None
    ) -> None: ...


class PrefsFile:
    """The `[prefs]` table of a settings.toml: load (cached by mtime), save (atomic)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._prefs = Prefs()
        self.problem: Condition | None = None

    def _stamp(self) -> tuple[float, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime, st.st_size

    def load(self) -> Prefs:
        """The preferences (the last good ones, with `problem` set, when the file is bad)."""
        stamp = self._stamp()
        if stamp is not None and stamp == self._seen:
            return self._prefs
        from kalavai_like.home import settings

        try:
            self._prefs = Prefs.from_toml(settings.load(self.path).prefs)
            self.problem = None
        except InvalidInput as exc:
            self.problem = Condition(
                "prefs_invalid",
                "Preferences not applied",
                f"{exc.title}: {exc.message}. The agent keeps the last good preferences.",
            )
        self._seen = stamp
        return self._prefs

    def save(self, prefs: Prefs) -> None:
        """Write `prefs` into the settings file, keeping every other setting as it was."""
        from kalavai_like.home import settings

        current = settings.load(self.path)
        settings.save(self.path, current.replace(prefs=prefs.to_toml()))
        self._prefs, self._seen, self.problem = prefs, self._stamp(), None


class MemoryPrefs:
    """Preferences kept in memory (tests, and nodes built without a settings file)."""

    def __init__(self, prefs: Prefs | None = None) -> None:
        self.prefs = prefs or Prefs()
        self.problem: Condition | None = None

    def load(self) -> Prefs:
        return self.prefs

    def save(self, prefs: Prefs) -> None:
        self.prefs = prefs


class PrefsStore(Protocol):
    problem: Condition | None

    def load(self) -> Prefs: ...
    def save(self, prefs: Prefs) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What a tick changed: `state`/`reason` for the node when `changed` is True."""

    changed: bool
    state: str = ""
    reason: str = ""


def _to_local(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch).astimezone()


def pause_text(until: float, now: float) -> str:
    """The node's reason during a timed pause: "paused until 15:00", "... tomorrow 08:00"
    (local time, with the day when it is not today)."""
    return "paused until " + format_when(_to_local(until), _to_local(now))


class Policy:
    """See the module docstring. Driven by the `Node` under its lock."""

    def __init__(
        self,
        prefs: PrefsStore,
        host: HostPort,
        hardware: Hardware,
        state_path: Path | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = prefs
        self.host = host
        self.hardware = hardware
        self.state_path = state_path
        self._wall = wall
        self.engine = RuleEngine(hardware)
        self.holding = False  # a rule (not the user) keeps the worker frozen
        self.decision: Decision | None = None
        self.applied: Limits | None = None  # limits last given to the running container
        self.problem: Condition | None = None
        self._load_state()

    # ---- persistence ----------------------------------------------------------------------

    def _load_state(self) -> None:
        if self.state_path is None:
            return
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("rule state unreadable (%s): starting afresh", exc)
            return
        self.engine.state = RuleState.from_dict(dict(data.get("rules") or {}))
        self.holding = bool(data.get("holding"))

    def _save_state(self) -> None:
        if self.state_path is None:
            return
        data = {"rules": self.engine.state.to_dict(), "holding": self.holding}
        try:
            write_json(self.state_path, data)
        except SystemProblem as exc:  # a full disk: the rules go on from memory
            log.warning("rule state not saved: %s", exc)

    # ---- preferences ----------------------------------------------------------------------

    def prefs(self) -> Prefs:
        return self.store.load()

    def set(self, key: str, value: str) -> Prefs:
        """Set one preference (validated against this machine) and save it.

        Raises:
            InvalidInput: unknown key, bad value, or beyond this machine ("memory cap 64G
                exceeds this machine's 23G").
        """
        new = self.prefs().set(key, value, self.hardware, _to_local(self._wall()))
        self.store.save(new)
        return new

    def reset(self, key: str | None = None) -> Prefs:
        """Back to the default for `key` (or every key), saved.

        Raises:
            InvalidInput: unknown key.
        """
        new = self.prefs().reset(key)
        self.store.save(new)
        return new

    def replace(self, table: dict[str, Any]) -> Prefs:
        """Replace every preference with a `[prefs]` TOML table (the tray's dialog); a table
        without `paused_until` leaves a timed pause as it is (pauses are the tray menu's).

        Raises:
            InvalidInput: a key or value is invalid, or beyond this machine.
        """
        new = Prefs.from_toml(table, self.hardware)
        if "paused_until" not in table:
            new = dataclasses.replace(new, paused_until=self.prefs().paused_until)
        self.store.save(new)
        return new

    # ---- the timed pause -------------------------------------------------------------------
    # `pool pause --for`, the tray's timed pauses and `prefs set paused_until` are one thing:
    # the `paused_until` preference. The rule engine holds the worker until then, and
    # `evaluate` clears it once it has passed.

    def paused_until(self) -> float | None:
        """When the timed pause ends (epoch seconds), or None."""
        until = self.prefs().paused_until
        return until.timestamp() if until is not None else None

    def pause_until(self, until: float | None) -> None:
        """Start (or move, or with None end) the timed pause, saved with the preferences."""
        at = _to_local(until).replace(microsecond=0) if until is not None else None
        prefs = self.prefs()
        if prefs.paused_until != at:
            self.store.save(dataclasses.replace(prefs, paused_until=at))

    def end_anyway(self) -> None:
        """The volunteer paused: a "compute anyway" ends with it."""
        prefs = self.prefs()
        if prefs.run_anyway is not None:
            self.store.save(dataclasses.replace(prefs, run_anyway=None))

    # ---- the tick -------------------------------------------------------------------------

    def limits_for(self, m: Membership) -> Limits:
        """The limits to run with now: the rules' profile, capped by what the join declared."""
        want = self.decision.limits if self.decision else Limits(m.cpus, m.memory_bytes, m.gpus)
        return Limits(
            round(min(want.cpus, m.cpus, float(self.hardware.cores)), 2),
            int(min(want.memory_bytes, m.memory_bytes)),
            min(want.gpus, m.gpus),
            m.disk_bytes,
        )

    def evaluate(self, m: Membership, worker_cpu_seconds: float | None) -> Decision:
        """Decide from the host's inputs, the user's pause and the preferences; a timed pause
        that has ended is cleared here (the one place that ends it)."""
        prefs = self.prefs()
        inputs = self.host.inputs(worker_cpu_seconds, m.desired == "paused")
        before = self.engine.state
        decision = self.engine.decide(inputs, prefs)
        if decision.pause_expired and prefs.paused_until is not None:
            try:
                self.store.save(dataclasses.replace(prefs, paused_until=None))
            except (KalavaiError, OSError) as exc:
                log.warning("could not clear the expired pause: %s", exc)
        if self.engine.state != before:
            self._save_state()
        self.decision = decision
        return decision

    def tick(self, m: Membership, w: WorkerSession, runtime: LimitsRuntime) -> Outcome:
        """Evaluate the rules and apply them to the worker `w` of membership `m`."""
        decision = self.evaluate(m, w.totals().cpu_seconds)
        self._apply_limits(m, w, runtime)
        hold = decision.desired == "paused" and m.desired == "running"
        if hold and not self.holding:
            runtime.pause(w.container_id)
            w.container_state = "paused"
            w.set_running(False)
            self.holding = True
            self._save_state()
            return Outcome(True, "paused", self.reason_text())
        if not hold and self.holding:
            self.holding = False
            self._save_state()
            if m.desired == "running":
                runtime.unpause(w.container_id)
                w.container_state = "running"
                w.set_running(True)
                return Outcome(True, "running", "contributing")
            return Outcome(False)
        if hold:
            return Outcome(True, "paused", self.reason_text())
        return Outcome(False)

    def hold_on_resume(self, m: Membership, w: WorkerSession) -> str | None:
        """The user lifted their pause (`m.desired` is "running" again): when a rule still
        pauses the worker, hold it (it stays frozen) and return the rule's reason; else None."""
        try:
            decision = self.evaluate(m, w.totals().cpu_seconds)
        except KalavaiError as exc:
            log.warning("rules not evaluated on resume: %s", exc)
            return None
        if decision.desired != "paused":
            if self.holding:  # nothing holds the worker any more: the caller thaws it
                self.holding = False
                self._save_state()
            return None
        if not self.holding:
            self.holding = True
            self._save_state()
        return self.reason_text()

    def adopted(self, m: Membership, w: WorkerSession) -> None:
        """After a restart: a worker a rule held stays frozen and accrues nothing."""
        self.applied = None  # the container may have any limits: apply ours again
        if self.holding and m.desired == "running":
            w.set_running(False)
            w.container_state = "paused"

    def forget(self) -> None:
        """The membership ended: nothing is held any more, and a timed pause is over."""
        self.applied, self.decision = None, None
        if self.holding:
            self.holding = False
            self._save_state()
        try:
            self.pause_until(None)
        except (KalavaiError, OSError) as exc:
            log.warning("could not clear the timed pause: %s", exc)

    def _apply_limits(self, m: Membership, w: WorkerSession, runtime: LimitsRuntime) -> None:
        lim = self.limits_for(m)
        if lim == self.applied:
            return
        try:
            runtime.update(w.container_id, cpus=lim.cpus, memory_bytes=lim.memory_bytes)
        except KalavaiError as exc:
            self.problem = Condition(
                "limits_not_applied",
                "Limits not applied",
                f"The worker's limits could not be changed ({exc.title}: {exc.message}).",
            )
            return
        log.info("worker limits now %g cores, %d bytes", lim.cpus, lim.memory_bytes)
        self.problem = None
        self.applied = lim

    # ---- reading --------------------------------------------------------------------------

    def reason_text(self) -> str:
        """The pausing reasons in one line (the node's `reason` while a rule holds it)."""
        d = self.decision
        now = self._wall()
        texts = [pause_text(r.until.timestamp(), now) if r.code == "paused_until" and r.until
                 else r.text for r in d.pausing] if d else []  # fmt: skip
        return "; ".join(texts) or "paused by your preferences"

    def reasons(self) -> list[RuleReason]:
        """The active reasons for the status snapshot."""
        d = self.decision
        if d is None:
            return []
        return [
            RuleReason(r.code, r.text, r.until.isoformat() if r.until else None) for r in d.reasons
        ]

    def conditions(self) -> list[Condition]:
        return [c for c in (self.store.problem, self.problem) if c is not None]


def build_policy(settings_file: Path, state_dir: Path) -> Policy:
    """The real policy: preferences from settings.toml, inputs from this host."""
    from kalavai_like.volunteer import hostinfo

    hw = hostinfo.hardware()
    host = hostinfo.Host(load=hostinfo.LoadMeter(cores=hw.cores))
    return Policy(PrefsFile(settings_file), host, hw, state_dir / "rules.json")
