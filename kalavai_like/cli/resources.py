"""`kalavai-like pool resources [--json]`: this node's limits, live usage and totals, and why
it is or is not computing. Registers the command on the `pool` sub-app; `reason_lines` is
shared with `pool status`.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import typer

from kalavai_like.cli import console
from kalavai_like.cli.pool import JsonOpt, app

if TYPE_CHECKING:
    from kalavai_like.client.records import WorkerStatus

GIB = 2**30


def _countdown(until: str | None, now: float) -> str:
    if not until:
        return ""
    try:
        left = dt.datetime.fromisoformat(until).timestamp() - now
    except ValueError:
        return ""
    if left <= 0:
        return ""
    mins = int(left // 60)
    return f" ({mins // 60} h {mins % 60} min left)" if mins >= 60 else f" ({mins} min left)"


def reason_lines(w: WorkerStatus | None, now: float | None = None) -> list[str]:
    """The active reasons of the worker, with a countdown for timed ones."""
    if w is None:
        return []
    now = time.time() if now is None else now
    return [f"{r.get('text', r.get('code', ''))}{_countdown(r.get('until'), now)}"
            for r in w.reasons]  # fmt: skip


def snapshot() -> dict[str, Any]:
    """What `pool resources --json` prints: machine, limits, live usage, totals, reasons."""
    from kalavai_like.cli.membership import _client
    from kalavai_like.volunteer import hostinfo

    st = _client(False).status()
    hw = hostinfo.hardware()
    out: dict[str, Any] = {
        "state": st.state,
        "reason": st.reason,
        "machine": {"cores": hw.cores, "memory_bytes": hw.memory_bytes, "gpus": hw.gpus},
        "worker": None,
    }
    w = st.worker
    if w is not None:
        out["worker"] = {
            "pool": w.pool_name,
            "container": w.container,
            "declared": {"cpus": w.cpus, "memory_bytes": w.memory_bytes, "gpus": w.gpus},
            "limits": w.limits or {"cpus": w.cpus, "memory_bytes": w.memory_bytes, "gpus": w.gpus},
            "live": w.live or {"cpu_cores": w.live_cpu_cores},
            "totals": w.totals,
            "pending": w.pending,
            "granted": w.granted,
            "reasons": w.reasons,
        }
    return out


def resources(json: JsonOpt = False) -> None:
    """This node's limits, live usage and contributed totals."""
    snap = snapshot()
    if json:
        console.emit_json(snap)
        return
    m = snap["machine"]
    rows: list[tuple[str, Any]] = [
        ("State", f"{snap['state']} ({snap['reason']})"),
        (
            "This machine",
            f"{m['cores']} cores, {m['memory_bytes'] / GIB:.1f} GiB, {m['gpus']} GPUs",
        ),
    ]
    w = snap["worker"]
    if w is not None:
        lim, live, tot, granted = w["limits"], w["live"], w["totals"], w["granted"]
        profile = f" ({lim['profile'].replace('_', ' ')} limits)" if lim.get("profile") else ""
        rows += [
            ("Pool", w["pool"]),
            ("Limits now", f"{lim['cpus']:g} cores, {lim['memory_bytes'] / GIB:.2f} GiB, "
                           f"{lim['gpus']} GPUs{profile}"),
            ("Lent at join", f"{w['declared']['cpus']:g} cores, "
                             f"{w['declared']['memory_bytes'] / GIB:.2f} GiB"),
            ("Using now", f"{live.get('cpu_cores', 0.0):.2f} cores, "
                          f"{live.get('memory_bytes', 0) / GIB:.2f} GiB"),
            ("Contributed", f"{tot.get('cpu_seconds', 0) / 3600:.4f} CPU core-h, "
                            f"{tot.get('ram_gb_seconds', 0) / 3600:.4f} RAM GiB-h, "
                            f"{tot.get('gpu_seconds', 0) / 3600:.4f} GPU-h"),
            ("Not yet acknowledged", f"{w['pending'].get('cpu_seconds', 0) / 3600:.4f} CPU core-h"),
            ("Credit granted", f"{granted.get('credit', 0.0):.4f} "
                               f"(recent average {granted.get('recent_average', 0.0):.4f}/day)"),
        ]  # fmt: skip
        rows += [("Why", r) for r in reason_lines(_Reasons(w["reasons"]))]  # type: ignore[arg-type]
    console.pairs(rows)


class _Reasons:
    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        self.reasons = reasons


def register(root: typer.Typer) -> None:
    """Add `pool resources` to the `pool` sub-app (the root app is not touched)."""
    app.command("resources")(resources)
