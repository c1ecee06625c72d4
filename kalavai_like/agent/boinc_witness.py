"""The project as witness, for a BOINC pool: the seed reads each volunteer host's credit from
the project's own web RPC (`show_user.php?format=xml&auth=<the pool's account key>`, BOINC's
html/inc/xml.inc show_host_xml), maps hosts to devices (a BOINC worker's container is named
after its device id, which the client reports as the host's domain_name), and writes the
totals in the witness file format (kalavai_like.agent.witness_totals) into the seed's witness
directory, where the witness reporter sends them like a Dask head's.

The wire contract does not change: BOINC credit is granted by the project after validation and
is cumulative per host, so one epoch per project (a stable id) carries it; `compute_seconds`
is the host's credit times the pool's `credit_seconds` (default 432: a cobblestone is 1/200 of
a day of a 1-GFLOPS core); `tasks` stays 0 (the project does not say).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from kalavai_like.agent.witness_totals import is_hex_id
from kalavai_like.home.files import write_json

log = logging.getLogger(__name__)
COBBLESTONE_SECONDS = 432.0
MAX_REPLY = 16 * 2**20


def epoch_of(pool_id: str, project_url: str) -> str:
    """One stable epoch per pool and project (32 hex)."""
    return hashlib.sha256(f"{pool_id} {project_url}".encode()).hexdigest()[:32]


def host_credits(xml_text: str) -> dict[str, float]:
    """Device id -> the project's total credit for its host, from show_user.php's XML (hosts
    whose domain_name is not a device id are not ours)."""
    root = ET.fromstring(xml_text)  # noqa: S314 (no DTDs; bounded by MAX_REPLY)
    out: dict[str, float] = {}
    for h in root.iter("host"):
        name = (h.findtext("domain_name") or "").strip()
        try:
            credit = float(h.findtext("total_credit") or 0)
        except ValueError:
            continue
        if is_hex_id(name) and credit >= 0:
            out[name] = max(out.get(name, 0.0), credit)
    return out


def witness_file(
    epoch: str, counter: int, credits: dict[str, float], addresses: dict[str, str],
    credit_seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """The witness file (format 1) for `credits`; `addresses` maps device id -> overlay IPv4."""
    workers = [
        # threads: the project does not say; the platform bounds them by the declared cores
        {"host": addresses[d], "name": d, "tasks": 0, "threads": 64,
         "compute_seconds": round(c * credit_seconds, 6),
         "connected_seconds": round(c * credit_seconds, 6)}
        for d, c in sorted(credits.items()) if d in addresses
    ]  # fmt: skip
    return {"format": 1, "epoch": epoch, "counter": counter, "closed": False, "workers": workers}


class BoincWitness(threading.Thread):
    """Polls the project every `interval` s and rewrites the epoch file."""

    def __init__(
        self, pool_id: str, params: dict[str, Any], directory: Path,
        devices: Callable[[], dict[str, str] | None], *, interval: float = 60.0,
    ) -> None:  # fmt: skip
        super().__init__(name="boinc-witness", daemon=True)
        self.url = str(params["project_url"])
        self._key = str(params["weak_key"])
        self._seconds = float(params.get("credit_seconds") or COBBLESTONE_SECONDS)
        self.epoch = epoch_of(pool_id, self.url)
        self._path = directory / f"{self.epoch}.json"
        self._devices, self._interval = devices, interval
        self._stopping = threading.Event()
        self.error = ""

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.round()
            self._stopping.wait(self._interval)

    def round(self) -> None:
        """One poll; errors are kept in `error` (never raised: the thread keeps going)."""
        try:
            self._round()
            self.error = ""
        except (requests.RequestException, ET.ParseError, OSError, ValueError) as exc:
            self.error = f"{type(exc).__name__}"  # never the URL: it carries the key
            log.warning("BOINC project credit not read: %s", self.error)

    def _round(self) -> None:
        peers = self._devices()
        if peers is None:
            return  # the peer list is not known yet
        r = requests.get(f"{self.url.rstrip('/')}/show_user.php",
                         params={"format": "xml", "auth": self._key}, timeout=30)  # fmt: skip
        r.raise_for_status()
        if len(r.content) > MAX_REPLY:
            raise ValueError("reply too large")
        credits = host_credits(r.text)
        addresses = {d: a for a, d in peers.items()}
        old = _read(self._path)
        data = witness_file(self.epoch, int(old.get("counter", 0)) + 1, credits, addresses,
                            self._seconds)  # fmt: skip
        # written at each poll, so the reporter sees a live epoch (not a head that is gone)
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_json(self._path, data)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
