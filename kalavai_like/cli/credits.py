"""`kalavai-like credits [--days N] [--json] [--csv FILE]`: what you gave and what it earned.

Totals (CPU core-hours, RAM GB-hours, GPU-hours, credit, recent average) as measured and as
granted by the platform, plus what the local agent measured but the platform has not yet
acknowledged (pending), and a per-day table. `--csv` writes the per-day table; read back, it
equals the `daily` list of `--json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.client.account import logged_in
from kalavai_like.errors import AgentUnavailable, InvalidInput

app = typer.Typer()


def pending_from_agent() -> dict[str, float] | None:
    """Usage the local agent measured that the platform has not acknowledged (None: no agent)."""
    from kalavai_like.client.credit import hours
    from kalavai_like.client.records import Counters

    try:
        st = context.node(timeout=10.0).status()
    except AgentUnavailable:
        return None
    return hours(st.worker.pending if st.worker is not None else Counters())


@app.command()
def credits(
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="Days in the table.")] = 30,
    json: JsonOpt = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write the per-day table to this CSV file.")
    ] = None,
) -> None:
    """Your contribution: measured, granted and pending totals, and a per-day table."""
    from kalavai_like.client.credit import daily_rows, write_daily_csv

    home = context.home()
    with logged_in(home) as client:
        me = client.request("GET", "/credit/me")
        rows = client.request("GET", "/credit/me/daily", params={"days": days}) or []
    daily = daily_rows(rows)
    report = {
        "measured": me.get("measured") or {},
        "granted": me.get("granted") or {},
        "pending": pending_from_agent(),
        "days": days,
        "daily": daily,
    }
    if csv_file is not None:
        try:
            write_daily_csv(csv_file, daily)
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
    from kalavai_like.client.credit import AMOUNTS, COLUMNS

    measured, granted, pending = report["measured"], report["granted"], report["pending"]
    labels = [(key, name) for key, name, _ in AMOUNTS]
    rows = []
    for key, label in [*labels, ("credit", "Credit"), ("recent_average", "Recent average")]:
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
        ["Day", *(short for _, _, short in AMOUNTS), "Credit"],
        [(r["day"], *(f"{r[c]:.4f}" for c in COLUMNS[1:])) for r in report["daily"]],
        title=f"Granted per day (last {report['days']} days, UTC)",
    )
