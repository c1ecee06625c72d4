"""The seed's witness reporter: reads what the pool head's scheduler witnessed (per worker,
cumulative within a scheduler epoch; kalavai_like.agent.witness_totals), maps workers to device
ids through the seed's peer list and reports the totals to the platform with the hub's
credential (POST /api/v1/device/witness).

Exactly once and loss-free: reports are cumulative, so a replay changes nothing; each epoch's
sequence numbers grow (never below the plugin's own write counter, so they keep growing even
if this file is lost). The last report of every epoch not yet acknowledged is kept on disk
(0600, in the agent's state directory) before it is sent, so a platform outage or an agent
restart loses nothing; an epoch whose head is gone (its file closed or no longer written) is
sent to the end, then its file is removed. Errors back off and show as a condition; they never
stop the thread.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kalavai_like.agent.ports import PlatformPort
from kalavai_like.agent.state import SeedRole
from kalavai_like.agent.witness_totals import (
    RESULTS,
    DeviceTotals,
    EpochTotals,
    device_totals,
    read_epochs,
)
from kalavai_like.errors import Condition, InvalidInput, KalavaiError
from kalavai_like.home.files import read_json, write_json

log = logging.getLogger(__name__)

REPORT_DEVICES = 4096  # the platform's bound per report
MAX_EPOCHS = 256  # unacknowledged epochs kept; beyond, the oldest is dropped (logged)
STALE_SECONDS = 120.0  # an epoch file not written for this long: its scheduler is gone
_POOL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def head_dir(state_dir: Path, pool_id: str) -> Path:
    """The host directory the pool head's witness plugin writes into (mounted in the head).

    Raises:
        InvalidInput: the pool id cannot name a directory.
    """
    if not _POOL.match(pool_id):
        raise InvalidInput("Bad pool id", f"{pool_id!r} cannot name a directory.")
    return state_dir / "witness" / pool_id


def pending_path(state_dir: Path, pool_id: str) -> Path:
    """Where the reports of this pool not yet acknowledged are kept."""
    return head_dir(state_dir, pool_id).parent / f"{pool_id}.pending.json"


class PendingReports:
    """Per epoch: the last totals read, their sequence number and the last one acknowledged;
    and every address -> device id the peer list ever gave (a worker that left is still
    mapped). Persisted 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.epochs: dict[str, dict[str, Any]] = {}
        self.known: dict[str, str] = {}

    def load(self) -> PendingReports:
        """Read the kept reports; a damaged file is set aside in the log and starts afresh."""
        try:
            data = read_json(self.path, {}) or {}
        except KalavaiError as exc:
            log.warning("witness: %s: %s", exc.title, exc.message)
            data = {}
        epochs, known = data.get("epochs"), data.get("known")
        self.epochs = dict(epochs) if isinstance(epochs, dict) else {}
        self.known = dict(known) if isinstance(known, dict) else {}
        return self

    def save(self) -> None:
        """Replace the file (atomically, 0600).

        Raises:
            SystemProblem: it cannot be written (full disk, permissions).
        """
        write_json(self.path, {"version": 1, "epochs": self.epochs, "known": self.known},
                   secret=True)  # fmt: skip

    def unacked(self) -> list[str]:
        """Epochs whose last report is not acknowledged, oldest first."""
        todo = [e for e, x in self.epochs.items() if x["acked"] < x["seq"]]
        return sorted(todo, key=lambda e: self.epochs[e]["first_seen"])

    def update(self, t: EpochTotals, devices: dict[str, str], wall: float, finished: bool) -> bool:
        """Take a newer reading of epoch `t.epoch`; True when something changed (new totals, or
        the epoch ended)."""
        entry = self.epochs.get(t.epoch)
        if entry is not None and t.counter <= entry["counter"] and entry["finished"] >= finished:
            return False
        if entry is None:
            entry = self.epochs[t.epoch] = {"counter": 0, "seq": 0, "acked": 0, "devices": {},
                                            "finished": False, "first_seen": wall}  # fmt: skip
        totals = device_totals(t.workers, devices, entry["devices"])
        new = totals != entry["devices"]
        if new:  # a new report: its sequence number(s) above the last, never below the counter
            chunks = max(1, math.ceil(len(totals) / REPORT_DEVICES))
            entry["devices"] = totals
            entry["seq"] = max(entry["seq"] + chunks, t.counter)
        ended = finished and not entry["finished"]
        entry["counter"] = max(entry["counter"], t.counter)
        entry["finished"] = entry["finished"] or finished
        return new or ended

    def bound(self) -> None:
        """Keep at most MAX_EPOCHS epochs (the oldest go first)."""
        while len(self.epochs) > MAX_EPOCHS:
            oldest = min(self.epochs, key=lambda e: self.epochs[e]["first_seen"])
            log.warning("witness: dropping epoch %s (more than %d kept)", oldest, MAX_EPOCHS)
            del self.epochs[oldest]


