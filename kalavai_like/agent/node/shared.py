"""The state every part of a node shares, handed to each part explicitly: its configuration,
ports and clocks, the one lock, the persisted desired state, the state and its reason, the
worker session and what was last observed of it, and the change notifications (`changed`,
`version`, `wakeup`) that the LocalAPI's watch stream and the reconcile loop wait on.

`Shared` only keeps and announces state; the operations live in the parts that use it:
kalavai_like.agent.node.membership, .seeding, .rules and .reconcile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like.agent.ports import Ports, StorePort
from kalavai_like.agent.state import Membership, Persisted
from kalavai_like.agent.worker import WorkerSession
from kalavai_like.client.records import NodeState
from kalavai_like.errors import Condition, KalavaiError, NotFound, SystemProblem
from kalavai_like.net import SpokeStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeConfig:
    """Tunables of one node: its name prefix, files and intervals."""

    prefix: str
    state_dir: Path
    worker_name: str = "wk"
    hub_name: str = "hub"
    device_name: str = ""
    backend: str = "auto"
    handshake_timeout: float = 10.0
    direct_timeout: float = 1.5  # a join waits this long for UDP to the hub before the relay
    direct_probe_interval: float = 60.0  # a relayed worker tries UDP to its hub this often
    sample_interval: float = 5.0
    heartbeat_interval: float = 10.0
    check_interval: float = 15.0
    peers_wait: float = 25.0
    witness_interval: float = 10.0  # seconds between the seed's witness reports
    # a BOINC seed reads the project's credit this often: it moves only when results are
    # validated, and a project's web server is not ours to poll every few seconds
    project_poll_interval: float = 300.0
    restart_backoff: float = 5.0  # first wait before restarting a crashed worker (doubles)
    max_crashes: int = 5  # crashes within 10 min before giving up
    dask_tls: bool = False  # dask pools speak mutual TLS (kalavai_like.agent.pool_tls)
    cert_check_interval: float = 6 * 3600.0  # a worker certificate near its end is renewed
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.sqlite"

    @property
    def relay_dir(self) -> Path:
        """Where relay bridges keep their 0600 configs and status sockets."""
        return self.state_dir / "relay"


# The node's reason while `pool stop --finish` lets the current work complete.
FINISHING = "finishing: no new work, leaving once the current work is done"


class Shared:
    """The node's shared state; every change happens under `lock` (re-entrant)."""

    def __init__(
        self,
        config: NodeConfig,
        ports: Ports,
        store: StorePort,
        *,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.ports = ports
        self.store = store
        self.wall = wall
        self.mono = mono  # the sampler's interval clock
        self.lock = threading.RLock()
        self.persisted = Persisted()  # the desired state, saved on every change
        self.state: NodeState = "idle"
        self.reason = "not in a pool"
        self.worker: WorkerSession | None = None
        self.spoke: tuple[SpokeStatus | None, float] = (None, 0.0)  # as last read, and when
        self.running_since: float | None = None
        self.conditions: list[Condition] = []  # the node's own (worker crashes)
        self.changed = threading.Condition()  # notified on every state change (watch stream)
        self.version = 0
        self.wakeup = threading.Event()  # asks the loop for a heartbeat now
        self.started_at = wall()
        self._next: dict[str, float] = {}

    # ---- announcing changes -------------------------------------------------------------

    def save(self, *, required: bool = False) -> None:
        """Persist the desired state, then tell the watchers.

        A write that fails (a full disk) does not stop the node, which goes on with what it
        holds in memory: the `state_unsaved` condition says so until a save succeeds.

        Raises:
            SystemProblem: the write failed and the change is `required` on disk (a join or a
                pool start, which must not be forgotten by the next agent).
        """
        try:
            self.store.save(self.persisted.to_dict())
        except SystemProblem as exc:
            log.warning("state not saved: %s", exc)
            self.flag("state_unsaved", "Agent state not saved", (
                f"{exc.message} The node keeps running; if the agent stops before the state "
                "is saved, it forgets the changes since (a pause, the platform's wishes)."
            ))  # fmt: skip
            self.notify()
            if required:
                raise
            return
        self.flag("state_unsaved")
        self.notify()

    def flag(self, code: str, title: str = "", text: str = "") -> None:
        """Set the node's own condition `code` (replacing it), or clear it without `title`."""
        self.conditions = [c for c in self.conditions if c.code != code]
        if title:
            self.conditions.append(Condition(code, title, text))

    def set_state(self, state: NodeState, reason: str) -> None:
        self.state, self.reason = state, reason
        self.notify()

    def notify(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    # ---- reading ------------------------------------------------------------------------

    def need_worker(self) -> tuple[Membership, WorkerSession]:
        """The membership and its running session.

        Raises:
            NotFound: this node is not in a pool.
            SystemProblem: the worker could not be restored after a restart.
        """
        m, w = self.persisted.membership, self.worker
        if m is None:
            raise NotFound("Not in a pool", "Join one first: kalavai-like pool join TOKEN")
        if w is None:
            raise SystemProblem(
                "Worker not restored yet",
                f"The agent could not restore the worker ({self.reason}); see its log.",
            )
        return m, w

    def relay_of(self, platform: str, credential: str) -> tuple[str, bool]:
        """The pool's relay (host:port; "" when the platform runs none) and whether its hub
        takes only the relay. Not knowing it is no relay: UDP, where it works, still does."""
        try:
            found = self.ports.platform.relay(platform, credential)
        except NotFound:
            return "", False
        except KalavaiError as exc:
            log.warning("the pool's relay is not known: %s", exc)
            return "", False
        return str(found.get("address") or ""), bool(found.get("hub_relay_only"))

    # ---- the reconcile loop's timetable ---------------------------------------------------

    def due(self, what: str, now: float, every: float) -> bool:
        """True (and the next one set `every` seconds on) when `what` is due at `now`."""
        if now >= self._next.get(what, 0.0):
            self._next[what] = now + every
            return True
        return False

    def next_due(self, now: float) -> float:
        """When the next periodic task is due."""
        return min(self._next.values(), default=now + self.config.check_interval)

    def schedule_all(self) -> None:
        """Every periodic task one interval from now (after a join or a restore)."""
        now = time.monotonic()
        self._next = {
            "sample": now + self.config.sample_interval,
            "heartbeat": now + self.config.heartbeat_interval,
            "check": now + self.config.check_interval,
            "seed": now + self.config.check_interval,
        }
