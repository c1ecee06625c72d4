"""`kalavai-like pool status | workers | resources`: what runs. This node's state, worker and
seed, its limits, live usage and totals and why it is or is not computing; and, for owners,
the pool's workers as the platform lists them.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt, PoolArg, PoolOpt, StartAgentOpt, chosen_pool
from kalavai_like.cli.pool.owner import owned_pool
from kalavai_like.client.account import logged_in
from kalavai_like.errors import AgentUnavailable
from kalavai_like.units import format_age, format_amount, format_cores, format_duration

if TYPE_CHECKING:
    from kalavai_like.client.records import NodeStatus, RuleReason, SeedStatus, WorkerStatus

app = typer.Typer()
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


def reason_lines(reasons: list[RuleReason], now: float | None = None) -> list[str]:
    """The worker's active reasons, with a countdown for timed ones."""
    now = time.time() if now is None else now
    return [f"{r.text}{_countdown(r.until, now)}" for r in reasons]


def _resources(cpus: float, memory_bytes: int, gpus: int) -> str:
    gpu_text = f"{gpus} GPU" + ("" if gpus == 1 else "s")
    return f"{format_cores(cpus)}, {memory_bytes / GIB:.2f} GiB, {gpu_text}"


def limits_text(w: WorkerStatus) -> str:
    """The limits in force (preferences and rules may lower what the join lent), and the lent
    ones when they differ."""
    lent = _resources(w.cpus, w.memory_bytes, w.gpus)
    lim = w.limits
    if lim is None:
        return lent
    now = _resources(lim.cpus, lim.memory_bytes, lim.gpus)
    return now if now == lent else f"{now} (lent at join: {lent})"


@app.command()
def status(start_agent: StartAgentOpt = False, json: JsonOpt = False) -> None:
    """This node: pool, overlay address, state and why, worker, uptime, contributed totals."""
    st = context.node(start_agent).status()
    if json:
        console.emit_json(st.to_dict())
        return
    now = st.at or time.time()
    rows: list[tuple[str, Any]] = [("State", f"{st.state} ({st.reason})")]
    if st.worker is not None:
        rows += _worker_rows(st.worker, now)
    if st.seed is not None:
        rows += _seed_rows(st.seed)
    for c in st.conditions:
        rows.append(("Problem", f"{c.title}: {c.text}"))
    console.pairs(rows)


def _worker_rows(w: WorkerStatus, now: float) -> list[tuple[str, Any]]:
    from kalavai_like.client.credit import hours, totals_text

    rows: list[tuple[str, Any]] = [("Why", line) for line in reason_lines(w.reasons, now)]
    up = format_duration(int(now - w.running_since)) if w.running_since else "-"
    rows += [
        ("Pool", f"{w.pool_name} at {w.platform}"),
        ("Address", f"{w.address} ({w.overlay})"),
        ("Last handshake", format_age(w.handshake_age)),
        ("Network", f"WireGuard over {w.network}" if w.network else "starting"),
        ("Path to the hub", path_row(w.path, w.relay, w.relay_state)),
        ("Worker", f"{w.container} ({w.container_state})"),
        ("Limits", limits_text(w)),
        ("Running for", up),
        ("Contributed", totals_text(hours(w.totals))),
        ("Not yet acknowledged", totals_text(hours(w.pending))),
        *credit_rows(w),
        ("Last heartbeat", format_age(now - w.last_heartbeat_at if w.last_heartbeat_at else None)),
    ]
    if w.paused_until:
        rows.append(("Resumes at", time.strftime("%H:%M", time.localtime(w.paused_until))))
    from kalavai_like.client.boinc import boinc_rows

    return rows + boinc_rows(w.boinc, now)


