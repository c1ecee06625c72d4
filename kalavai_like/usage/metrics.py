"""Prometheus text exposition of the node's contribution, for the agent's opt-in /metrics.

`render(snapshot)` takes the status snapshot as a dict (`NodeStatus.to_dict()`) and returns the
text format (version 0.0.4) that Prometheus and the BOINC-exporter style dashboards scrape. It
reads, all optional: `state`, `at`, `conditions[].code`, and under `worker`: `pool_name`,
`device_id`, `totals` and `pending` ({cpu_seconds, ram_gb_seconds, gpu_seconds}), `granted`
({credit, recent_average}), `handshake_age`, `last_heartbeat_at`, `live_cpu_cores`, `cpus`,
`memory_bytes`, `gpus`, `acked_seq`, `reasons[].code`, `path` and `relay`, and a BOINC
worker's `boinc` (projects and tasks: kalavai_like.usage.boinc), named like the community BOINC
exporters' (`..._boinc_task_fraction_done`, `..._boinc_host_credit`,
`..._boinc_last_rpc_age_seconds`). Serving it over HTTP is the agent's job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "kalavai_like"
STATES = ("idle", "joining", "running", "paused", "leaving", "error")
_RESOURCES = (
    ("cpu", "cpu_seconds", "CPU core-seconds"),
    ("ram", "ram_gb_seconds", "RAM GiB-seconds"),
    ("gpu", "gpu_seconds", "GPU-seconds"),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, str], float | None]],
    ) -> None:
        present = [(labels, v) for labels, v in samples if _is_number(v)]
        if not present:
            return
        full = f"{PREFIX}_{name}"
        sample_name = f"{full}_total" if kind == "counter" else full
        self.lines.append(f"# HELP {sample_name} {help_text.replace(chr(10), ' ')}")
        self.lines.append(f"# TYPE {sample_name} {kind}")
        for labels, value in present:
            self.lines.append(f"{sample_name}{_labels(labels)} {_number(float(value or 0))}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# The worker's single-sample gauges, in exposition order: name -> help text.
_WORKER_GAUGES = {
    "credit": "Credit granted by the platform",
    "credit_recent_average": "Recent average credit per day (7-day half-life)",
    "handshake_age_seconds": "Seconds since the last WireGuard handshake with the pool's hub",
    "heartbeat_lag_seconds": "Seconds since the platform last acknowledged a heartbeat",
    "acked_sequence": "Last heartbeat sequence number acknowledged",
    "live_cpu_cores": "CPU cores the worker used over the last interval",
    "limit_cpus": "CPU cores the worker may use",
    "limit_memory_bytes": "Memory the worker may use",
    "limit_gpus": "GPUs the worker may use",
}


def render(snapshot: Mapping[str, Any]) -> str:
    """The snapshot as Prometheus text exposition (ends with a newline)."""
    out = _Exposition()
    state = str(snapshot.get("state", ""))
    out.family(
        "state",
        "gauge",
        "1 for the node's current state",
        [({"state": s}, 1.0 if s == state else 0.0) for s in STATES],
    )
    worker = snapshot.get("worker") or {}
    if worker:
        _worker(out, worker, snapshot.get("at"))
    codes = [c.get("code") for c in snapshot.get("conditions") or [] if isinstance(c, Mapping)]
    out.family(
        "condition",
        "gauge",
        "1 for each ongoing problem (see the status for its text)",
        [({"code": str(c)}, 1.0) for c in dict.fromkeys(codes) if c],
    )
    return "\n".join(out.lines) + "\n"


def _worker(out: _Exposition, worker: Mapping[str, Any], at: Any) -> None:
    labels = {"pool": str(worker.get("pool_name", "")), "device": str(worker.get("device_id", ""))}
    counted = (
        ("contributed", "counter", "given to the pool, measured on this node", "totals"),
        ("pending", "gauge", "measured but not yet acknowledged by the platform", "pending"),
    )
    for prefix, kind, what, field in counted:
        counts = worker.get(field) or {}
        for short, key, words in _RESOURCES:
            out.family(
                f"{prefix}_{short}_seconds", kind, f"{words} {what}", [(labels, counts.get(key))]
            )
    values = _worker_values(worker, at)
    for name, help_text in _WORKER_GAUGES.items():
        out.family(name, "gauge", help_text, [(labels, values[name])])
    path = str(worker.get("path") or "")
    if path:
        relayed = path.startswith("relay")
        out.family(
            "relayed",
            "gauge",
            "1 when the worker reaches its hub through the relay (TCP), 0 when directly (UDP)",
            [({**labels, "relay": str(worker.get("relay") or "") if relayed else ""},
              1.0 if relayed else 0.0)],
        )  # fmt: skip
    reasons = [r.get("code") for r in worker.get("reasons") or [] if isinstance(r, Mapping)]
    out.family(
        "pause_reason",
        "gauge",
        "1 for each active reason the node is paused",
        [({**labels, "code": str(c)}, 1.0) for c in dict.fromkeys(reasons) if c],
    )
    boinc = worker.get("boinc")
    if isinstance(boinc, Mapping):
        _boinc(out, boinc, labels, at)


# name -> (help text, the task's or project's field)
_BOINC_TASK = {
    "boinc_task_fraction_done": ("Fraction of the BOINC task done (at its last checkpoint)",
                                 "fraction_done"),
    "boinc_task_elapsed_seconds": ("Elapsed run time of the BOINC task", "elapsed_seconds"),
    "boinc_task_cpu_seconds": ("CPU time of the BOINC task", "cpu_seconds"),
    "boinc_task_deadline_timestamp_seconds": ("Report deadline of the BOINC task (Unix time)",
                                              "deadline"),
}  # fmt: skip
_BOINC_PROJECT = {
    "boinc_host_credit": ("Credit the BOINC project granted this host", "host_total_credit"),
    "boinc_host_credit_recent_average": ("Recent average credit of this host, per the project",
                                         "host_expavg_credit"),
    "boinc_rpc_failures": ("Failed scheduler requests in a row", "rpc_failures"),
    "boinc_last_rpc_age_seconds": ("Seconds since the project's scheduler last answered", ""),
    "boinc_project_unreachable": ("1 while the BOINC project cannot be reached", ""),
    "boinc_project_down": ("1 while the BOINC project's scheduler says it is down", ""),
}  # fmt: skip


def _boinc(out: _Exposition, boinc: Mapping[str, Any], labels: dict[str, str], at: Any) -> None:
    """A BOINC worker's tasks and projects (one sample per task and per project)."""
    tasks = [t for t in boinc.get("tasks") or [] if isinstance(t, Mapping)]
    projects = [p for p in boinc.get("projects") or [] if isinstance(p, Mapping)]
    for name, (help_text, key) in _BOINC_TASK.items():
        out.family(name, "gauge", help_text, [
            ({**labels, "project": str(t.get("project_url", "")), "task": str(t.get("name", "")),
              "state": str(t.get("state", ""))}, t.get(key)) for t in tasks
        ])  # fmt: skip
    out.family("boinc_tasks", "gauge", "BOINC tasks on this host, by state", [
        ({**labels, "state": s}, float(sum(1 for t in tasks if t.get("state") == s)))
        for s in dict.fromkeys(str(t.get("state", "")) for t in tasks)
    ])  # fmt: skip
    now = at if _is_number(at) else None
    per_project: dict[str, list[tuple[Mapping[str, str], Any]]] = {n: [] for n in _BOINC_PROJECT}
    for p in projects:
        pl = {**labels, "project": str(p.get("url", ""))}
        for name, (_, key) in _BOINC_PROJECT.items():
            if key:
                per_project[name].append((pl, p.get(key)))
        last = p.get("last_rpc")
        age = now - last if now is not None and _is_number(last) else None
        per_project["boinc_last_rpc_age_seconds"].append((pl, age))
        per_project["boinc_project_unreachable"].append((pl, 1.0 if p.get("unreachable") else 0.0))
        per_project["boinc_project_down"].append((pl, 1.0 if p.get("down") else 0.0))
    for name, samples in per_project.items():
        out.family(name, "gauge", _BOINC_PROJECT[name][0], samples)


def _worker_values(worker: Mapping[str, Any], at: Any) -> dict[str, Any]:
    """The value of each of `_WORKER_GAUGES` (None when the snapshot lacks it)."""
    granted = worker.get("granted") or {}
    last = worker.get("last_heartbeat_at")
    lag = at - last if isinstance(at, int | float) and isinstance(last, int | float) else None
    return {
        "credit": granted.get("credit"),
        "credit_recent_average": granted.get("recent_average"),
        "handshake_age_seconds": worker.get("handshake_age"),
        "heartbeat_lag_seconds": lag,
        "acked_sequence": worker.get("acked_seq"),
        "live_cpu_cores": worker.get("live_cpu_cores"),
        "limit_cpus": worker.get("cpus"),
        "limit_memory_bytes": worker.get("memory_bytes"),
        "limit_gpus": worker.get("gpus"),
    }
