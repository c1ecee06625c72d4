"""The pool head's witness: a Dask scheduler plugin that keeps, per worker, what the scheduler
itself saw of its work, and writes the totals where the seed's agent reads them.

Loaded with `dask scheduler --preload kalavai_witness` (shipped in the kalavai-like dask image).
Per worker, keyed by the IPv4 host its connection came from (and the name it registered with),
cumulative within this scheduler's epoch (a random 32-hex id made at start):

- tasks completed on it;
- compute seconds witnessed: each task counts the interval the scheduler saw it processing
  there, never more than the worker's own `startstops` compute entries for it, and the total
  never more than threads x the time the worker was connected;
- connected seconds; threads;
- results judged by kalavai_redundancy (its `kalavai_outcomes` calls): valid, invalid,
  errors. A redundant task's compute (key `kalavai-redundant-...`) is held until judged: then
  added to compute, or, if invalid, to invalid_compute_seconds only; unjudged after
  $KALAVAI_HOLD_SECONDS (default 3600) or at close, to compute.

The `kalavai_identities` and `kalavai_outcomes` calls are kalavai_witness_calls'.

A worker whose announced host differs from its connection's host is not witnessed. Every
~2 s and on close the totals go atomically (temp file + rename) to `<dir>/<epoch>.json`
(dir: $KALAVAI_WITNESS_DIR, default /data) with a counter that grows with each write.

`WitnessBook` is the accounting, plain Python with an injected clock, so it is tested without
distributed; `WitnessPlugin` feeds it from the scheduler's hooks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

try:
    from distributed.comm.addressing import normalize_address
    from distributed.diagnostics.plugin import SchedulerPlugin
except ImportError:  # the accounting alone, as the project's host tests import it
    SchedulerPlugin = object

    def normalize_address(addr: str) -> str:
        return addr


log = logging.getLogger("kalavai_witness")

FORMAT = 1
MAX_ENTRIES = 65536  # distinct (host, name) pairs kept per epoch
MAX_NAME = 64
MAX_JUDGED = 200_000  # redundant tasks remembered until their outcome arrives
HELD_PREFIX = "kalavai-redundant-"
OUTCOMES = ("valid", "invalid", "error", "unchecked")


def ipv4_host(address: object) -> str | None:
    """The IPv4 host of a Dask address (`tcp://10.0.0.2:4000`), None for anything else."""
    if not isinstance(address, str):
        return None
    loc = address.rpartition("://")[2]
    host, sep, port = loc.rpartition(":")
    if not sep or not port.isdigit():
        host = loc
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


def compute_reported(startstops: object) -> float:
    """Seconds of the worker's `compute` entries in a task-finished message (0 if malformed)."""
    total = 0.0
    if not isinstance(startstops, (list, tuple)):
        return 0.0
    for ss in startstops:
        if not isinstance(ss, dict) or ss.get("action") != "compute":
            continue
        start, stop = ss.get("start"), ss.get("stop")
        if not isinstance(start, (int, float)) or not isinstance(stop, (int, float)):
            continue
        d = float(stop) - float(start)
        if math.isfinite(d) and d > 0:
            total += d
    return total


class Entry:
    """One (host, name)'s totals; time accrues while at least one of its sessions is open."""

    __slots__ = ("capacity", "compute", "connected", "errors", "invalid", "invalid_compute",
                 "open_threads", "sessions", "since", "tasks", "threads", "valid")  # fmt: skip

    def __init__(self, now: float) -> None:
        self.tasks = 0
        self.compute = 0.0
        self.capacity = 0.0  # threads x seconds connected: the cap on compute
        self.connected = 0.0
        self.sessions = 0
        self.open_threads = 0
        self.threads = 1
        self.since = now
        self.valid, self.invalid, self.errors, self.invalid_compute = 0, 0, 0, 0.0

    def advance(self, now: float) -> None:
        dt = now - self.since
        if dt > 0 and self.sessions > 0:
            self.connected += dt
            self.capacity += self.open_threads * dt
        self.since = max(self.since, now)