def credit_rows(w: WorkerStatus) -> list[tuple[str, str]]:
    """The platform's parts of this device's credit and what the pool's head witnessed, as its
    last heartbeat answer said (nothing before it answered)."""
    from kalavai_like.client.credit import parts_text, witnessed_text
    from kalavai_like.client.records import Granted

    if w.granted is None:
        return []
    parts = {"granted": w.granted.to_dict(), "unverified": (w.unverified or Granted()).to_dict(),
             "pending": (w.platform_pending or Granted()).to_dict()}  # fmt: skip
    rows = [("Credit", f"{parts_text(parts)} (the platform's last answer)")]
    if w.witnessed is not None:
        rows.append(("Witnessed", f"{witnessed_text(w.witnessed.to_dict())} by the pool's head"))
    return rows


def _seed_rows(s: SeedStatus) -> list[tuple[str, Any]]:
    return [
        ("Seed of", f"{s.pool_name} (hub {s.address}, {s.endpoint})"),
        ("Hub network", f"WireGuard over {s.network}" if s.network else "starting"),
        *_relay_rows(s),
        ("Head", f"{s.head} ({s.head_state})"),
        ("Workers connected", str(len(s.peers))),
    ]


def path_row(path: str, relay: str, state: str) -> str:
    """ "direct", or "relay (UDP blocked) via HOST:PORT" with the bridge's state when it is not
    connected."""
    if not path.startswith("relay"):
        return path or "-"
    return f"{path} via {relay}" + (f", {state}" if state and state != "connected" else "")


def _relay_rows(s: SeedStatus) -> list[tuple[str, str]]:
    if not s.relay:
        return []
    how = "only through the relay" if s.relay_only else "UDP, or the relay when UDP fails"
    state = f", {s.relay_state}" if s.relay_state and s.relay_state != "connected" else ""
    return [("Reached by", f"{how} ({s.relay}{state}); {s.relayed_peers} relayed now")]


def listed_devices(devices: list[dict[str, Any]], include_left: bool) -> list[dict[str, Any]]:
    """The pool's workers: never the hub (the seed's own device); left ones only on request."""
    return [
        d for d in devices
        if d.get("role", "worker") != "hub"
        and (include_left or not (d.get("left_at") or d.get("state") == "left"))
    ]  # fmt: skip


