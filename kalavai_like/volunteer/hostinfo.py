"""What the host machine is doing, as inputs for the rule engine.

- idle time: from the desktop sessions systemd-logind knows (`loginctl`): a session whose idle
  hint is off is in use; one idle since T has been idle since T. No session, or no logind,
  means unknown (None), which the rules treat as idle. Headless machines are idle.
- power: on battery and the charge, from psutil.sensors_battery (no battery: on AC).
- non-pool CPU load: the host's busy CPU time minus the worker's, as % of the whole machine.
- hardware totals: cores, memory, NVIDIA GPUs.

Subprocesses and psutil calls are injected so tests run on recorded outputs.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from kalavai_like.usage.gpu import gpu_count
from kalavai_like.volunteer.prefs import Hardware
from kalavai_like.volunteer.rules import Inputs

Runner = Callable[[list[str]], str | None]
_GRAPHICAL = {"x11", "wayland", "mir"}


def run_command(args: list[str]) -> str | None:
    """Runs a read-only query; its output, or None if it is missing or fails."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def idle_seconds(run: Runner = run_command, now: Callable[[], float] = time.time) -> float | None:
    """Seconds since the last keyboard/mouse input in any local user session, or None if unknown.

    A session without an idle hint counts as in use (0). Remote (ssh) sessions are ignored when
    a local one exists, so a desktop is not kept "in use" by an idle ssh login.
    """
    listing = run(["loginctl", "list-sessions", "--no-legend"])
    if not listing:
        return None
    local: list[float] = []
    remote: list[float] = []
    for line in listing.splitlines():
        words = line.split()
        if not words:
            continue
        props_text = run(
            [
                "loginctl",
                "show-session",
                words[0],
                "-p",
                "Type",
                "-p",
                "Class",
                "-p",
                "Remote",
                "-p",
                "IdleHint",
                "-p",
                "IdleSinceHint",
            ]
        )
        if not props_text:
            continue
        props = _properties(props_text)
        if props.get("Class", "user") != "user":
            continue  # the login screen (greeter) is not someone using the machine
        if props.get("IdleHint") == "yes":
            since = int(props.get("IdleSinceHint", "0") or 0) / 1e6
            idle = max(now() - since, 0.0) if since else float("inf")
        else:
            idle = 0.0
        (remote if props.get("Remote") == "yes" else local).append(idle)
    chosen = local or remote
    if not chosen:
        return None
    least = min(chosen)
    return None if least == float("inf") else least


@dataclass(frozen=True)
class Power:
    """Whether the machine runs on battery, and the charge in percent (None if unknown)."""

    on_battery: bool = False
    percent: float | None = None


def power(battery: Callable[[], Any] = psutil.sensors_battery) -> Power:
    """The power source now; a machine without a battery (or sensor) is on AC."""
    try:
        b = battery()
    except (OSError, RuntimeError, AttributeError):
        return Power()
    if b is None:
        return Power()
    plugged = b.power_plugged
    return Power(on_battery=plugged is False, percent=float(b.percent))


def hardware(nvml: Any = None) -> Hardware:
    """This machine's cores, memory and NVIDIA GPUs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return Hardware(int(cores or 1), int(psutil.virtual_memory().total), gpu_count(nvml))


def host_busy_seconds() -> float:
    """CPU seconds the whole host has spent not idle, summed over all cores."""
    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system
    for extra in ("irq", "softirq", "steal"):
        busy += getattr(t, extra, 0.0)
    return float(busy)


class LoadMeter:
    """Other programs' CPU load: host busy time minus the worker's, in % of the whole machine."""

    def __init__(
        self,
        host_busy: Callable[[], float] = host_busy_seconds,
        cores: int | None = None,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host_busy = host_busy
        self._cores = cores or os.cpu_count() or 1
        self._mono = mono
        self._last: tuple[float, float, float] | None = None

    def update(self, worker_cpu_seconds: float | None) -> float | None:
        """The load since the previous call (None the first time); pass the worker's counter."""
        now, host = self._mono(), self._host_busy()
        worker = worker_cpu_seconds or 0.0
        last, self._last = self._last, (now, host, worker)
        if last is None or now <= last[0]:
            return None
        # A worker counter that went down belongs to a restarted container: all of it is new.
        worker_delta = worker - last[2] if worker >= last[2] else worker
        other = max(host - last[1] - worker_delta, 0.0)
        return min(other / ((now - last[0]) * self._cores) * 100.0, 100.0)


class Host:
    """Reads every rule input at once; the agent calls `inputs()` each time it decides."""

    def __init__(
        self,
        run: Runner = run_command,
        battery: Callable[[], Any] = psutil.sensors_battery,
        load: LoadMeter | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone(),
    ) -> None:
        self._run, self._battery, self._clock = run, battery, clock
        self.load = load or LoadMeter()

    def inputs(self, worker_cpu_seconds: float | None, user_paused: bool = False) -> Inputs:
        p = power(self._battery)
        now = self._clock()
        return Inputs(
            now=now,
            idle_seconds=idle_seconds(self._run, now.timestamp),
            on_battery=p.on_battery,
            battery_percent=p.percent,
            load_percent=self.load.update(worker_cpu_seconds),
            user_paused=user_paused,
        )
