"""One worker membership at run time: its container, usage sampling into the ledger, and
heartbeats to the platform with the platform's desired state read back.

`WorkerSession` is driven by the `Node` (under the node's lock): `sample()` and `heartbeat()`
from the reconcile loop, `set_running()` on pause and resume. It knows the membership record
and the ports; it never touches the overlay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kalavai_like.agent.ports import PlatformPort, RuntimePort
from kalavai_like.agent.state import Membership
from kalavai_like.container.spec import ContainerInfo, Usage
from kalavai_like.container.supervisor import Supervisor
from kalavai_like.container.templates import FINISH_LABEL, FINISH_SIGNAL
from kalavai_like.errors import Condition, KalavaiError, SystemProblem
from kalavai_like.usage.boinc import BoincState, MessageLog, boinc_conditions, read_state
from kalavai_like.usage.boinc_rpc import RpcError, detach_when_done
from kalavai_like.usage.ledger import Counters, Ledger
from kalavai_like.usage.sampler import LiveUsage, Sampler

log = logging.getLogger(__name__)
# A heartbeat reply's desired state once the pool's owner removed the device.
REMOVED = "removed"
RUNNING = ("running", "paused")  # a container's states with its workload alive


def retired(m: Membership, runtime: RuntimePort, name: str) -> ContainerInfo | None:
    """The container `name` of a finishing Dask worker that exited (it retired: not to be
    started again), else None."""
    if not (m.finishing and m.template == "dask"):
        return None
    info = runtime.state(name)
    return info if info.state not in RUNNING else None


class LiveRate:
    """The worker's live usage over at least `window` seconds.

    The loop also samples right before each heartbeat, a moment after the periodic sample; the
    rate over such a sliver is mostly cgroup accounting jitter (0.73 cores under a 0.5 cap), so
    intervals are pooled until they span the window and only then published.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self.value = LiveUsage()
        self._cpu = self._gpu = self._seconds = 0.0

    def add(self, last: LiveUsage) -> None:
        """Pool the interval the sampler just closed; publish once the pool spans the window."""
        if last.interval <= 0:
            return
        self._cpu += last.cpu_cores * last.interval
        self._gpu += last.gpu_fraction * last.interval
        self._seconds += last.interval
        if self._seconds >= self.window:
            s = self._seconds
            self.value = LiveUsage(self._cpu / s, last.memory_bytes, self._gpu / s, s)
            self._cpu = self._gpu = self._seconds = 0.0
        else:  # memory in use is a level, not a rate: always the latest
            v = self.value
            self.value = LiveUsage(v.cpu_cores, last.memory_bytes, v.gpu_fraction, v.interval)

    def restart(self, running: bool) -> None:
        """Paused: nothing is used from now on; resumed: measure afresh."""
        self._cpu = self._gpu = self._seconds = 0.0
        if not running:
            self.value = LiveUsage(memory_bytes=self.value.memory_bytes)