@app.command()
def workers(
    pool_name: PoolArg = None,
    pool: PoolOpt = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include devices that have left the pool.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """For pool owners: the workers with their user, address, state, resources, last heartbeat,
    granted CPU, their results of redundant work (valid / invalid / errors) and what the pool's
    head witnessed of it."""
    from kalavai_like.client.credit import claims_far_above_witness

    home = context.home()
    pool = chosen_pool(pool_name, pool)
    if pool is None:
        try:
            seed = context.node().status().seed
            pool = seed.pool_id if seed else None
        except AgentUnavailable:
            pool = None
    with logged_in(home) as client:
        chosen = owned_pool(client, pool)
        devices = listed_devices(client.request("GET", f"/pools/{chosen['id']}/devices"), all_)
        notices = client.request("GET", f"/pools/{chosen['id']}/notices")
    for d in devices:  # the platform's notices: offline, claims far above the witness
        d["notices"] = [n for n in notices if n["device_id"] == d["id"]]
    if json:
        console.emit_json([{**d, "claims_far_above_witness": claims_far_above_witness(d)}
                           for d in devices])  # fmt: skip
        return
    title = f"Workers of pool '{chosen['name']}'" + (" (with those that left)" if all_ else "")
    _print_workers(devices, title, time.time())


def _print_workers(devices: list[dict[str, Any]], title: str, now: float) -> None:
    from kalavai_like.client.credit import (
        FAR_BELOW,
        claims_far_above_witness,
        ratio_text,
        results_cell,
        witnessed_text,
    )

    judged = any(results_cell(d.get("witnessed") or {}) != "0 / 0 / 0" for d in devices)
    rows = []
    for d in devices:
        seen = d.get("witnessed") or {}
        rows.append((
            d.get("name"), (d.get("user") or {}).get("display", ""), d.get("address"),
            str(d.get("state") or "") + (f" ({d['reason']})" if d.get("reason") else ""),
            d.get("cores"), f"{(d.get('memory_bytes') or 0) / GIB:.1f} GiB", d.get("gpus"),
            console.ago(d.get("last_heartbeat_at"), now),
            format_amount((d.get("totals") or {}).get("cpu_core_hours", 0), 4),
            *([results_cell(seen)] if judged else []),  # only once redundant work was judged
            witnessed_text(seen, results=False), ratio_text(d),
        ))  # fmt: skip
    console.table(
        ["Worker", "User", "Address", "State", "Cores", "Memory", "GPUs", "Last heartbeat",
         "CPU core-h granted", *(["Results"] if judged else []), "Witnessed",
         "Witnessed / measured"], rows, title=title,
    )  # fmt: skip
    for d in devices:  # (claims far above the witness are flagged below, as the table does)
        for n in d.get("notices") or []:
            if n["kind"] == "worker_offline":
                console.warn(f"{d.get('name')}: {n['message']}")
    flagged = [str(d.get("name")) for d in devices if claims_far_above_witness(d)]
    if flagged:
        console.warn(f"{', '.join(flagged)}: claims far above its witness (the pool's head saw "
                     f"under {FAR_BELOW:.0%} of the CPU it measured); only what it saw is "
                     "granted.")  # fmt: skip


def snapshot(st: NodeStatus, machine: dict[str, int]) -> dict[str, Any]:
    """What `pool resources --json` prints: machine, limits, live usage, totals, reasons."""
    out: dict[str, Any] = {"state": st.state, "reason": st.reason, "machine": machine,
                           "worker": None}  # fmt: skip
    w = st.worker
    if w is not None:
        declared = {"cpus": w.cpus, "memory_bytes": w.memory_bytes, "gpus": w.gpus}
        wire = w.to_dict()
        out["worker"] = {
            "pool": w.pool_name,
            "container": w.container,
            "declared": declared,
            "limits": wire["limits"] or declared,
            "live": wire["live"] or {"cpu_cores": w.live_cpu_cores},
            **{k: wire[k] for k in ("totals", "pending", "granted", "reasons")},
        }
    return out


@app.command()
def resources(json: JsonOpt = False) -> None:
    """This node's limits, live usage and contributed totals."""
    from kalavai_like.client.prefs import machine

    st = context.node().status()
    hw = machine()
    snap = snapshot(st, {"cores": hw.cores, "memory_bytes": hw.memory_bytes, "gpus": hw.gpus})
    if json:
        console.emit_json(snap)
        return
    rows: list[tuple[str, Any]] = [
        ("State", f"{st.state} ({st.reason})"),
        ("This machine", _resources(hw.cores, hw.memory_bytes, hw.gpus)),
    ]
    if st.worker is not None:
        rows += _resource_rows(st.worker)
    console.pairs(rows)


def _resource_rows(w: WorkerStatus) -> list[tuple[str, Any]]:
    from kalavai_like.client.credit import amount_text, hours, totals_text
    from kalavai_like.client.records import LimitsNow, LiveUse

    lim = w.limits or LimitsNow(w.cpus, w.memory_bytes, w.gpus)
    live = w.live or LiveUse(cpu_cores=w.live_cpu_cores)
    granted = w.granted
    profile = f" ({lim.profile.replace('_', ' ')} limits)" if lim.profile else ""
    pending = hours(w.pending)["cpu_core_hours"]
    credit, recent = (format_amount(granted.credit if granted else 0.0, 4),
                      format_amount(granted.recent_average if granted else 0.0, 4))  # fmt: skip
    return [
        ("Pool", w.pool_name),
        ("Limits now", f"{format_cores(lim.cpus)}, {lim.memory_bytes / GIB:.2f} GiB, "
                       f"{lim.gpus} GPUs{profile}"),
        ("Lent at join", f"{format_cores(w.cpus)}, {w.memory_bytes / GIB:.2f} GiB"),
        ("Using now", f"{live.cpu_cores:.2f} cores, {live.memory_bytes / GIB:.2f} GiB"),
        ("Contributed", totals_text(hours(w.totals))),
        ("Not yet acknowledged", amount_text("cpu_core_hours", pending)),
        ("Credit granted", f"{credit} (recent average {recent}/day)"),
        *(("Why", r) for r in reason_lines(w.reasons)),
    ]  # fmt: skip
