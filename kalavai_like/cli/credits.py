"""`kalavai-like credits [--days N] [--json] [--csv FILE]`: what you gave and what it earned.

Totals (CPU core-hours, RAM GB-hours, GPU-hours, credit, recent average) as measured and as
granted by the platform, plus what the local agent measured but the platform has not yet
acknowledged (pending), and a per-day table. `--csv` writes the per-day table; read back, it
equals the `daily` list of `--json`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.client.account import logged_in
from kalavai_like.errors import AgentUnavailable, InvalidInput

COLUMNS = ("day", "cpu_core_hours", "ram_gb_hours", "gpu_hours", "credit")
_KEYS = (
    ("cpu_core_hours", "CPU core-hours"),
    ("ram_gb_hours", "RAM GB-hours"),
    ("gpu_hours", "GPU-hours"),
    ("credit", "Credit"),
    ("recent_average", "Recent average"),
)


def pending_from_agent() -> dict[str, float] | None:
    """Usage the local agent measured that the platform has not acknowledged (None: no agent)."""
    from kalavai_like.client.local import NodeClient, socket_path

    try:
        st = NodeClient(socket_path(context.home().paths), timeout=10.0).status()
    except AgentUnavailable:
        return None
    p = st.worker.pending if st.worker is not None else {}
    return {
        "cpu_core_hours": float(p.get("cpu_seconds", 0.0)) / 3600,
        "ram_gb_hours": float(p.get("ram_gb_seconds", 0.0)) / 3600,
        "gpu_hours": float(p.get("gpu_seconds", 0.0)) / 3600,
    }


def write_csv(path: Path, daily: list[dict[str, Any]]) -> None:
    """The per-day table as CSV (numbers in full precision, so it reads back exactly)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for row in daily:
            out.writerow([row["day"], *(repr(float(row.get(c, 0.0))) for c in COLUMNS[1:])])


def read_csv(path: Path) -> list[dict[str, Any]]:
    """The per-day table back from a file `write_csv` wrote."""
    with open(path, newline="", encoding="utf-8") as f:
        return [
            {"day": r["day"], **{c: float(r[c]) for c in COLUMNS[1:]}} for r in csv.DictReader(f)
        ]


def credits(
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="Days in the table.")] = 30,
    json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write the per-day table to this CSV file.")
    ] = None,
) -> None:
    """Your contribution: measured, granted and pending totals, and a per-day table."""
    home = context.home()
    with logged_in(home) as client:
        me = client.request("GET", "/credit/me")
        rows = client.request("GET", "/credit/me/daily", params={"days": days}) or []
    daily = [{"day": r["day"], **{c: float(r.get(c, 0.0)) for c in COLUMNS[1:]}} for r in rows]
    report = {
        "measured": me.get("measured") or {},
        "granted": me.get("granted") or {},
        "pending": pending_from_agent(),
        "days": days,
        "daily": daily,
    }
    if csv_file is not None:
        try:
            write_csv(csv_file, daily)
        except OSError as exc:
            raise InvalidInput(
                "Cannot write the CSV file", f"{csv_file}: {exc.strerror}."
            ) from None
    if json:
        console.emit_json(report)
        return
    _print(report)
    if csv_file is not None:
        console.note(f"Per-day table written to {csv_file}.")


def _print(report: dict[str, Any]) -> None:
    measured, granted, pending = report["measured"], report["granted"], report["pending"]
    rows = []
    for key, label in _KEYS:
        parts = [f"granted {granted.get(key, 0.0):.4f}"]
        if key in measured:
            parts.insert(0, f"measured {measured[key]:.4f}")
        if pending is not None and key in pending:
            parts.append(f"pending {pending[key]:.4f}")
        rows.append((label, ", ".join(parts)))
    if pending is None:
        rows.append(("Pending", "unknown (the local agent is not running)"))
    console.pairs(rows)
    console.table(
        ["Day", "CPU core-h", "RAM GB-h", "GPU-h", "Credit"],
        [(r["day"], *(f"{r[c]:.4f}" for c in COLUMNS[1:])) for r in report["daily"]],
        title=f"Granted per day (last {report['days']} days, UTC)",
    )


def register(root: typer.Typer) -> None:
    """Add `credits` to the root app."""
    root.command("credits")(credits)