class WitnessBook:
    """Per-worker witnessed totals of one scheduler epoch."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, epoch: str | None = None):
        self.epoch = epoch or secrets.token_hex(16)
        self.counter = 0
        self._clock = clock
        self._entries: dict[tuple[str, str], Entry] = {}
        self._workers: dict[str, tuple[tuple[str, str], int]] = {}  # address -> (key, threads)
        self._processing: dict[str, tuple[str, float]] = {}  # task -> (worker address, since)
        # redundant task -> (its worker's entry key, compute held, when), until judged
        self._judged: dict[str, tuple[tuple[str, str], float, float]] = {}
        self.hold_seconds = 3600.0

    def connect(self, address: str, peer: str | None, name: object, threads: object) -> bool:
        """A worker registered from `peer`; False (not witnessed) unless its announced IPv4
        host is the host its connection came from."""
        host = ipv4_host(address)
        if host is None or host != ipv4_host(peer):
            log.warning("worker %s (connection from %s) is not witnessed", address, peer)
            return False
        key = (host, str(name)[:MAX_NAME])
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= MAX_ENTRIES:
                log.warning("worker %s is not witnessed: too many workers this epoch", address)
                return False
            entry = self._entries[key] = Entry(now)
        self.disconnect(address)  # a re-registration under the same address replaces it
        entry.advance(now)
        n = threads if isinstance(threads, int) and threads > 0 else 1
        entry.sessions += 1
        entry.open_threads += n
        entry.threads = entry.open_threads
        self._workers[address] = (key, n)
        return True

    def disconnect(self, address: str) -> None:
        """The worker at `address` left (or re-registered)."""
        found = self._workers.pop(address, None)
        if found is None:
            return
        key, n = found
        entry = self._entries[key]
        entry.advance(self._clock())
        entry.sessions -= 1
        entry.open_threads -= n

    def started(self, task: str, address: str) -> None:
        """The scheduler put `task` to processing on the worker at `address`."""
        if address in self._workers:
            self._processing[task] = (address, self._clock())

    def dropped(self, task: str) -> None:
        """`task` left processing without finishing (erred, released, rescheduled)."""
        seen = self._processing.pop(task, None)
        found = self._workers.get(seen[0]) if seen is not None else None
        if found is not None and task.startswith(HELD_PREFIX):
            self._remember(task, found[0], 0.0)

    def _remember(self, task: str, key: tuple[str, str], held: float) -> None:
        if len(self._judged) >= MAX_JUDGED:  # the oldest is released unjudged
            self.judge(next(iter(self._judged)), "unchecked")
        self._judged[task] = (key, held, self._clock())

    def judge(self, task: object, outcome: object) -> bool:
        """The redundancy library's verdict on a result (a task it ran); False if unknown."""
        if outcome not in OUTCOMES or not isinstance(task, str) or task not in self._judged:
            return False
        key, held, _ = self._judged.pop(task)
        entry = self._entries[key]
        if outcome == "invalid":
            entry.invalid += 1
            entry.invalid_compute += held
            return True
        if outcome == "valid":
            entry.valid += 1
        elif outcome == "error":
            entry.errors += 1
        entry.advance(self._clock())
        entry.compute = min(entry.compute + held, entry.capacity)
        return True

    def release(self, *, older_than: float = 0.0) -> None:
        """Held compute not judged within `older_than` s counts as compute, unjudged."""
        now = self._clock()
        for task in [t for t, (_, _, at) in self._judged.items() if now - at >= older_than]:
            self.judge(task, "unchecked")

    def finished(self, task: str, address: object, startstops: object) -> None:
        """`task` finished on the worker at `address`, which reported `startstops`."""
        seen = self._processing.pop(task, None)
        found = self._workers.get(address) if isinstance(address, str) else None
        if found is None:
            return
        entry = self._entries[found[0]]
        now = self._clock()
        entry.advance(now)
        entry.tasks += 1
        if seen is None:
            return  # never seen processing: nothing witnessed of its compute
        # A stolen task counts from when it first went processing (the thief's start is not a
        # transition); the worker's own compute entries bound it.
        witnessed = min(max(0.0, now - seen[1]), compute_reported(startstops))
        if task.startswith(HELD_PREFIX):  # credited once the redundancy library judged it
            self._remember(task, found[0], witnessed)
            return
        entry.compute = min(entry.compute + witnessed, entry.capacity)

    def identities(self, table: object) -> dict[str, dict[str, str]]:
        """Per witnessed worker address, its device and user, by its host in `table`
        ({"hosts": {"<ipv4>": {"device": ..., "user": ...}}}, as the seed's agent writes it)."""
        hosts = table.get("hosts") if isinstance(table, dict) else None
        if not isinstance(hosts, dict):
            return {}
        out = {}
        for address, ((host, _name), _n) in self._workers.items():
            known = hosts.get(host)
            if isinstance(known, dict) and isinstance(known.get("user"), str):
                out[address] = {"user": known["user"], "device": str(known.get("device", ""))}
        return out

    def snapshot(self, *, closed: bool = False, wall: float | None = None) -> dict[str, Any]:
        """The totals as written to the file; each call counts one more write."""
        self.release(older_than=self.hold_seconds)
        now = self._clock()
        self.counter += 1
        workers = []
        for (host, name), e in self._entries.items():
            e.advance(now)
            workers.append({
                "host": host, "name": name, "tasks": e.tasks,
                "compute_seconds": round(min(e.compute, e.capacity), 6),
                "connected_seconds": round(e.connected, 6), "threads": max(1, e.threads),
                "connected": e.sessions > 0, "valid": e.valid, "invalid": e.invalid,
                "errors": e.errors, "invalid_compute_seconds": round(e.invalid_compute, 6),
            })  # fmt: skip
        return {
            "format": FORMAT, "epoch": self.epoch, "counter": self.counter, "closed": closed,
            "written_at": time.time() if wall is None else wall, "workers": workers,
        }  # fmt: skip


