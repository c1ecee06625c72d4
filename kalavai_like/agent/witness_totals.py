"""What the pool head's witness plugin wrote, read safely, and turned into per-device totals.

The plugin (packaging/images/dask/files/.../kalavai_witness.py) writes one `<epoch>.json` per
scheduler epoch into the head's witness directory, a host directory the head container writes
as its own user. The agent runs as root, so each file is opened without following links,
bounded in size and checked field by field; anything malformed is skipped.

Workers are keyed there by the IPv4 host their connection came from (and their registered
name); the seed's peer list maps that overlay address to a device id.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 16 * 2**20
MAX_WORKERS = 65536
MAX_FILES = 256
_EPOCH = re.compile(r"^[0-9a-f]{32}$")
_FILE = re.compile(r"^([0-9a-f]{32})\.json$")
DeviceTotals = dict[str, Any]  # {tasks, compute_seconds, connected_seconds, threads, ...}
# Optional per-worker counts of results judged by the redundancy library (absent: 0).
RESULTS = ("valid", "invalid", "errors")


@dataclass(frozen=True)
class WorkerTotals:
    """One worker's witnessed totals in one epoch, as the plugin wrote them."""

    host: str
    name: str
    tasks: int
    compute_seconds: float
    connected_seconds: float
    threads: int
    valid: int = 0
    invalid: int = 0
    errors: int = 0
    invalid_compute_seconds: float = 0.0


@dataclass(frozen=True)
class EpochTotals:
    """One scheduler epoch's file: its counter grows with each write; `closed` after the
    scheduler's last write; `mtime` is when it was last written."""

    epoch: str
    counter: int
    closed: bool
    workers: tuple[WorkerTotals, ...]
    path: Path
    mtime: float


def is_hex_id(text: object) -> bool:
    """A 32-hex id (an epoch, a device id)."""
    return isinstance(text, str) and bool(_EPOCH.match(text))


def read_epochs(directory: Path) -> list[EpochTotals]:
    """Every well-formed epoch file in `directory` (none when it does not exist)."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found: list[EpochTotals] = []
    for name in names:
        m = _FILE.match(name)
        if m is None:
            continue
        if len(found) >= MAX_FILES:
            log.warning("witness: more than %d epoch files in %s", MAX_FILES, directory)
            break
        totals = read_epoch(directory / name, m.group(1))
        if totals is not None:
            found.append(totals)
    return found


def read_epoch(path: Path, epoch: str) -> EpochTotals | None:
    """The epoch file at `path`, or None when it is not a small regular file of the format."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return parse_epoch(data, path, st.st_mtime, epoch)


def parse_epoch(data: object, path: Path, mtime: float, epoch: str) -> EpochTotals | None:
    """The epoch totals in `data` (a parsed file), None unless it is of that epoch and format."""
    if not isinstance(data, dict) or data.get("format") != 1 or data.get("epoch") != epoch:
        return None
    counter, closed, workers = data.get("counter"), data.get("closed"), data.get("workers")
    if not _count(counter) or counter < 1 or not isinstance(closed, bool):
        return None
    if not isinstance(workers, list) or len(workers) > MAX_WORKERS:
        return None
    parsed = tuple(w for w in map(_worker, workers) if w is not None)
    return EpochTotals(epoch, counter, closed, parsed, path, mtime)


def _worker(w: object) -> WorkerTotals | None:
    if not isinstance(w, dict):
        return None
    host, name, tasks, threads = w.get("host"), w.get("name"), w.get("tasks"), w.get("threads")
    compute, connected = _seconds(w.get("compute_seconds")), _seconds(w.get("connected_seconds"))
    if not isinstance(host, str) or not isinstance(name, str) or len(name) > 64:
        return None
    if not _count(tasks) or not _count(threads) or threads < 1:
        return None
    if compute is None or connected is None:
        return None
    try:
        host = str(ipaddress.IPv4Address(host))
    except ValueError:
        return None
    valid, invalid, errors = (w.get(k, 0) for k in RESULTS)
    invalid_compute = _seconds(w.get("invalid_compute_seconds", 0.0))
    if not (_count(valid) and _count(invalid) and _count(errors)) or invalid_compute is None:
        return None
    return WorkerTotals(host, name, tasks, compute, connected, threads, valid, invalid, errors,
                        invalid_compute)  # fmt: skip


def _count(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**53


def _seconds(v: object) -> float | None:
    """`v` as seconds when it is a finite number in range, else None."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return None
    return float(v) if math.isfinite(v) and 0 <= v < 1e15 else None


def device_totals(
    workers: tuple[WorkerTotals, ...], devices: dict[str, str], before: dict[str, DeviceTotals]
) -> dict[str, DeviceTotals]:
    """Per device id, the totals of its workers (summed), never below what `before` had.

    `devices` maps overlay addresses to device ids. A worker whose address maps to no device
    is left out; so is one registered under another device's id (an address that changed
    hands within the epoch): the device it worked for keeps what `before` held for it.
    """
    out: dict[str, DeviceTotals] = {}
    for w in workers:
        device = devices.get(w.host)
        if device is None or (is_hex_id(w.name) and w.name != device):
            continue
        t = out.setdefault(device, {"tasks": 0, "compute_seconds": 0.0,
                                    "connected_seconds": 0.0, "threads": 1})  # fmt: skip
        for k in _SUMMED:
            t[k] = round(t.get(k, 0) + getattr(w, k), 6)
        t["threads"] = max(t["threads"], w.threads)
    for device, old in before.items():
        new = out.get(device)
        if new is None:
            out[device] = dict(old)
            continue
        for k in _SUMMED:
            new[k] = max(new.get(k, 0), old.get(k, 0))
    return out


_SUMMED = ("tasks", "compute_seconds", "connected_seconds", *RESULTS, "invalid_compute_seconds")