def reports(epoch: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The report bodies for an epoch's last totals (more than one past REPORT_DEVICES)."""
    items = sorted(entry["devices"].items())
    chunks = [items[i : i + REPORT_DEVICES] for i in range(0, len(items), REPORT_DEVICES)]
    first = entry["seq"] - len(chunks) + 1
    return [
        {"epoch": epoch, "seq": first + i,
         "devices": [{"device_id": d, **_wire(t)} for d, t in chunk]}
        for i, chunk in enumerate(chunks)
    ]  # fmt: skip


def _wire(t: DeviceTotals) -> dict[str, Any]:
    out: dict[str, Any] = {"tasks": int(t["tasks"]), "compute_seconds": float(t["compute_seconds"]),
           "connected_seconds": float(t["connected_seconds"]),
           "threads": max(1, int(t["threads"]))}  # fmt: skip
    if any(t.get(k) for k in (*RESULTS, "invalid_compute_seconds")):  # the optional fields
        out["results"] = {k: int(t.get(k, 0)) for k in RESULTS}
        out["invalid_compute_seconds"] = float(t.get("invalid_compute_seconds", 0.0))
    return out


class WitnessReporter(threading.Thread):
    """Reads the head's witness files every `poll` s and reports every `interval` s (at once
    for an epoch that ended); `stop(final=True)` makes one last read and report first."""

    def __init__(
        self,
        seed: SeedRole,
        platform: PlatformPort,
        directory: Path,
        pending: PendingReports,
        devices: Callable[[], dict[str, str] | None],
        *,
        interval: float = 10.0,
        poll: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="witness-reporter", daemon=True)
        self.seed = seed
        self.pending = pending
        self.condition: Condition | None = None
        self._platform = platform
        self._dir = directory
        self._devices = devices
        self._interval, self._poll = interval, poll
        self._clock, self._wall = clock, wall
        self._stopping = threading.Event()
        self._final = False
        self._next_send = 0.0  # when the next report is due
        self._retry_at = 0.0  # no attempt before this after a failure
        self._backoff = 0.5
        self._done: dict[str, int] = {}  # epochs reported to the end: their last counter
        self._refused: set[str] = set()

    def stop(self, *, final: bool = False) -> None:
        self._final = self._final or final
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.round()
            self._stopping.wait(self._poll)
        if self._final:
            self.round(force=True)

    def round(self, *, force: bool = False) -> None:
        """Read the files, keep what is new, send what is due. Never raises."""
        try:
            files = read_epochs(self._dir)
            if self._collect(files):
                self._save()
            now = self._clock()
            urgent = any(self.pending.epochs[e]["finished"] for e in self.pending.unacked())
            if force or now >= self._next_send or (urgent and now >= self._retry_at):
                if self._send_all():
                    self._next_send = now + self._interval
                self._backoff, self.condition = 0.5, None
            self._clean(files)
        except KalavaiError as exc:
            self._failed(exc.title, exc.message)
        except Exception as exc:  # keep witnessing: one bad answer must not stop the reporter
            log.exception("witness reporter")
            self._failed("Witness reporter failed", str(exc)[:200])

    def _failed(self, title: str, message: str) -> None:
        self.condition = Condition(
            "witness_stale",
            "Witnessed work not reaching the platform",
            f"{title}: {message} The pool head's totals are kept on this machine and sent "
            "when this clears.",
        )
        log.warning("witness: %s: %s", title, message)
        self._retry_at = self._next_send = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, 60.0)

    def _collect(self, files: list[EpochTotals]) -> bool:
        devices = self._devices()
        if devices is None:  # no peer list yet: nothing can be mapped
            return False
        p = self.pending
        p.known.update(devices)
        changed = False
        wall = self._wall()
        for t in files:
            if self._done.get(t.epoch, 0) >= t.counter:
                continue
            finished = t.closed or wall - t.mtime > STALE_SECONDS
            changed = p.update(t, p.known, wall, finished) or changed
        p.bound()
        return changed

    def _send_all(self) -> int:
        """Send every epoch's last report not yet acknowledged; returns how many were sent."""
        sent = 0
        for epoch in self.pending.unacked():
            entry = self.pending.epochs[epoch]
            for body in reports(epoch, entry):
                answer = self._platform.witness(self.seed.platform, self.seed.credential, body)
                self._note_refused(answer)
                sent += 1
            entry["acked"] = entry["seq"]
            self._save()
        return sent

    def _note_refused(self, answer: object) -> None:
        refused = answer.get("refused") if isinstance(answer, dict) else None
        for r in refused if isinstance(refused, list) else []:
            device = str(r.get("device_id", ""))[:64] if isinstance(r, dict) else ""
            if device and device not in self._refused and len(self._refused) < 4096:
                self._refused.add(device)
                log.warning("witness: platform refused device %s: %s", device,
                            str(r.get("reason", ""))[:200])  # fmt: skip

    def _clean(self, files: list[EpochTotals]) -> None:
        """Forget epochs reported to the end; remove their files."""
        on_disk = {t.epoch: t for t in files}
        p, changed = self.pending, False
        for epoch, entry in list(p.epochs.items()):
            if entry["acked"] < entry["seq"] or not (entry["finished"] or epoch not in on_disk):
                continue
            t = on_disk.get(epoch)
            if t is not None:
                self._done[epoch] = t.counter
                try:
                    t.path.unlink()
                except OSError as exc:
                    log.warning("witness: %s not removed: %s", t.path, exc)
            del p.epochs[epoch]
            changed = True
        if changed:
            self._save()

    def _save(self) -> None:
        try:
            self.pending.save()
        except KalavaiError as exc:  # reports still go out; they are only not kept on disk
            log.warning("witness: %s: %s", exc.title, exc.message)
