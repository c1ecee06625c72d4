"""What the tray shows, as pure functions of one `Snapshot` (no Qt here, so it is tested
without a display): the icon state, the tooltip that says what is happening and why it is not
computing, the menu items (rebuilt on every `aboutToShow`, after vorta's `tray_menu.py`), and
the desktop notification a change deserves. Their text passes through `printable`: pool
names, reasons and conditions come from the agent, the platform or a token, and no control
character from them reaches the tray or the window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kalavai_like.client.boinc import boinc_line
from kalavai_like.client.credit import PARTS, amount_text, hours, reliability_text, totals_text
from kalavai_like.client.records import NodeStatus, WorkerStatus
from kalavai_like.client.text import printable
from kalavai_like.units import format_amount, format_when, parse_until

APP = "kalavai-like"
TOMORROW_AT = 8  # "Pause until tomorrow" resumes at 08:00 the next day
USER_PAUSES = ("paused by the user", "paused until")


@dataclass(frozen=True)
class Snapshot:
    """Everything the tray knows at one moment.

    `status` is the agent's last snapshot, None when no agent answers (`agent_problem` says
    why); `agent_seen` once an agent answered since the tray started (an agent that was never
    there is a first run, not a failure). `account` is the logged-in email. `today` is the
    platform's row for today (cpu_core_hours, ram_gb_hours, gpu_hours, credit: granted; and
    the `pending` and `unverified` totals), None until fetched.
    """

    status: NodeStatus | None
    now: float
    agent_problem: str = ""
    agent_detail: str = ""
    account: str | None = None
    today: dict[str, Any] | None = None
    platform_problem: str = ""
    busy: str = ""  # an action under way, e.g. "Leaving the pool"
    agent_seen: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return self.status.state if self.status is not None else "agent_down"


@dataclass(frozen=True)
class MenuItem:
    """One menu entry: `key` names the action (empty for info lines and separators)."""

    key: str
    text: str
    enabled: bool = True
    separator: bool = False
    tip: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", printable(self.text))
        object.__setattr__(self, "tip", printable(self.tip))


SEPARATOR = MenuItem("", "", enabled=False, separator=True)


# ---- words --------------------------------------------------------------------------------


def _clock(ts: float, now: float) -> str:
    local = dt.datetime.fromtimestamp(now).astimezone()
    return format_when(dt.datetime.fromtimestamp(ts).astimezone(), local)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def pause_words(status: NodeStatus, now: float) -> str:
    """Why the worker is paused, as a person says it ("Paused by you until 15:00")."""
    w = status.worker
    reason = (w.pause_reason if w else "") or status.reason
    until = w.paused_until if w else None
    if not reason or reason.startswith(USER_PAUSES):
        return f"Paused by you until {_clock(until, now)}" if until else "Paused by you"
    if reason == "paused from the platform":
        return "Paused from the platform's web page"
    text = reason.removeprefix("paused: ").removeprefix("paused ")
    return f"Paused: {text}" + (f" (until {_clock(until, now)})" if until else "")


def _number(value: float) -> str:
    return format_amount(value)  # "0.003", never "0.00" for a little


def today_words(snap: Snapshot) -> str:
    """Today's contribution in one line, from the platform's row (granted, and what is pending
    or unverified in the words of kalavai_like.client.credit) or the agent's counters."""
    t = snap.today
    if t is not None:
        amounts = totals_text(t, _number, optional=("gpu_hours",))
        line = f"Today: {amounts}, {_number(float(t.get('credit', 0)))} credit granted"
        other = [(part, float((t.get(part) or {}).get("credit", 0) or 0)) for part in PARTS[1:]]
        shown = [f"{part} {_number(value)}" for part, value in other if value]
        return line + (f" ({', '.join(shown)})" if shown else "")
    w = snap.status.worker if snap.status else None
    if w is not None:
        cpu_h = hours(w.totals)["cpu_core_hours"]
        return f"Since joining: {amount_text('cpu_core_hours', cpu_h, _number)}"
    return "Today: nothing yet"


def reliability_words(snap: Snapshot) -> str:
    """This device's reliability record as the pool's head judged its results ("" if none)."""
    w = snap.status.worker if snap.status else None
    record = reliability_text(w.witnessed.to_dict()) if w and w.witnessed else ""
    return _sentence(record)


def _problems(snap: Snapshot) -> list[str]:
    lines = [c.title for c in snap.status.conditions] if snap.status else []
    if snap.platform_problem and "Platform unreachable" not in lines:
        lines.append(snap.platform_problem)
    return lines