class WorkerSession:
    """Ledger, sampler and heartbeat state for the membership `m`, whose container is `info`."""

    def __init__(
        self,
        m: Membership,
        info: ContainerInfo,
        *,
        runtime: RuntimePort,
        platform: PlatformPort,
        ledger_path: Path,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        live_window: float = 5.0,
        data_dir: Path | None = None,
    ) -> None:
        self.m = m
        self.container = info.name or info.id
        self.container_id = info.id
        self.container_state: str = info.state
        self._runtime = runtime
        self._platform = platform
        self._wall = wall
        self.ledger = Ledger.open(ledger_path, m.id)
        self.sampler = Sampler(
            self._usage,
            source_id=info.id,
            resume=self.ledger.latest(),
            running=m.desired == "running",
            wall=wall,
            mono=mono,
        )
        self.live_rate = LiveRate(live_window)
        self.last_heartbeat_at: float | None = None
        self.heartbeat_error: Condition | None = None
        # The platform's parts of this device's usage, from its last heartbeat answer:
        self.platform_granted: dict[str, Any] = {}
        self.platform_pending: dict[str, Any] = {}
        self.platform_unverified: dict[str, Any] = {}
        self.platform_witnessed: dict[str, Any] = {}  # what the pool's head witnessed
        self.supervisor: Supervisor | None = None  # restarts a crashed worker with backoff
        # A BOINC worker's client state, read from its data directory at each sample.
        self._boinc_dir = data_dir / "boinc" if data_dir and m.template == "boinc" else None
        self.boinc: BoincState | None = None
        self._boinc_log = MessageLog()

    def _usage(self) -> Usage:
        return self._runtime.usage(self.container_id)

    # ---- accounting ---------------------------------------------------------------------

    def sample(self) -> None:
        """Close the current interval into the ledger."""
        self.ledger.append(self.sampler.sample())
        self.live_rate.add(self.sampler.live)
        if self._boinc_dir is not None:
            self.boinc = read_state(self._boinc_dir, log=self._boinc_log)

    def set_running(self, running: bool) -> None:
        """Switch accrual on or off, closing the interval in the old state first."""
        self.ledger.append(self.sampler.set_running(running))
        self.live_rate.restart(running)

    @property
    def live(self) -> LiveUsage:
        """Live usage over the last full window (never a sliver's jittery rate)."""
        return self.live_rate.value

    def replace_container(self, info: ContainerInfo) -> None:
        """The container was replaced (crash, lost): continue counting on the new one."""
        self.container, self.container_id = info.name or info.id, info.id
        self.container_state = info.state
        self.ledger.append(self.sampler.set_source(info.id, self._usage))

    def heartbeat(self, state: str, reason: str = "") -> str | None:
        """Send the latest counters; returns the platform's desired state when it changed
        (always REMOVED once the pool's owner removed the device).

        Raises:
            KalavaiError: the platform refused or could not be reached (the rows stay pending).
        """
        body = self.ledger.heartbeat(state=state, reason=reason or None)
        try:
            resp = self._platform.heartbeat(self.m.platform, self.m.credential, body)
        except KalavaiError as exc:
            self.heartbeat_error = Condition(
                "platform_unreachable",
                "Platform unreachable",
                f"Heartbeats to {self.m.platform} fail ({exc.title}); usage is kept in the "
                "local ledger and sent when it answers again.",
            )
            raise
        self.heartbeat_error = None
        self.ledger.ack(int(resp.get("seq", body["seq"])))
        self.last_heartbeat_at = self._wall()
        self.platform_granted = dict(resp.get("granted") or {})
        self.platform_pending = dict(resp.get("pending") or {})
        self.platform_unverified = dict(resp.get("unverified") or {})
        self.platform_witnessed = dict(resp.get("witnessed") or {})
        desired = resp.get("desired_state")
        if desired == REMOVED:  # by the pool's owner: the node leaves
            return REMOVED
        if desired in ("running", "paused") and desired != self.m.platform_desired:
            self.m.platform_desired = desired
            return str(desired)
        return None

    def withdraw_platform_pause(self) -> None:
        """The user resumed a worker the platform had asked to pause: tell the platform, so
        its pages stop showing the request (POST /device/resumed).

        Raises:
            KalavaiError: the platform refused or could not be reached (retried later).
        """
        self._platform.resumed(self.m.platform, self.m.credential)
        self.m.platform_desired = "running"

    # ---- reading ------------------------------------------------------------------------

    def totals(self) -> Counters:
        row = self.ledger.latest()
        return row.counters if row else Counters()

    def start_finishing(self) -> bool:
        """Fetch no new work and leave once the current work is done: a BOINC client detaches
        once its tasks are reported; a Dask worker retires gracefully (SIGUSR1 to its finish
        preload: the scheduler moves its results elsewhere, then it exits). False when this
        worker has nothing to finish (no BOINC project attached, a Dask worker without the
        preload or not running, another template).

        Raises:
            SystemProblem: the BOINC client does not answer.
        """
        if self.m.template == "dask":
            return self._retire_dask()
        if self._boinc_dir is None:
            return False
        try:
            urls = detach_when_done(self._boinc_dir)
        except (OSError, RpcError) as exc:
            raise SystemProblem(
                "BOINC client not answering",
                f"Could not ask it to finish its work ({exc}); try again, or stop now with "
                "`kalavai-like pool stop`.",
            ) from exc
        return bool(urls)

    def _retire_dask(self) -> bool:
        info = self._runtime.state(self.container_id)
        if info.labels.get(FINISH_LABEL) != FINISH_SIGNAL or info.state not in RUNNING:
            return False  # no preload to retire it (no mutual TLS, an older agent's), or down
        try:
            self._runtime.kill(info.id, FINISH_SIGNAL)
        except KalavaiError as exc:  # it stopped meanwhile: nothing running to finish
            log.warning("cannot ask the Dask worker to retire: %s", exc)
            return False
        return True

    def work_done(self) -> bool:
        """The finishing worker's work is done: the BOINC client has reported its tasks and
        detached; the Dask worker has retired and exited."""
        if self.m.template == "dask":
            return self._runtime.state(self.container_id).state not in RUNNING
        b = self.boinc
        return b is not None and b.written_at is not None and not b.projects and not b.tasks

    def conditions(self) -> list[Condition]:
        found = list(self.sampler.conditions)
        if self.ledger.condition is not None:
            found.append(self.ledger.condition)
        if self.heartbeat_error is not None:
            found.append(self.heartbeat_error)
        return found + boinc_conditions(self.boinc)

    def close(self) -> None:
        self.ledger.close()
