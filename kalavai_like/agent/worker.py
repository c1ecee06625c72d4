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
from kalavai_like.agent.records import Membership
from kalavai_like.container.spec import ContainerInfo, Usage
from kalavai_like.container.supervisor import Supervisor
from kalavai_like.errors import KalavaiError
from kalavai_like.ledger import Condition, Counters, Ledger
from kalavai_like.sampler import Sampler

log = logging.getLogger(__name__)


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
        )
        self.last_heartbeat_at: float | None = None
        self.heartbeat_error: Condition | None = None
        self.platform_granted: dict[str, Any] = {}
        self.supervisor: Supervisor | None = None  # restarts a crashed worker with backoff

    def _usage(self) -> Usage:
        return self._runtime.usage(self.container_id)

    # ---- accounting ---------------------------------------------------------------------

    def sample(self) -> None:
        """Close the current interval into the ledger."""
        self.ledger.append(self.sampler.sample())

    def set_running(self, running: bool) -> None:
        """Switch accrual on or off, closing the interval in the old state first."""
        self.ledger.append(self.sampler.set_running(running))

    def replace_container(self, info: ContainerInfo) -> None:
        """The container was replaced (crash, lost): continue counting on the new one."""
        self.container, self.container_id = info.name or info.id, info.id
        self.container_state = info.state
        self.ledger.append(self.sampler.set_source(info.id, self._usage))

    def heartbeat(self, state: str, reason: str = "") -> str | None:
        """Send the latest counters; returns the platform's desired state when it changed.

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
        desired = resp.get("desired_state")
        if desired in ("running", "paused") and desired != self.m.platform_desired:
            self.m.platform_desired = desired
            return str(desired)
        return None

    # ---- reading ------------------------------------------------------------------------

    def totals(self) -> Counters:
        row = self.ledger.latest()
        return row.counters if row else Counters()

    def conditions(self) -> list[Condition]:
        found = list(self.sampler.conditions)
        if self.ledger.condition is not None:
            found.append(self.ledger.condition)
        if self.heartbeat_error is not None:
            found.append(self.heartbeat_error)
        return found

    def close(self) -> None:
        self.ledger.close()