def write_atomically(directory: str, epoch: str, data: dict[str, Any]) -> str:
    """Replace `<directory>/<epoch>.json` with `data`: temp file, fsync, rename."""
    path = os.path.join(directory, f"{epoch}.json")
    tmp = os.path.join(directory, f".{epoch}.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


class WitnessPlugin(SchedulerPlugin):
    """Feeds a `WitnessBook` from the scheduler's hooks and writes it every `interval` s."""

    name = "kalavai-witness"

    def __init__(self, directory: str, interval: float = 2.0, book: WitnessBook | None = None):
        self.directory = directory
        self.interval = interval
        self.book = book or WitnessBook()
        self.scheduler: Any = None
        self.peers: dict[str, str] = {}  # announced address -> connection's peer address
        self._task: asyncio.Task[None] | None = None
        self._error = ""

    def note_peer(self, address: object, peer: str) -> str | None:
        """Remember the connection a worker registers over (before the scheduler adds it)."""
        if not isinstance(address, str):
            return None
        try:
            address = normalize_address(address)
        except (TypeError, ValueError):
            return None
        self.peers[address] = peer
        return address

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.write()
        self._task = asyncio.ensure_future(self._every())

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.write()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.book.release()
        for address in list(self.book._workers):
            self.book.disconnect(address)
        self.write(closed=True)

    def write(self, *, closed: bool = False) -> None:
        """Write the totals; a failure is logged (once per cause) and never stops the scheduler."""
        try:
            write_atomically(self.directory, self.book.epoch, self.book.snapshot(closed=closed))
            self._error = ""
        except OSError as exc:
            if str(exc) != self._error:
                log.warning("witness totals not written to %s: %s", self.directory, exc)
            self._error = str(exc)

    def add_worker(self, scheduler: Any = None, worker: str = "") -> None:
        ws = self.scheduler.workers.get(worker) if self.scheduler else None
        peer = self.peers.pop(worker, None)
        if ws is not None:
            self.book.connect(worker, peer, ws.name, ws.nthreads)

    def remove_worker(self, scheduler: Any = None, worker: str = "") -> None:
        self.book.disconnect(worker)

    def transition(self, key: str, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish == "processing":
            ts = self.scheduler.tasks.get(key)
            ws = ts.processing_on if ts is not None else None
            if ws is not None:
                self.book.started(key, ws.address)
        elif start == "processing":
            if finish == "memory":
                self.book.finished(key, kwargs.get("worker"), kwargs.get("startstops"))
            else:
                self.book.dropped(key)


def dask_setup(scheduler: Any) -> None:
    """The preload's entry: add the plugin and note each registering worker's connection."""
    directory = os.environ.get("KALAVAI_WITNESS_DIR", "/data")
    try:
        interval = max(0.1, float(os.environ.get("KALAVAI_WITNESS_INTERVAL", "2")))
    except ValueError:
        interval = 2.0
    plugin = WitnessPlugin(directory, interval)
    try:
        plugin.book.hold_seconds = float(os.environ.get("KALAVAI_HOLD_SECONDS", "3600"))
    except ValueError:
        pass
    from kalavai_witness_calls import add_handlers

    add_handlers(scheduler, plugin)
    original = scheduler.handlers["register-worker"]

    # The first parameter must be named `comm`: distributed passes the comm to such handlers.
    async def register_worker(comm: Any, **msg: Any) -> Any:
        address = plugin.note_peer(msg.get("address"), comm.peer_address)
        try:
            return await original(comm, **msg)
        finally:
            if address is not None and plugin.peers.get(address) == comm.peer_address:
                del plugin.peers[address]  # never reached the plugin's add_worker

    scheduler.handlers["register-worker"] = register_worker
    scheduler.add_plugin(plugin)
    log.info("witness epoch %s, totals in %s", plugin.book.epoch, directory)
