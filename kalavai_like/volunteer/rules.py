"""The one rule engine: from the clock, the machine's situation and the volunteer's preferences
to whether the worker should run, with which limits, and why, in words a person understands.

`evaluate(inputs, prefs, hardware, state)` is pure: it returns a `Decision` and the new
`RuleState` (the debounce memory, serialisable so an agent restart keeps it). `RuleEngine`
holds that state for the agent. Rules:

- paused by you (no end), or until an instant (the countdown lives in `Prefs.paused_until`);
- run only when idle: no input for `idle_after` (unknown idle time counts as idle);
- on battery: pause, resuming on AC or at/above `battery_resume`%, with a 5-point band so a
  charge hovering at the threshold does not flap;
- outside the weekly schedule;
- other programs' CPU load above `load_pause`% for `load_pause_after` s, resuming after
  `load_resume_after` s below;
- "compute anyway" (`run_anyway`, BOINC's run-always override) sets the four rules above aside
  for a while or until the volunteer pauses; a pause of their own still pauses.

Idle picks the idle limits, otherwise the in-use limits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kalavai_like.container.spec import Limits
from kalavai_like.units import format_duration, format_when
from kalavai_like.volunteer.prefs import UNTIL_PAUSED, Hardware, Prefs

BATTERY_BAND = 5.0


@dataclass(frozen=True)
class Reason:
    """Why the node is (or is not) computing; `pauses` is False for notes that don't pause."""

    code: str
    text: str
    until: dt.datetime | None = None
    pauses: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "text": self.text,
            "until": self.until.isoformat() if self.until else None,
            "pauses": self.pauses,
        }


@dataclass(frozen=True)
class Inputs:
    """What the machine looks like now (kalavai_like.volunteer.hostinfo measures these)."""

    now: dt.datetime  # timezone-aware local time
    idle_seconds: float | None = None  # None: no desktop session to ask
    on_battery: bool = False
    battery_percent: float | None = None
    load_percent: float | None = None  # other programs' CPU, % of the whole machine
    user_paused: bool = False  # paused by the volunteer with no end time


@dataclass(frozen=True)
class RuleState:
    """The engine's memory between evaluations (epoch seconds)."""

    load_high_since: float | None = None
    load_low_since: float | None = None
    load_paused: bool = False
    battery_running: bool = False  # running on battery because the charge was high enough

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Decision:
    """What the agent should do: `desired` state, the `limits` to run with, and the reasons."""

    desired: str  # "running" | "paused"
    reasons: tuple[Reason, ...]
    limits: Limits
    profile: str  # "idle" | "in_use"
    next_check: dt.datetime | None = None  # the decision may change by the clock alone then
    pause_expired: bool = False  # Prefs.paused_until has passed and can be cleared

    @property
    def pausing(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.pauses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "desired": self.desired,
            "reasons": [r.to_dict() for r in self.reasons],
            "limits": self.limits.to_dict(),
            "profile": self.profile,
            "next_check": self.next_check.isoformat() if self.next_check else None,
        }


def _load_rule(
    inputs: Inputs, prefs: Prefs, state: RuleState, ts: float
) -> tuple[RuleState, float | None]:
    """Debounced load rule: the new state and when it would next change by time alone.

    Running, a load above the limit for `load_pause_after` s pauses; paused, a load at or
    below it for `load_resume_after` s resumes. The other side of the limit restarts the wait.
    """
    limit = prefs.load_pause
    load = inputs.load_percent
    if limit is None:
        return RuleState(battery_running=state.battery_running), None
    if load is None:
        return state, None  # no reading this time: keep what we had
    paused = state.load_paused
    if paused:
        since_field, wait, crossing = "load_low_since", prefs.load_resume_after, load <= limit
    else:
        since_field, wait, crossing = "load_high_since", prefs.load_pause_after, load > limit
    if not crossing:
        return _with(state, since_field, None), None
    started = getattr(state, since_field)
    since: float = ts if started is None else started
    if ts - since >= wait:
        flipped = dataclasses.replace(
            state, load_paused=not paused, load_high_since=None, load_low_since=None
        )
        return flipped, None
    return _with(state, since_field, since), since + wait


def _with(state: RuleState, name: str, value: float | None) -> RuleState:
    changes: dict[str, Any] = {name: value}
    return dataclasses.replace(state, **changes)