def icon_state(snap: Snapshot) -> str:
    """One of assets.ICON_STATES."""
    s = snap.status
    if s is None and (not snap.agent_problem or not snap.agent_seen):
        return "idle" if snap.account else "logged-out"  # connecting, or not started yet
    if s is None or s.state == "error":
        return "error"
    if s.state == "running":
        return "contributing"
    if s.state in ("joining", "leaving") or snap.busy:
        return "joining"
    if s.state == "paused":
        return "paused"
    return "idle" if snap.account else "logged-out"


def headline(snap: Snapshot) -> str:
    """The first line of the tooltip: what is happening, and why when not computing."""
    s = snap.status
    if s is None:
        if not snap.agent_problem:
            return "Connecting to the agent…"
        return "Agent not running" if snap.agent_seen else "Agent not started yet"
    pool = s.worker.pool_name if s.worker else ""
    if snap.busy:
        return snap.busy
    if s.state == "running":
        if s.worker is None:  # a seed only
            return _sentence(s.reason)
        if s.reason.startswith("finishing"):  # `pool stop --finish`
            return f"Finishing in pool {pool}: leaving once the current work is done"
        return f"Contributing to pool {pool}"
    if s.state == "paused":
        return pause_words(s, snap.now)
    if s.state == "joining":
        return "Joining a pool"
    if s.state == "leaving":
        return f"Leaving pool {pool}" if pool else "Leaving the pool"
    if s.state == "error":
        return f"Error: {s.reason}" if s.reason else "Error"
    if not snap.account:
        return "Not logged in"
    if s.reason.startswith("last join failed"):
        return f"Not in a pool ({s.reason})"
    return "Not in a pool"


def path_words(w: WorkerStatus) -> str:
    """How this computer reaches its pool: "Connected directly" or "Connected through the relay
    HOST:PORT (UDP blocked)"."""
    if w.path.startswith("relay"):
        why = w.path.removeprefix("relay").strip()
        return f"Connected through the relay {w.relay} {why}".rstrip()
    return "Connected directly"


def tooltip(snap: Snapshot) -> str:
    """The whole tooltip: headline, detail, ongoing problems."""
    lines = [f"{APP}: {headline(snap)}"]
    s = snap.status
    if s is None and snap.agent_problem:
        lines.append(snap.agent_problem)
        if snap.agent_detail:
            lines.append(snap.agent_detail.split(". ")[0].rstrip(".") + ".")
        lines.append("Use “Start agent” in the menu.")
    elif s is None:
        pass
    elif s.worker is not None and s.state in ("running", "paused"):
        lines.append(f"Pool {s.worker.pool_name}, address {s.worker.address}")
        lines += [path_words(s.worker)] if s.worker.path else []
        lines.append(today_words(snap))
        if s.worker.boinc:
            lines.append(boinc_line(s.worker.boinc))
    elif s.state == "idle" and not snap.account:
        lines.append("Log in (or sign up) to join a pool.")
    elif s.state == "idle":
        lines.append("Join a pool to lend this computer.")
    lines += _problems(snap)
    return printable("\n".join(lines))


# ---- the menu -----------------------------------------------------------------------------


def _status_lines(snap: Snapshot) -> list[MenuItem]:
    s = snap.status
    first = headline(snap)
    lines = [MenuItem("status", first, enabled=False)]
    if s is not None and s.worker is not None and s.state in ("running", "paused", "error"):
        if s.state != "running":  # the headline gave the reason; still name the pool
            lines.append(MenuItem("status", f"Pool {s.worker.pool_name}", enabled=False))
        lines.append(MenuItem("status", f"Address {s.worker.address}", enabled=False))
        if s.worker.path:
            lines.append(MenuItem("status", path_words(s.worker), enabled=False))
        lines.append(MenuItem("status", today_words(snap), enabled=False))
        if record := reliability_words(snap):
            lines.append(MenuItem("status", record, enabled=False))
        if s.worker.boinc:
            lines.append(MenuItem("status", boinc_line(s.worker.boinc), enabled=False))
    elif s is None and snap.agent_problem:
        lines.append(MenuItem("status", snap.agent_problem, enabled=False))
    lines += [MenuItem("status", p, enabled=False) for p in _problems(snap)]
    return lines


