"""The project as witness, for a BOINC pool: the seed reads each volunteer host's credit from
the project's own web RPC (`show_user.php?format=xml&auth=<the pool's account key>`, BOINC's
html/inc/xml.inc show_host_xml), maps hosts to devices (a BOINC worker's container is named
after its device id, which the client reports as the host's domain_name), and writes the
totals in the witness file format (kalavai_like.agent.witness_totals) into the seed's witness
directory, where the witness reporter sends them like a Dask head's. A pool attached through
an account manager has no key of its own: the seed asks the manager's rpc.php, as a client
does, for the projects and account keys it lists, then reads each project so.

The wire contract does not change: BOINC credit is granted by the project after validation and
is cumulative per host, so one epoch per project (a stable id) carries it; `compute_seconds`
is the host's credit times the pool's `credit_seconds` (default 432: a cobblestone is 1/200 of
a day of a 1-GFLOPS core); `tasks` stays 0 (the project does not say).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import requests

from kalavai_like import pool_params
from kalavai_like.agent.witness_totals import is_hex_id
from kalavai_like.home.files import write_json

log = logging.getLogger(__name__)
COBBLESTONE_SECONDS = 432.0
# How often the account manager's project list is asked for again: it changes rarely (its
# clients ask once a day), while each project's credit is read at every poll.
MANAGER_REFRESH = 3600.0
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


def witnessed_accounts(params: Mapping[str, Any]) -> bool:
    """Whether a BOINC pool's parameters name an account the seed can read credit with: a
    project URL and its key, or an account manager."""
    if params.get("project_url") and params.get("weak_key"):
        return True
    return pool_params.account_manager_login(params) is not None


def manager_accounts(login: tuple[str, str, str]) -> list[tuple[str, str]]:
    """The projects an account manager lists for the pool's account, each with its account key:
    its rpc.php, asked as the client asks (client/acct_mgr.cpp), the reply's <account> entries.

    Raises:
        requests.RequestException, ET.ParseError, ValueError: no usable answer (or a refusal).
    """
    url, user, digest = login
    body = (
        f"<acct_mgr_request>\n<name>{escape(user)}</name>\n"
        f"<password_hash>{digest}</password_hash>\n<client_version>7.20.5</client_version>\n"
        "<run_mode>auto</run_mode>\n</acct_mgr_request>\n"
    )
    r = requests.post(f"{url}rpc.php", data=body.encode(), timeout=30,
                      headers={"Content-Type": "application/xml"})  # fmt: skip
    r.raise_for_status()
    if len(r.content) > MAX_REPLY:
        raise ValueError("reply too large")
    root = ET.fromstring(r.text)  # noqa: S314 (no DTDs; bounded by MAX_REPLY)
    if (root.findtext("error_num") or "0").strip() not in ("", "0"):
        raise ValueError(f"the account manager refused: {root.findtext('error_msg') or '?'}")
    found = [((a.findtext("url") or "").strip(), (a.findtext("authenticator") or "").strip())
             for a in root.iter("account")]  # fmt: skip
    return [(u, k) for u, k in found if u.startswith(("http://", "https://")) and k]


class BoincWitness(threading.Thread):
    """Reads the project (or each project of the pool's account manager) every `poll` s, and
    every `interval` s keeps its epoch files live for the witness reporter."""

    def __init__(
        self, pool_id: str, params: dict[str, Any], directory: Path,
        devices: Callable[[], dict[str, str] | None], *, interval: float = 60.0,
        poll: float = 300.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        super().__init__(name="boinc-witness", daemon=True)
        self._pool_id, self._dir = pool_id, directory
        key = params.get("weak_key")
        self._project = (str(params["project_url"]), str(key)) if key else None
        self._manager = pool_params.account_manager_login(params)
        self._listed: tuple[float, list[tuple[str, str]]] | None = None  # (when, accounts)
        self._seconds = float(params.get("credit_seconds") or COBBLESTONE_SECONDS)
        self._devices, self._interval, self._poll, self._clock = devices, interval, poll, clock
        self._next_read = 0.0
        self._written: set[Path] = set()
        self._stopping = threading.Event()
        self.error = ""

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.round()
            self._stopping.wait(self._interval)

    def round(self) -> None:
        """Read the project if its time has come, else refresh the files' times; errors are
        kept in `error` (never raised: the thread keeps going)."""
        now = self._clock()
        if now < self._next_read:
            try:  # the credit is unchanged, and the epoch still live (witness.STALE_SECONDS)
                for path in self._written:
                    os.utime(path)
            except OSError:
                self._next_read = 0.0  # a file went: write it again next round
            return
        try:
            if self._read_projects():
                self._next_read = now + self._poll
            self.error = ""
        except (requests.RequestException, ET.ParseError, OSError, ValueError) as exc:
            self.error = f"{type(exc).__name__}"  # never the URL: it carries the key
            log.warning("BOINC project credit not read: %s", self.error)
            self._next_read = now + min(self._poll, 60.0)

    def _accounts(self) -> list[tuple[str, str]]:
        if self._project is not None:
            return [self._project]
        if self._manager is None:
            return []
        now = self._clock()
        if self._listed is None or now - self._listed[0] >= MANAGER_REFRESH:
            self._listed = (now, manager_accounts(self._manager))
        return self._listed[1]

    def _read_projects(self) -> bool:
        """One read of every project; False while the peer list is not known yet."""
        peers = self._devices()
        if peers is None:
            return False
        addresses = {d: a for a, d in peers.items()}
        for url, key in self._accounts():
            r = requests.get(f"{url.rstrip('/')}/show_user.php",
                             params={"format": "xml", "auth": key}, timeout=30)  # fmt: skip
            r.raise_for_status()
            if len(r.content) > MAX_REPLY:
                raise ValueError("reply too large")
            epoch = epoch_of(self._pool_id, url)
            path = self._dir / f"{epoch}.json"
            old = _read(path)
            data = witness_file(epoch, int(old.get("counter", 0)) + 1, host_credits(r.text),
                                addresses, self._seconds)  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_json(path, data)
            self._written.add(path)
        return True


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