def evaluate(
    inputs: Inputs, prefs: Prefs, hardware: Hardware, state: RuleState | None = None
) -> tuple[Decision, RuleState]:
    """Decides running or paused, the limits and the reasons; returns the new state too."""
    state = state or RuleState()
    now = inputs.now
    reasons: list[Reason] = []
    checks: list[dt.datetime] = []  # times the decision may change by the clock alone
    _pause_rules(inputs, prefs, reasons, checks)
    idle = _idle_rule(inputs, prefs, reasons, checks)
    battery_running = _battery_rule(inputs, prefs, state, reasons)
    _schedule_rule(prefs, now, reasons, checks)
    new_state, load_check = _load_rule(inputs, prefs, state, now.timestamp())
    new_state = dataclasses.replace(new_state, battery_running=battery_running)
    if load_check is not None:
        checks.append(dt.datetime.fromtimestamp(load_check, now.tzinfo))
    if new_state.load_paused:
        load = inputs.load_percent
        shown = f" (CPU {load:.0f}%)" if load is not None else ""
        reasons.append(Reason("cpu_load", f"other programs are busy{shown}"))

    reasons = _anyway_rule(inputs, prefs, reasons, checks)
    pausing = any(r.pauses for r in reasons)
    if not pausing and not idle:
        reasons.append(
            Reason(
                "in_use_limits", "computer in use: running with your in-use limits", pauses=False
            )
        )
    profile = prefs.idle if idle else prefs.in_use
    until = prefs.paused_until
    decision = Decision(
        desired="paused" if pausing else "running",
        reasons=tuple(reasons),
        limits=profile.limits(hardware),
        profile="idle" if idle else "in_use",
        next_check=min(checks) if checks else None,
        pause_expired=until is not None and until <= now,
    )
    return decision, new_state


def _pause_rules(
    inputs: Inputs, prefs: Prefs, reasons: list[Reason], checks: list[dt.datetime]
) -> None:
    """Paused by the volunteer: with no end, or until an instant."""
    if inputs.user_paused:
        reasons.append(Reason("paused_by_you", "paused by you"))
    until, now = prefs.paused_until, inputs.now
    if until is not None and until > now:
        reasons.append(
            Reason("paused_until", f"paused by you until {format_when(until, now)}", until)
        )
        checks.append(until)


_SET_ASIDE = frozenset({"in_use", "on_battery", "schedule", "cpu_load"})


def _anyway_rule(
    inputs: Inputs, prefs: Prefs, reasons: list[Reason], checks: list[dt.datetime]
) -> list[Reason]:
    """While the volunteer asked to compute anyway, the rules' pauses become one note."""
    until, now = prefs.run_anyway, inputs.now
    if until is None or until <= now:
        return reasons
    if until != UNTIL_PAUSED:
        checks.append(until)
    kept = [r for r in reasons if r.code not in _SET_ASIDE]
    set_aside = [r.text for r in reasons if r.code in _SET_ASIDE]
    end = "until you pause" if until == UNTIL_PAUSED else f"until {format_when(until, now)}"
    aside = f" ({'; '.join(set_aside)})" if set_aside else ""
    note = Reason("run_anyway", f"computing anyway {end}: your rules are set aside{aside}",
                  None if until == UNTIL_PAUSED else until, pauses=False)  # fmt: skip
    return [*kept, note]


def _idle_rule(
    inputs: Inputs, prefs: Prefs, reasons: list[Reason], checks: list[dt.datetime]
) -> bool:
    """Whether the computer is idle (unknown idle time counts as idle); pauses if idle-only."""
    idle = inputs.idle_seconds is None or inputs.idle_seconds >= prefs.idle_after
    if not idle and inputs.idle_seconds is not None:
        checks.append(inputs.now + dt.timedelta(seconds=prefs.idle_after - inputs.idle_seconds))
    if prefs.idle_only and not idle:
        after = format_duration(prefs.idle_after)
        reasons.append(Reason("in_use", f"computer in use (computes after {after} without input)"))
    return idle


def _battery_rule(inputs: Inputs, prefs: Prefs, state: RuleState, reasons: list[Reason]) -> bool:
    """Pauses on battery unless the charge allows running; returns that it does."""
    battery_running = False
    if prefs.battery_pause and inputs.on_battery:
        pct = inputs.battery_percent
        threshold = prefs.battery_resume
        if threshold is not None and pct is not None:
            floor = threshold - BATTERY_BAND if state.battery_running else threshold
            battery_running = pct >= floor
        if not battery_running:
            notes = [f"{pct:.0f}%"] if pct is not None else []
            notes += [f"resumes on AC or at {threshold:g}%"] if threshold is not None else []
            detail = f" ({'; '.join(notes)})" if notes else ""
            reasons.append(Reason("on_battery", f"on battery{detail}"))
    return battery_running


def _schedule_rule(
    prefs: Prefs, now: dt.datetime, reasons: list[Reason], checks: list[dt.datetime]
) -> None:
    """Pauses outside the weekly schedule; its next change is a time to check again."""
    if not prefs.schedule.allows(now):
        back = prefs.schedule.next_change(now)
        when = f" (resumes {format_when(back, now)})" if back else ""
        reasons.append(Reason("schedule", f"outside your schedule{when}", back))
    change = prefs.schedule.next_change(now)
    if change is not None:
        checks.append(change)


@dataclass
class RuleEngine:
    """Holds the debounce state between evaluations; `state` is saved with the agent's state."""

    hardware: Hardware
    state: RuleState = field(default_factory=RuleState)

    def decide(self, inputs: Inputs, prefs: Prefs) -> Decision:
        decision, self.state = evaluate(inputs, prefs, self.hardware, self.state)
        return decision