def menu_model(snap: Snapshot) -> list[MenuItem]:
    """The tray menu for `snap`, top to bottom."""
    s = snap.status
    up = s is not None and not snap.busy
    state = snap.state
    member = up and s is not None and s.worker is not None
    logged_in = bool(snap.account)
    items = _status_lines(snap)
    items.append(SEPARATOR)
    if s is None and snap.agent_problem:
        items.append(MenuItem("start_agent", "Start agent", tip="Start the kalavai-like agent"))
    join_tip = "" if logged_in else "Log in first"
    items.append(
        MenuItem("join", "Join a pool…", enabled=up and state == "idle" and logged_in, tip=join_tip)
    )
    can_pause = member and state in ("running", "paused")
    for key, text in (
        ("pause_1h", "Pause for 1 hour"),
        ("pause_3h", "Pause for 3 hours"),
        ("pause_tomorrow", "Pause until tomorrow"),
        ("pause", "Pause until I resume"),
    ):
        items.append(MenuItem(key, text, enabled=can_pause))
    items.append(MenuItem("resume", "Resume", enabled=member and state == "paused"))
    held = member and state == "paused" and held_by_rule(s)
    tip = "" if held else "When your rules (schedule, in use, battery) pause the worker"
    for key, text in ANYWAY:
        items.append(MenuItem(key, text, enabled=held, tip=tip))
    items.append(MenuItem("leave", "Leave pool", enabled=member))
    items.append(SEPARATOR)
    items.append(MenuItem("contributions", "My contributions…", enabled=logged_in))
    items.append(MenuItem("preferences", "Preferences…"))
    if logged_in:
        items.append(MenuItem("logout", f"Log out ({snap.account})"))
    else:
        items.append(MenuItem("login", "Log in…"))
        items.append(MenuItem("signup", "Sign up…", tip="Create an account on the platform"))
    items.append(SEPARATOR)
    items.append(MenuItem("quit", "Quit (the agent keeps running)",
                          tip="Closes the tray only; the pool membership goes on"))  # fmt: skip
    return items


# "Compute anyway" (the run_anyway preference): the menu key, its words, its value.
ANYWAY = (("anyway_1h", "Compute anyway for 1 hour"), ("anyway", "Compute anyway until I pause"))
ANYWAY_VALUES = {"anyway_1h": "1h", "anyway": "until you pause"}
RULE_CODES = frozenset({"in_use", "on_battery", "schedule", "cpu_load"})


def held_by_rule(status: NodeStatus | None) -> bool:
    """Whether one of the volunteer's rules (not a pause of their own) holds the worker."""
    w = status.worker if status is not None else None
    return w is not None and any(r.code in RULE_CODES for r in w.reasons)


def pause_seconds(key: str, now: float) -> float | None:
    """Seconds a pause menu key asks for (None: until resumed)."""
    if key == "pause_1h":
        return 3600.0
    if key == "pause_3h":
        return 3 * 3600.0
    if key == "pause_tomorrow":
        local = dt.datetime.fromtimestamp(now).astimezone()
        at = parse_until(f"tomorrow {TOMORROW_AT:02d}:00", local)
        assert at is not None
        return at.timestamp() - now
    if key == "pause":
        return None
    raise ValueError(f"not a pause key: {key}")


# ---- notifications ------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A desktop notification: `level` is "info", "warning" or "error"."""

    title: str
    text: str
    level: str = "info"

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", printable(self.title))
        object.__setattr__(self, "text", printable(self.text))


def notice(prev: Snapshot | None, new: Snapshot) -> Notice | None:
    """The notification the change from `prev` to `new` deserves (None: no change worth one)."""
    if prev is None:
        return None
    a, b = prev.status, new.status
    if a is not None and b is None:
        return Notice("Agent stopped", new.agent_problem or "No agent answers.", "error")
    if a is None or b is None or a.state == b.state:
        return None
    either = b.worker or a.worker
    pool = either.pool_name if either is not None else "the pool"
    if b.state == "running" and b.worker is not None and a.state in ("idle", "joining"):
        return Notice(f"Joined pool {pool}", f"Contributing as {b.worker.address}.")
    if b.state == "paused":
        w = b.worker
        reason = (w.pause_reason if w else "") or b.reason
        if reason and not reason.startswith(USER_PAUSES):
            return Notice("Paused by a rule", pause_words(b, new.now), "warning")
        return None
    if b.state == "error":
        return Notice("kalavai-like error", b.reason or "See the agent log.", "error")
    if b.state == "idle" and a.worker is not None:
        return Notice(f"Left pool {a.worker.pool_name}", "This computer no longer contributes.")
    return None
