"""`kalavai-like credits [--days N] [--json] [--csv FILE]`: what you gave and what it earned.

Totals (CPU core-hours, RAM GiB-hours, GPU-hours, credit, recent average) as measured and in
the platform's parts: granted (witnessed by the pool's head), pending (not yet witnessed) and
unverified (never witnessed, or from a pool without a witness); what counts on the
leaderboard; per pool, who witnessed its credit ("witnessed by the pool's owner" for a pool
the platform does not trust); what the local agent measured but the platform has not yet
acknowledged; and a per-day table. `--csv` writes the per-day table; read back, it equals the
`daily` list of `--json`.
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
SPLIT = ("measured", "granted", "pending", "unverified", "counted")  # of GET /credit/me


def unacknowledged_from_agent() -> dict[str, float] | None:
    """Usage the local agent measured that the platform has not acknowledged (None: no agent)."""
    from kalavai_like.client.credit import hours
    from kalavai_like.client.records import Counters

    try:
        st = context.node(timeout=10.0).status()
    except AgentUnavailable:
        return None
    return hours(st.worker.pending if st.worker is not None else Counters())


def pool_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of GET /credit/me/pools with its granted totals under `granted`."""
    parts = ("pool", "pending", "unverified", "witness")
    granted = {k: v for k, v in row.items() if k not in parts}
    return {"pool": row.get("pool") or {}, "granted": granted,
            **{k: row.get(k) or {} for k in ("pending", "unverified")},
            "witness": row.get("witness") or "none"}  # fmt: skip


@app.command()
def credits(
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="Days in the table.")] = 30,
    json: JsonOpt = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write the per-day table to this CSV file.")
    ] = None,
) -> None:
    """Your contribution: granted (witnessed), pending and unverified, per pool and per day."""
    from kalavai_like.client.credit import daily_rows, owner_witnessed, write_daily_csv

    home = context.home()
    with logged_in(home) as client:
        me = client.request("GET", "/credit/me")
        pools = client.request("GET", "/credit/me/pools") or []
        rows = client.request("GET", "/credit/me/daily", params={"days": days}) or []
    daily = daily_rows(rows)
    report = {
        **{part: me.get(part) or {} for part in SPLIT},
        "pools": [pool_row(p) for p in pools],
        "owner_witnessed": owner_witnessed(pools),
        "not_acknowledged": unacknowledged_from_agent(),
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
    from kalavai_like.client.credit import (
        AMOUNTS,
        COLUMNS,
        LEADERBOARD,
        LEGEND,
        UNTRUSTED,
        WITNESS,
        four_places,
        parts_text,
    )

    rows: list[tuple[str, Any]] = []
    for key, label in [*((key, name) for key, name, _ in AMOUNTS), ("credit", "Credit")]:
        measured = float(report["measured"].get(key, 0.0) or 0.0)
        rows.append((label, f"{parts_text(report, key)} (measured {four_places(measured)})"))
    if by_owner := report["owner_witnessed"]:
        owner = f"{four_places(by_owner)} credit {WITNESS['owner']} ({UNTRUSTED})"
        rows.append(("Of it granted", owner))
    recent = float(report["granted"].get("recent_average", 0.0) or 0.0)
    rows.append(("Recent average", f"{four_places(recent)} credit/day (granted)"))
    counted = float(report["counted"].get("credit", 0.0) or 0.0)
    rows.append(("On the leaderboard", f"{four_places(counted)} credit ({LEADERBOARD})"))
    rows.append(("Not yet acknowledged", _unacknowledged(report["not_acknowledged"])))
    rows.append(("What is what", LEGEND))
    console.pairs(rows)
    console.table(
        ["Pool", "Credit granted", "Pending", "Unverified", "Witness"],
        [(p["pool"].get("name", ""), *(four_places(float(p[part].get("credit", 0.0) or 0.0))
          for part in ("granted", "pending", "unverified")), WITNESS.get(p["witness"], ""))
         for p in report["pools"]],
        title="Per pool",
    )  # fmt: skip
    console.table(
        ["Day", *(short for _, _, short in AMOUNTS), "Credit"],
        [(r["day"], *(four_places(r[c]) for c in COLUMNS[1:])) for r in report["daily"]],
        title=f"Granted per day (last {report['days']} days, UTC)",
    )


def _unacknowledged(amounts: dict[str, float] | None) -> str:
    from kalavai_like.client.credit import totals_text

    if amounts is None:
        return "unknown (the local agent is not running)"
    return f"{totals_text(amounts)} (measured by this computer's agent, not yet sent)"
