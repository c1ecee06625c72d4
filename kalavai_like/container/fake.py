"""An in-memory runtime with the same methods and errors as ContainerRuntime, for fast agent
tests. CPU time accrues at `cpus` cores per second of the injected clock while running (not while
paused); tests make the workload crash or use memory with `crash()` and `set_memory()`.
tests/container/test_contract.py runs the same assertions against this and real podman.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from kalavai_like.container.runtime import MANAGED_LABEL
from kalavai_like.container.spec import ContainerInfo, ContainerSpec, Usage, check_signal, missing
from kalavai_like.errors import Conflict, InvalidInput, NotFound, SystemProblem


@dataclass
class _Fake:
    info: ContainerInfo
    spec: ContainerSpec
    cpus: float
    memory_limit: int
    cpu_seconds: float = 0.0
    memory_bytes: int = 4 * 1024 * 1024
    since: float = 0.0
    logs: list[str] = field(default_factory=list)


class FakeRuntime:
    """Containers as dicts; `images` lists the images that `run` accepts."""

    def __init__(
        self,
        images: Iterable[str] = (
            "localhost/kalavai-like/busybox",
            "localhost/kalavai-like/dask",
            "localhost/kalavai-like/boinc",
        ),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.images = {i.removesuffix(":latest") for i in images}
        self.clock = clock
        self.containers: dict[str, _Fake] = {}
        self.calls: list[tuple[str, str]] = []
        self.signals: list[tuple[str, str]] = []  # (container id, signal) as sent
        # What the workload does on a signal: exit with this code (a trap sets its own).
        self.exit_on_signal: dict[str, int] = {"TERM": 143, "KILL": 137}
        self._ids = itertools.count(1)

    # ---- the runtime's methods ------------------------------------------------------------

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Start a container (instantly)."""
        spec.validate()
        self.calls.append(("run", spec.name))
        if any(c.info.name == spec.name for c in self.containers.values()):
            raise Conflict("Worker container already exists", f"{spec.name!r} is taken.")
        if spec.image.removesuffix(":latest") not in self.images:
            raise SystemProblem("Worker image not found", f"{spec.image} is not available.")
        if spec.gpus > 0:
            raise SystemProblem("No GPU device for containers", "The fake has no GPUs.")
        ident = f"{next(self._ids):064x}"
        info = ContainerInfo(
            id=ident,
            name=spec.name,
            state="running",
            started_at=f"fake-{self.clock()}",
            labels={MANAGED_LABEL: "true", **spec.labels},
            image=spec.image,
        )
        self.containers[ident] = _Fake(
            info, spec, spec.cpus, spec.memory_bytes, since=self.clock(), logs=[]
        )
        return info

    def ensure(self, spec: ContainerSpec) -> ContainerInfo:
        """Adopt the live container of the membership (or name), else start one."""
        spec.validate()
        mid = spec.membership_id
        found = [
            c
            for c in self.containers.values()
            if (mid and c.info.labels.get("kalavai-like.membership") == mid)
            or c.info.name == spec.name
        ]
        live = [c for c in found if c.info.state in ("running", "paused")]
        if live:
            return live[0].info
        for c in found:
            self.remove(c.info.id)
        return self.run(spec)

    def find(self, label_key: str, value: str) -> list[ContainerInfo]:
        """Every container whose label `label_key` equals `value`."""
        return [c.info for c in self.containers.values() if c.info.labels.get(label_key) == value]

    def state(self, ident: str) -> ContainerInfo:
        """The container's state; `missing` when it does not exist."""
        c = self._get(ident)
        return c.info if c else missing(ident)

    def logs(self, ident: str, tail: int = 50) -> str:
        """The last `tail` log lines."""
        c = self._need(ident)
        lines = c.logs[-tail:] if tail > 0 else []
        return "".join(f"{ln}\n" for ln in lines)

    def usage(self, ident: str) -> Usage:
        """CPU seconds accrued so far and the memory set by `set_memory`."""
        c = self._need(ident)
        if c.info.state not in ("running", "paused"):
            raise NotFound("Worker container is not running", f"{ident} has no process.")
        self._accrue(c)
        return Usage(c.cpu_seconds, min(c.memory_bytes, c.memory_limit))

    def pause(self, ident: str) -> None:
        """Freeze: CPU time stops accruing. Idempotent."""
        self._transition(ident, "paused")

    def unpause(self, ident: str) -> None:
        """Thaw. Idempotent."""
        self._transition(ident, "running")

    def update(
        self, ident: str, *, cpus: float | None = None, memory_bytes: int | None = None
    ) -> None:
        """Change the limits live."""
        if cpus is not None and not 0 < cpus <= 1024:
            raise InvalidInput("Bad CPU limit", f"{cpus} cores: give more than 0.")
        if memory_bytes is not None and memory_bytes < 6 * 1024 * 1024:
            raise InvalidInput("Bad memory limit", "Give at least 6 MiB.")
        c = self._need(ident)
        self._accrue(c)
        if cpus is not None:
            c.cpus = cpus
        if memory_bytes is not None:
            c.memory_limit = memory_bytes

    def stop(self, ident: str, timeout: int = 10) -> None:
        """Stop (exit code 143, as after SIGTERM). Idempotent."""
        c = self._get(ident)
        if c and c.info.state in ("running", "paused"):
            self._accrue(c)
            c.info = replace(c.info, state="exited", exit_code=143)

    def kill(self, ident: str, signal: str) -> None:
        """Record the signal; the workload exits with the code `exit_on_signal` gives it (TERM
        and KILL by default, as a process without a handler)."""
        check_signal(signal)
        c = self._need(ident)
        if c.info.state not in ("running", "paused"):
            raise SystemProblem("Could not signal the worker", f"{ident} is {c.info.state}.")
        self.signals.append((c.info.id, signal))
        code = self.exit_on_signal.get(signal)
        if code is not None:
            self.crash(ident, exit_code=code)

    def remove(self, ident: str) -> None:
        """Remove. Idempotent."""
        c = self._get(ident)
        if c:
            del self.containers[c.info.id]

    # ---- test hooks ---------------------------------------------------------------------

    def crash(self, ident: str, exit_code: int = 1, log_line: str = "", oom: bool = False) -> None:
        """Make the workload exit as if it crashed (or was OOM-killed)."""
        c = self._need(ident)
        self._accrue(c)
        if log_line:
            c.logs.append(log_line)
        c.info = replace(c.info, state="exited", exit_code=exit_code, oom_killed=oom)

    def set_memory(self, ident: str, memory_bytes: int) -> None:
        """The workload's memory in use from now on."""
        self._need(ident).memory_bytes = memory_bytes

    def log(self, ident: str, line: str) -> None:
        """Append a line to the container's log."""
        self._need(ident).logs.append(line)

    # ---- internals ----------------------------------------------------------------------

    def _get(self, ident: str) -> _Fake | None:
        if ident in self.containers:
            return self.containers[ident]
        for c in self.containers.values():
            if c.info.name == ident or (len(ident) >= 12 and c.info.id.startswith(ident)):
                return c
        return None

    def _need(self, ident: str) -> _Fake:
        c = self._get(ident)
        if c is None:
            raise NotFound("No such worker container", f"{ident} does not exist.")
        return c

    def _accrue(self, c: _Fake) -> None:
        now = self.clock()
        if c.info.state == "running":
            c.cpu_seconds += c.cpus * max(0.0, now - c.since)
        c.since = now

    def _transition(self, ident: str, target: str) -> None:
        c = self._need(ident)
        if c.info.state == target:
            return
        if c.info.state not in ("running", "paused"):
            raise SystemProblem(
                "Could not change the worker's state", f"{ident} is {c.info.state}."
            )
        self._accrue(c)
        c.info = replace(c.info, state="paused" if target == "paused" else "running")
