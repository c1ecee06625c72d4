"""Crash handling for one worker container: restart with exponential backoff, give up after N
crashes in a window with a status a person can read (Folding@home pauses after 5 failed units).
Pure logic over a runtime and an injected clock; the agent calls `tick()` every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from kalavai_like.container.runtime import WorkerRuntime
from kalavai_like.container.spec import ContainerInfo, ContainerSpec
from kalavai_like.errors import KalavaiError

SupervisorState = Literal["running", "paused", "backing_off", "gave_up", "stopped"]


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff `initial * factor**(n-1)` capped at `max_backoff`; give up at `max_crashes`
    crashes within `window_seconds`."""

    max_crashes: int = 5
    window_seconds: float = 600.0
    initial_backoff: float = 5.0
    max_backoff: float = 300.0
    factor: float = 2.0

    def backoff(self, crashes: int) -> float:
        """Seconds to wait before the restart that follows the `crashes`-th crash."""
        return min(self.max_backoff, self.initial_backoff * self.factor ** max(0, crashes - 1))


@dataclass(frozen=True)
class Crash:
    """One exit of the workload."""

    at: float
    exit_code: int | None
    oom_killed: bool
    last_line: str


@dataclass(frozen=True)
class SupervisorStatus:
    """What the supervisor is doing, for the status snapshot."""

    state: SupervisorState
    message: str = ""
    crashes: int = 0
    last_exit_code: int | None = None
    retry_at: float | None = None
    container_id: str | None = None


@dataclass
class Supervisor:
    """Keeps one container running: adopt or start, watch, restart with backoff, give up."""

    runtime: WorkerRuntime
    spec: ContainerSpec
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Callable[[], float] = time.monotonic
    _crashes: list[Crash] = field(default_factory=list, init=False)
    _status: SupervisorStatus = field(
        default_factory=lambda: SupervisorStatus("stopped", "not started"), init=False
    )

    @property
    def status(self) -> SupervisorStatus:
        """The last status computed."""
        return self._status

    def start(self) -> SupervisorStatus:
        """Adopt the existing container or start one, and watch it from now on."""
        info = self.runtime.ensure(self.spec)
        return self._observed(info)

    def stop(self, timeout: int = 10) -> None:
        """Stop watching and remove the container (no restart follows)."""
        cid = self._status.container_id or self.spec.name
        self.runtime.stop(cid, timeout)
        self.runtime.remove(cid)
        self._status = SupervisorStatus("stopped", "stopped", len(self._crashes))

    def reset(self) -> SupervisorStatus:
        """Forget past crashes and start again (the user asked to retry after giving up)."""
        self._crashes.clear()
        self._status = SupervisorStatus("stopped", "retrying")
        return self.start()

    def tick(self) -> SupervisorStatus:
        """Look at the container once: record a crash, restart when due, or give up."""
        st = self._status
        if st.state in ("stopped", "gave_up"):
            return st
        now = self.clock()
        if st.state == "backing_off":
            if st.retry_at is not None and now < st.retry_at:
                return st
            return self._restart()
        info = self.runtime.state(st.container_id or self.spec.name)
        if info.state in ("running", "paused"):
            return self._observed(info)
        return self._crashed(info, now)

    def _observed(self, info: ContainerInfo) -> SupervisorStatus:
        state: SupervisorState = "paused" if info.state == "paused" else "running"
        if info.state not in ("running", "paused"):
            return self._crashed(info, self.clock())
        self._status = SupervisorStatus(
            state, state, len(self._recent(self.clock())), self._last_code(), None, info.id
        )
        return self._status

    def _crashed(self, info: ContainerInfo, now: float) -> SupervisorStatus:
        line = self._last_line(info)
        self._crashes.append(Crash(now, info.exit_code, info.oom_killed, line))
        recent = self._recent(now)
        self._crashes = recent
        what = _what(self._crashes[-1], self.spec.memory_bytes)
        if len(recent) >= self.policy.max_crashes:
            self._status = SupervisorStatus(
                "gave_up",
                f"worker crashed {len(recent)} times in {_duration(self.policy.window_seconds)}; "
                f"last {what}",
                len(recent),
                info.exit_code,
                None,
                info.id,
            )
            return self._status
        wait = self.policy.backoff(len(recent))
        self._status = SupervisorStatus(
            "backing_off",
            f"worker crashed ({what}); restarting in {wait:.0f} s",
            len(recent),
            info.exit_code,
            now + wait,
            info.id,
        )
        return self._status

    def _restart(self) -> SupervisorStatus:
        old = self._status
        if old.container_id:
            self.runtime.remove(old.container_id)
        try:
            info = self.runtime.ensure(self.spec)
        except KalavaiError as exc:
            # A failed start counts as a crash: an image that vanished must not loop forever.
            now = self.clock()
            self._crashes.append(Crash(now, None, False, f"{exc.title}: {exc.message}"))
            self._crashes = self._recent(now)
            if len(self._crashes) >= self.policy.max_crashes:
                self._status = SupervisorStatus(
                    "gave_up",
                    f"worker could not start: {exc.title}: {exc.message}",
                    len(self._crashes),
                )
            else:
                wait = self.policy.backoff(len(self._crashes))
                self._status = SupervisorStatus(
                    "backing_off",
                    f"worker could not start ({exc.title}); retrying in {wait:.0f} s",
                    len(self._crashes),
                    None,
                    now + wait,
                )
            return self._status
        return self._observed(info)

    def _recent(self, now: float) -> list[Crash]:
        return [c for c in self._crashes if now - c.at <= self.policy.window_seconds]

    def _last_code(self) -> int | None:
        return self._crashes[-1].exit_code if self._crashes else None

    def _last_line(self, info: ContainerInfo) -> str:
        if info.state == "missing":
            return "the container disappeared"
        try:
            lines = [ln for ln in self.runtime.logs(info.id, tail=20).splitlines() if ln.strip()]
        except KalavaiError:
            return ""
        return lines[-1].strip()[:200] if lines else ""


def _what(crash: Crash, memory_bytes: int) -> str:
    code = "unknown" if crash.exit_code is None else str(crash.exit_code)
    text = f"exit code {code}"
    if crash.oom_killed:
        text += f" (out of memory: limit {memory_bytes / 2**20:.0f} MiB)"
    return f"{text}: {crash.last_line}" if crash.last_line else text


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        n, unit = int(seconds // 3600), "hour"
    elif seconds >= 60 and seconds % 60 == 0:
        n, unit = int(seconds // 60), "minute"
    else:
        n, unit = int(seconds), "second"
    return f"{n} {unit}{'s' if n != 1 else ''}"
