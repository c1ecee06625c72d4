"""The user's contribution as frontends show it: the amounts and their names (as the
platform's web pages write them), the parts of what was measured (granted, pending,
unverified) and who witnessed them in the same words in every view, agent counters turned
into hours, one line of totals, and the per-day table as CSV (numbers in full precision, so a
file reads back exactly)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from kalavai_like.units import RAM_HOURS, format_amount
from kalavai_like.usage.ledger import Counters

AMOUNTS = (  # the platform's key, its long name and its short name
    ("cpu_core_hours", "CPU core-hours", "CPU core-h"),
    ("ram_gb_hours", "RAM GiB-hours", f"RAM {RAM_HOURS}"),  # binary, as the agent measures
    ("gpu_hours", "GPU-hours", "GPU-h"),
)
SHORT = {key: short for key, _, short in AMOUNTS}
COLUMNS = ("day", *(key for key, _, _ in AMOUNTS), "credit")  # the per-day table
Number = Callable[[float], str]

# What a device measured = granted + pending + unverified + clamped (docs/API.md, Credit).
PARTS = ("granted", "pending", "unverified")
MEANING = {
    "granted": "witnessed by the pool's head",
    "pending": "measured, not yet witnessed by the pool's head",
    "unverified": "never witnessed, or a pool without a witness — not on the leaderboard",
}
LEGEND = "; ".join(f"{part}: {MEANING[part]}" for part in PARTS)
WITNESS = {  # a pool's `witness`: who backs its granted credit
    "trusted": "witnessed by the pool's head",
    "owner": "witnessed by the pool's owner",
    "none": "no witness: credit unverified",
}
LEADERBOARD = "trusted public pools, at the platform's standard rates"  # what counts there
UNTRUSTED = "a pool the platform does not trust: it counts only in that pool"
# A device is flagged to its pool's owner when the head witnessed under this share of the CPU
# it measured, once it measured a core-hour: by then the lag of the reports (seconds) cannot
# push an honest device under it.
FAR_BELOW = 0.5
FLAG_AFTER_CPU_SECONDS = 3600.0


def four_places(value: float) -> str:
    return format_amount(value, 4)


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


def parts_text(
    parts: Mapping[str, Mapping[str, Any] | None], key: str = "credit",
    number: Number = four_places,
) -> str:  # fmt: skip
    """One amount of each part: "granted 0.0012, pending 0.0003, unverified 0.0000"."""
    return ", ".join(
        f"{part} {number(float((parts.get(part) or {}).get(key, 0.0) or 0.0))}" for part in PARTS
    )


def owner_witnessed(pools: Iterable[Mapping[str, Any]]) -> float:
    """The credit granted in pools whose witness is their owner (rows of GET
    /credit/me/pools)."""
    return sum(float(p.get("credit") or 0.0) for p in pools if p.get("witness") == "owner")


def witnessed_text(witnessed: Mapping[str, Any], *, results: bool = True) -> str:
    """What a pool's head witnessed of a device: "20 tasks, 5.1 core-s", and its reliability
    record when it has one and `results` (reliability_text)."""
    tasks = int(witnessed.get("tasks") or 0)
    core_s = float(witnessed.get("compute_seconds") or 0.0)
    record = reliability_text(witnessed) if results else ""
    return f"{tasks} task{'' if tasks == 1 else 's'}, {core_s:.1f} core-s" + (
        f"; {record}" if record else ""
    )


def results_cell(witnessed: Mapping[str, Any]) -> str:
    """A device's judged results as a table cell: "12 / 2 / 1" (valid / invalid / errors)."""
    r = witnessed.get("results") or witnessed
    return " / ".join(str(int(r.get(k) or 0)) for k in ("valid", "invalid", "errors"))


def reliability_text(witnessed: Mapping[str, Any]) -> str:
    """A device's judged results: "results 12 valid, 2 invalid (3.0 core-s not granted),
    1 error" ("" when none was judged). Reads the platform's nested `results` or the agent's
    flat fields."""
    r = witnessed.get("results") or witnessed
    valid, invalid, errors = (int(r.get(k) or 0) for k in ("valid", "invalid", "errors"))
    if not (valid or invalid or errors):
        return ""
    lost = float(r.get("invalid_compute_seconds") or 0.0)
    bad = f", {invalid} invalid ({lost:.1f} core-s not granted)" if invalid else ""
    return f"results {valid} valid{bad}" + (
        f", {errors} error{'s' * (errors != 1)}" if errors else ""
    )


def measured_cpu_seconds(device: Mapping[str, Any]) -> float:
    """The CPU a platform device record says it measured: granted (`totals`) + pending +
    unverified + clamped, in core-seconds."""
    parts = ("totals", "pending", "unverified", "clamped")
    return 3600 * sum(float((device.get(p) or {}).get("cpu_core_hours") or 0.0) for p in parts)


def claims_far_above_witness(device: Mapping[str, Any]) -> bool:
    """Whether a device's claims run far above what its pool's head witnessed (see
    FAR_BELOW); never in a pool without a witness, where nothing is witnessed."""
    ratio = (device.get("witnessed") or {}).get("ratio")
    if device.get("witness") == "none" or ratio is None:
        return False
    return float(ratio) < FAR_BELOW and measured_cpu_seconds(device) >= FLAG_AFTER_CPU_SECONDS


def ratio_text(device: Mapping[str, Any]) -> str:
    """A device's witnessed / measured CPU as its pool's owner reads it: "98 %", "-" before
    anything was measured, "no witness", or the ratio with the flag."""
    if device.get("witness") == "none":
        return "no witness"
    ratio = (device.get("witnessed") or {}).get("ratio")
    if ratio is None:
        return "-"
    text = f"{float(ratio) * 100:.0f} %"
    return f"{text}: claims far above its witness" if claims_far_above_witness(device) else text


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
