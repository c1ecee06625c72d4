"""The pool's Dask guard: who may ask a scheduler or a worker for what, by the TLS client
certificate of each connection (kalavai_like.agent.pool_ca issues them; the role is the
subject's OU, the name its CN).

Loaded with `--preload kalavai_guard` in the head's scheduler and in every worker; the agent
copies this file (standalone: it imports nothing of kalavai_like) next to the certificates and
puts that directory on PYTHONPATH, so any image that carries `distributed` works.

- Scheduler: a `client` (the owner) or `scheduler` certificate may use every handler. A
  `worker` certificate may only register, heartbeat, log and leave, for its own address, and
  only while its device (CN) is in the pool's current member list at the address the
  connection comes from ($KALAVAI_GUARD_MEMBERS, written by the seed's agent from the peer
  list). Every 2 s, workers whose device left are removed and their connections closed.
- Worker: only the `scheduler` (and the owner's `client`, which may fetch results directly)
  certificate may send control messages (`run`, `plugin-add`, ...); another worker may only
  fetch data (`get_data`).

Any other certificate, or none, is refused. A role the owner may later grant (say `user`)
is one entry in `SCHEDULER_ROLES`.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kalavai_guard")

# Roles that may use every scheduler handler.
SCHEDULER_ROLES = frozenset({"client", "scheduler"})
# What a worker certificate may ask of the scheduler; those in OWN_ADDRESS_OPS only for itself.
OWN_ADDRESS_OPS = frozenset({"register-worker", "heartbeat_worker", "unregister", "retire_workers"})
WORKER_OPS = OWN_ADDRESS_OPS | {"log_event"}
PEER_WORKER_OPS = frozenset({"get_data"})
SWEEP_MS = 2000


class Refused(PermissionError):
    """A connection asked for something its certificate does not allow."""


def peer_identity(comm: Any) -> tuple[str, str]:
    """(role, name) from the connection's client certificate; ("", "") without one."""
    info = getattr(comm, "extra_info", None) or {}
    cert = info.get("peercert") if isinstance(info, dict) else None
    role = name = ""
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "organizationalUnitName":
                role = str(value)
            elif key == "commonName":
                name = str(value)
    return role, name


def host_of(address: object) -> str | None:
    """The IP host of a Dask address (`tls://10.0.0.2:4000`), None when it has none."""
    if not isinstance(address, str):
        return None
    loc = address.rpartition("://")[2]
    host = loc.rpartition(":")[0] if ":" in loc else loc
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class Members:
    """The pool's current members, device id -> overlay IPv4, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.members: dict[str, str] = {}

    def current(self) -> dict[str, str]:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                with open(self.path, encoding="utf-8") as fh:
                    data = json.load(fh)
                members = data.get("members") if isinstance(data, dict) else None
                self.members = {str(k): str(v) for k, v in (members or {}).items()}
                self._stamp = stamp
        except (OSError, ValueError):
            self.members, self._stamp = {}, None  # no list: no worker is a member
        return self.members

    def allows(self, device: str, host: str | None) -> bool:
        return host is not None and self.current().get(device) == host


def _targets(op: str, msg: dict[str, Any]) -> list[object]:
    """The worker addresses a worker-role message acts on."""
    if op == "retire_workers":
        workers = msg.get("workers")
        return list(workers) if isinstance(workers, (list, tuple)) and workers else [None]
    return [msg.get("address")]


class SchedulerGuard:
    """The checks on the scheduler's handlers."""

    def __init__(self, scheduler: Any, members: Members) -> None:
        self.scheduler = scheduler
        self.members = members
        self.devices: dict[str, str] = {}  # worker address -> device id it registered with

    def check(self, comm: Any, op: str, msg: dict[str, Any]) -> None:
        role, name = peer_identity(comm)
        if role in SCHEDULER_ROLES:
            return
        host = host_of(getattr(comm, "peer_address", None))
        if role != "worker":
            raise Refused(f"{op}: this scheduler needs the pool owner's client certificate")
        if not self.members.allows(name, host):
            raise Refused(f"{op}: {name or 'this device'} is not a current member of the pool")
        if op not in WORKER_OPS:
            raise Refused(f"{op}: not allowed with a worker certificate")
        if op in OWN_ADDRESS_OPS and any(host_of(t) != host for t in _targets(op, msg)):
            raise Refused(f"{op}: a worker may only speak for its own address")
        if op == "register-worker":
            self.devices[str(msg.get("address"))] = name

    async def sweep(self) -> None:
        """Remove the workers whose device is no longer a member (departed, revoked)."""
        for address in list(self.scheduler.workers):
            device = self.devices.get(address)
            if device is None or self.members.allows(device, host_of(address)):
                continue
            log.warning("kalavai_guard: removing %s: %s left the pool", address, device)
            self.devices.pop(address, None)
            await self.scheduler.remove_worker(address, stimulus_id="kalavai-guard-departed")


def worker_check(comm: Any, op: str, msg: dict[str, Any]) -> None:
    """The checks on a worker's handlers."""
    role, _ = peer_identity(comm)
    if role in SCHEDULER_ROLES or (role == "worker" and op in PEER_WORKER_OPS):
        return
    raise Refused(f"{op}: only the pool's scheduler or owner may ask a worker for this")


def guarded(op: str, handler: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    """`handler` behind `check`, taking the connection first whatever `handler` takes."""
    params = list(inspect.signature(handler).parameters.values())
    takes_comm = bool(params) and params[0].name in ("comm", "stream")

    async def call(comm: Any, **msg: Any) -> Any:
        check(comm, op, msg)
        result = handler(comm, **msg) if takes_comm else handler(**msg)
        return await result if inspect.isawaitable(result) else result

    rest = params[1:] if takes_comm else params
    comm = inspect.Parameter("comm", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    call.__signature__ = inspect.Signature([comm, *rest])  # type: ignore[attr-defined]
    call.__name__ = f"guarded_{getattr(handler, '__name__', op)}"
    return call


class GuardedHandlers(dict):  # type: ignore[type-arg]
    """A server's handler table whose every lookup comes back behind the guard."""

    def __init__(self, handlers: dict[str, Any], check: Callable[..., None]) -> None:
        super().__init__(handlers)
        self._check = check
        self._wrapped: dict[str, tuple[Any, Callable[..., Any]]] = {}

    def __getitem__(self, op: str) -> Callable[..., Any]:
        handler = super().__getitem__(op)
        cached = self._wrapped.get(op)
        if cached is None or cached[0] is not handler:  # made once per handler
            cached = self._wrapped[op] = (handler, guarded(op, handler, self._check))
        return cached[1]


def install(server: Any) -> None:
    """Put `server` (a Scheduler or a Worker) behind the guard."""
    if hasattr(server, "add_worker"):
        guard = SchedulerGuard(server, Members(os.environ.get("KALAVAI_GUARD_MEMBERS", "")))
        server.handlers = GuardedHandlers(server.handlers, guard.check)
        from tornado.ioloop import PeriodicCallback

        pc = PeriodicCallback(guard.sweep, SWEEP_MS)
        server.periodic_callbacks["kalavai-guard-sweep"] = pc
        pc.start()
    else:
        server.handlers = GuardedHandlers(server.handlers, worker_check)
    log.info("kalavai_guard: %s handlers guarded", type(server).__name__)


async def dask_setup(server: Any) -> None:  # the `--preload` entry point
    install(server)
