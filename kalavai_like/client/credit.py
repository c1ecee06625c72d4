"""The user's contribution as frontends show it: the amounts and their names (as the
platform's web pages write them), agent counters turned into hours, one line of totals, and
the per-day table as CSV (numbers in full precision, so a file reads back exactly)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from kalavai_like.usage.ledger import Counters

AMOUNTS = (  # the platform's key, its long name and its short name
    ("cpu_core_hours", "CPU core-hours", "CPU core-h"),
    ("ram_gb_hours", "RAM GB-hours", "RAM GB-h"),
    ("gpu_hours", "GPU-hours", "GPU-h"),
)
SHORT = {key: short for key, _, short in AMOUNTS}
COLUMNS = ("day", *(key for key, _, _ in AMOUNTS), "credit")  # the per-day table
Number = Callable[[float], str]


def four_places(value: float) -> str:
    return f"{value:.4f}"


def hours(counters: Counters) -> dict[str, float]:
    """An agent's counters (seconds) as the platform's hours."""
    return {
        "cpu_core_hours": counters.cpu_seconds / 3600,
        "ram_gb_hours": counters.ram_gb_seconds / 3600,
        "gpu_hours": counters.gpu_seconds / 3600,
    }


def amount_text(key: str, value: float, number: Number = four_places) -> str:
    """One amount with its short name: "0.2500 CPU core-h"."""
    return f"{number(value)} {SHORT[key]}"


def totals_text(
    totals: Mapping[str, Any], number: Number = four_places, *, optional: Iterable[str] = ()
) -> str:
    """CPU, RAM and GPU hours in one line; the amounts named in `optional` only when not 0."""
    skip = set(optional)
    values = [(key, float(totals.get(key, 0.0) or 0.0)) for key, _, _ in AMOUNTS]
    return ", ".join(amount_text(k, v, number) for k, v in values if v or k not in skip)


def daily_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The platform's per-day rows with just the table's columns, amounts as floats."""
    return [{"day": r["day"], **{c: float(r.get(c, 0.0) or 0.0) for c in COLUMNS[1:]}}
            for r in rows]  # fmt: skip


def daily_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The per-day table as CSV: a header line, then one line per day."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(COLUMNS)
    for row in daily_rows(rows):
        out.writerow([row["day"], *(repr(row[c]) for c in COLUMNS[1:])])
    return buf.getvalue()


def write_daily_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """`daily_csv` into the file `path`.

    Raises:
        OSError: the file cannot be written.
    """
    path.write_text(daily_csv(rows), encoding="utf-8")


def read_daily_csv(path: Path) -> list[dict[str, Any]]:
    """The per-day table back from a file `write_daily_csv` wrote."""
    with open(path, newline="", encoding="utf-8") as f:
        return daily_rows(csv.DictReader(f))
