"""Status snapshots of each tray state, as the agent reports them, and the hardware the tray
tests assume (shared by the GUI tests and the screenshot script)."""

from __future__ import annotations

import time

from kalavai_like.client.records import Condition, Counters, NodeStatus, WorkerStatus
from kalavai_like.gui.menu import Snapshot
from kalavai_like.volunteer.prefs import Hardware

EMAIL = "alice@example.org"
HW = Hardware(cores=4, memory_bytes=8 * 2**30, gpus=0)


def worker(**changes: object) -> WorkerStatus:
    """A running worker; `totals` may be given as a dict of counters."""
    now = time.time()
    base = dict(
        pool_id="p1", pool_name="demo", platform="http://127.0.0.1:8700", device_id="d1",
        address="10.42.0.5", overlay="kl-wkw", netns="kl-wk", container="kl-wk",
        container_state="running", handshake_age=3.0, joined_at=now - 3600,
        running_since=now - 600, paused_until=None, pause_reason="", cpus=1.0,
        memory_bytes=2**30, gpus=0,
        totals=Counters(cpu_seconds=4321.0, ram_gb_seconds=900.0, gpu_seconds=0.0),
        pending=Counters(), last_heartbeat_at=now - 2, acked_seq=12, live_cpu_cores=0.9,
    )  # fmt: skip
    base.update(changes)
    if isinstance(base["totals"], dict):
        base["totals"] = Counters(**base["totals"])
    return WorkerStatus(**base)  # type: ignore[arg-type]


def status(state: str, reason: str, w: WorkerStatus | None = None, **kw: object) -> NodeStatus:
    return NodeStatus(state, reason, worker=w, agent_pid=123, at=time.time(), **kw)  # type: ignore[arg-type]


TODAY = {"cpu_core_hours": 1.25, "ram_gb_hours": 0.5, "gpu_hours": 0.0, "credit": 1.5}


def at_15() -> float:
    """Today at 15:00 local time (or tomorrow's, if that has passed)."""
    now = time.time()
    t = time.localtime(now)
    at = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 15, 0, 0, 0, 0, -1))
    return at


def snapshots() -> dict[str, Snapshot]:
    """One snapshot per state the tray must show distinctly."""
    now = time.time()
    until = at_15()
    return {
        "logged-out": Snapshot(status("idle", "not in a pool"), now),
        "idle": Snapshot(status("idle", "not in a pool"), now, account=EMAIL),
        "joining": Snapshot(status("joining", "joining a pool"), now, account=EMAIL),
        "contributing": Snapshot(
            status("running", "contributing", worker()), now, account=EMAIL, today=TODAY
        ),
        "paused-by-you": Snapshot(
            status(
                "paused",
                "paused until 15:00",
                worker(
                    paused_until=until, pause_reason="paused until 15:00", container_state="paused"
                ),
            ),
            now,
            account=EMAIL,
            today=TODAY,
        ),
        "paused-in-use": Snapshot(
            status(
                "paused",
                "computer in use",
                worker(pause_reason="computer in use", container_state="paused"),
            ),
            now,
            account=EMAIL,
            today=TODAY,
        ),
        "paused-battery": Snapshot(
            status(
                "paused", "on battery", worker(pause_reason="on battery", container_state="paused")
            ),
            now,
            account=EMAIL,
            today=TODAY,
        ),
        "platform-unreachable": Snapshot(
            status(
                "running",
                "contributing",
                worker(),
                conditions=[
                    Condition(
                        "platform_unreachable",
                        "Platform unreachable",
                        "Heartbeats fail; usage is kept in the local ledger.",
                    )
                ],
            ),
            now,
            account=EMAIL,
            platform_problem="Platform unreachable",
        ),
        "error": Snapshot(
            status("error", "WireGuard interface gone: repair failed", worker()),
            now,
            account=EMAIL,
        ),
        "agent-down": Snapshot(
            None,
            now,
            agent_problem="The kalavai-like agent is not running",
            agent_detail="No agent answers at /run/kalavai-like/agent.sock (no socket). Start it.",
            account=EMAIL,
            agent_seen=True,
        ),
    }
