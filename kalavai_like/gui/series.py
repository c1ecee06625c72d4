"""Usage over time for the contributions chart, without Qt: rates (CPU cores, RAM GiB, GPUs)
derived from the agent's cumulative counters as snapshots arrive, appended to the agent's
usage history for the hour and day views, and the platform's daily rows turned into average
rates for the week view.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kalavai_like.client.records import Counters, NodeStatus, UsagePoint

MIN_GAP = 2.0  # seconds between two points (snapshots can come faster)
KEEP = 7 * 86400
RANGES = {"hour": 3600, "day": 86400, "week": 7 * 86400}
STEPS = {"hour": 60.0, "day": 900.0}  # the agent's history per range: a minute, 15 minutes
# Wider spacing than this between two points means nothing was sampled in between.
GAPS = {"hour": 2.5 * STEPS["hour"], "day": 2.5 * STEPS["day"], "week": float("inf")}


@dataclass(frozen=True)
class Point:
    """Average use over the interval ending at `at`: cores, GiB of memory, GPUs."""

    at: float
    cpu: float
    ram: float
    gpu: float


class UsageSeries:
    """Rates from successive cumulative counters of one membership."""

    def __init__(self) -> None:
        self.points: deque[Point] = deque()
        self._last: tuple[str, float, Counters] | None = None

    def add(self, status: NodeStatus) -> Point | None:
        """Take a snapshot; returns the new point, if it made one."""
        w = status.worker
        if w is None or not status.at:
            self._last = None
            return None
        now, totals = status.at, w.totals
        last = self._last
        if last is None or last[0] != w.device_id or now < last[1]:
            self._last = (w.device_id, now, totals)
            return None
        dt = now - last[1]
        if dt < MIN_GAP:
            return None
        given = totals - last[2]
        p = Point(now, max(0.0, given.cpu_seconds) / dt, max(0.0, given.ram_gb_seconds) / dt,
                  max(0.0, given.gpu_seconds) / dt)  # fmt: skip
        self._last = (w.device_id, now, totals)
        self.points.append(p)
        while self.points and self.points[0].at < now - KEEP:
            self.points.popleft()
        return p

    def within(self, seconds: float, now: float) -> list[Point]:
        return [p for p in self.points if p.at >= now - seconds]


def history_points(points: Iterable[UsagePoint]) -> list[Point]:
    """The agent's usage history (`NodeClient.usage_history`) as chart points."""
    return [Point(p.time, p.cpu_cores, p.memory_gb, p.gpus) for p in points]


def merged(history: list[Point], live: Iterable[Point]) -> list[Point]:
    """The history, then the live points that came after its last one."""
    after = history[-1].at if history else float("-inf")
    return history + [p for p in live if p.at > after]


def split_at_gaps(points: list[Point], max_gap: float) -> list[list[Point]]:
    """Runs of points no more than `max_gap` seconds apart: the chart breaks its line where the
    agent was not sampling, rather than drawing a straight line across the outage."""
    runs: list[list[Point]] = []
    for p in points:
        if runs and p.at - runs[-1][-1].at <= max_gap:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def daily_points(rows: Iterable[dict[str, Any]]) -> list[Point]:
    """The platform's daily rows as average rates over each day (noon of the UTC day)."""
    import datetime as dt

    out = []
    for r in rows:
        day = dt.datetime.strptime(str(r["day"]), "%Y-%m-%d").replace(tzinfo=dt.UTC)
        at = day.timestamp() + 43200
        cpu, ram = float(r.get("cpu_core_hours", 0)), float(r.get("ram_gb_hours", 0))
        out.append(Point(at, cpu / 24, ram / 24, float(r.get("gpu_hours", 0)) / 24))
    return sorted(out, key=lambda p: p.at)
