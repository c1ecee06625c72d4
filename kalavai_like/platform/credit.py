"""Credit arithmetic: weights, hardware caps, and BOINC's recent average (7-day half-life).

Usage is kept in seconds (core-seconds, GiB-seconds, GPU-seconds) and shown in hours; RAM is
binary (2**30 bytes), as the agent measures it (kalavai_like.units.GIB).
Recent averages are kept per device with BOINC's `update_average`; the average of a user or
a pool is the sum of its devices' averages, each decayed to the same moment (the formula is
linear in the work, so this equals running it on the aggregate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kalavai_like.platform.schemas import Totals
from kalavai_like.units import GIB

HALF_LIFE = 7 * 86400.0
DAY = 86400.0


@dataclass(frozen=True)
class Weights:
    cpu: float
    ram: float
    gpu: float

    def credit(self, cpu_s: float, ram_gbs: float, gpu_s: float) -> float:
        """Credit for usage in seconds: weights are per core-hour, GiB-hour and GPU-hour."""
        return (self.cpu * cpu_s + self.ram * ram_gbs + self.gpu * gpu_s) / 3600.0

    @classmethod
    def of(cls, weights: dict[str, float]) -> Weights:
        """From `{cpu, ram, gpu}` (the platform's standard rates in its settings)."""
        return cls(weights["cpu"], weights["ram"], weights["gpu"])


def caps(
    span: float, *, cores: int, memory_bytes: int, gpus: int, tolerance: float
) -> tuple[float, float, float]:
    """The most CPU, RAM and GPU seconds declared hardware can give in `span` seconds (plus a
    small tolerance for clock jitter)."""
    span = max(0.0, span) * (1.0 + tolerance)
    return cores * span, memory_bytes / GIB * span, gpus * span


def update_average(
    now: float, work_start_time: float, work: float, avg: float, avg_time: float
) -> tuple[float, float]:
    """BOINC's update_average (lib/util.cpp): returns the new (avg, avg_time), avg per day."""
    if avg_time <= 0:
        if not work:
            return avg, now
        # First work: decay from a zero average at work_start_time. BOINC divides by the
        # duration instead, which explodes for a heartbeat moments after enrolment.
        avg, avg_time = 0.0, work_start_time
    if avg_time > 0:
        diff = max(now - avg_time, 0.0)
        weight = math.exp(-diff * math.log(2) / HALF_LIFE)
        avg *= weight
        if 1.0 - weight > 1e-6:
            avg += (1.0 - weight) * (work / (diff / DAY))
        else:
            avg += math.log(2) * work * DAY / HALF_LIFE
    return avg, now


def decayed(avg: float, avg_time: float, now: float) -> float:
    """The average as of `now`, with no work since `avg_time`."""
    if avg_time <= 0 or now <= avg_time:
        return avg
    return avg * math.exp(-(now - avg_time) * math.log(2) / HALF_LIFE)


def hours(
    cpu_s: float, ram_gbs: float, gpu_s: float, credit: float, recent: float = 0.0
) -> dict[str, float]:
    """Usage in seconds as the fields of Totals: hours, credit and the recent average."""
    return {
        "cpu_core_hours": cpu_s / 3600.0,
        "ram_gb_hours": ram_gbs / 3600.0,
        "gpu_hours": gpu_s / 3600.0,
        "credit": credit,
        "recent_average": recent,
    }


def totals(
    cpu_s: float, ram_gbs: float, gpu_s: float, credit: float, recent: float = 0.0
) -> Totals:
    return Totals(**hours(cpu_s, ram_gbs, gpu_s, credit, recent))
