"""A BOINC worker's state in words, for every frontend: the rows `pool status` prints and the
tray's window shows, and the tray's one status line. Input is `WorkerStatus.boinc` (the JSON
of kalavai_like.usage.boinc.BoincState)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from kalavai_like.units import format_duration


def _when(t: Any) -> str:
    if not isinstance(t, int | float) or not t:
        return "never"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _ago(t: Any, now: float) -> str:
    if not isinstance(t, int | float) or not t:
        return "never"
    return f"{format_duration(max(0, int(now - t)))} ago"


def project_text(p: Mapping[str, Any], now: float) -> str:
    """One project: its name, host credit and how its scheduler last answered."""
    credit = f"host credit {float(p.get('host_total_credit') or 0):g}"
    if p.get("unreachable"):
        contact = f"{p.get('message')}; last try {_when(p.get('last_try'))}"
    else:
        contact = f"last contact {_ago(p.get('last_rpc'), now)}"
        if p.get("message"):
            contact += f": {p['message']}"
    flags = [w for k, w in (("no_more_work", "no new work"), ("detach_when_done",
             "leaving when done")) if p.get(k)]  # fmt: skip
    return f"{p.get('name')} ({p.get('url')}): {credit}; {contact}" + "".join(
        f"; {f}" for f in flags
    )


def task_text(t: Mapping[str, Any]) -> str:
    """One task: name, state, fraction done, elapsed time and deadline."""
    done = float(t.get("fraction_done") or 0) * 100
    elapsed = format_duration(int(t.get("elapsed_seconds") or 0))
    return (f"{t.get('name')}: {t.get('state')}, {done:.0f}% done, {elapsed} elapsed, "
            f"due {_when(t.get('deadline'))}")  # fmt: skip


def boinc_rows(boinc: Mapping[str, Any] | None, now: float) -> list[tuple[str, str]]:
    """Rows for `pool status` and the tray's window (none before the first read)."""
    if not boinc:
        return []
    rows = []
    if boinc.get("account_manager"):
        rows.append(("Account manager", str(boinc["account_manager"])))
    projects = boinc.get("projects") or []
    rows += [("BOINC project", project_text(p, now)) for p in projects]
    if not projects:
        rows.append(("BOINC project", "not attached yet"))
    tasks = boinc.get("tasks") or []
    rows += [("BOINC task", task_text(t)) for t in tasks]
    if projects and not tasks:
        rows.append(("BOINC task", "none"))
    if boinc.get("coprocessors"):
        rows.append(("Coprocessors", ", ".join(boinc["coprocessors"])))
    return rows


def boinc_line(boinc: Mapping[str, Any] | None) -> str:
    """The tray's status line: the running task's progress, or why there is none."""
    if not boinc:
        return ""
    projects = boinc.get("projects") or []
    down = [p for p in projects if p.get("unreachable")]
    if down:
        return f"BOINC: project unreachable (last try {_when(down[0].get('last_try'))})"
    tasks = boinc.get("tasks") or []
    running = [t for t in tasks if t.get("state") == "running"] or tasks
    if running:
        t = running[0]
        more = f" (+{len(tasks) - 1} more)" if len(tasks) > 1 else ""
        done = float(t.get("fraction_done") or 0) * 100
        return f"BOINC: {t.get('name')} {done:.0f}% ({t.get('state')}){more}"
    if not projects:
        return "BOINC: attaching to the project"
    message = projects[0].get("message") or "waiting for work"
    return f"BOINC: no task ({message})"
