"""What a pool's owner is told about its workers: one offline, or one whose claims run far
above what the pool's head witnessed. Shown on the owner's page and by `pool workers`, and
POSTed to the pool's webhook (a small JSON event, no secrets) by `Notifier`, a thread of its
own: never on a request's path, each POST with a timeout, each event sent once until it is over.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import select

from kalavai_like.platform import ledger
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Device, Pool, now
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.platform.views import iso

log = logging.getLogger(__name__)

Kind = Literal["worker_offline", "claims_above_witness"]
# The rule kalavai_like.client.credit.claims_far_above_witness shows in `pool workers`: the head
# witnessed under this share of the CPU the device measured, once it measured a core-hour.
FAR_BELOW = 0.5
FLAG_AFTER_CPU_SECONDS = 3600.0
# Each event and the device column that says it was sent.
SENT = {"worker_offline": "offline_notified_at", "claims_above_witness": "claims_notified_at"}


@dataclass(frozen=True)
class Notice:
    kind: Kind
    device_id: str
    device_name: str
    since: float | None
    message: str


def device_notices(d: Device, pool: Pool, t: float, cfg: PlatformSettings) -> list[Notice]:
    """The notices of one worker of `pool` at time `t` (none for a hub or a device gone)."""
    if d.role != "worker" or d.left_at is not None:
        return []
    found: list[Notice] = []
    seen = d.last_heartbeat_at or d.created_at
    if t - seen > cfg.offline_after:
        when = iso(seen)
        what = "no heartbeat since" if d.last_heartbeat_at else "never sent a heartbeat, joined"
        found.append(Notice("worker_offline", d.id, d.name, seen, f"offline: {what} {when}"))
    ratio = ledger.witnessed_fields(ledger.row(d))["ratio"]
    if (
        ledger.witness_kind(pool.template, pool.trusted) != "none"
        and ratio is not None
        and ratio < FAR_BELOW
        and d.measured_cpu >= FLAG_AFTER_CPU_SECONDS
    ):
        found.append(
            Notice(
                "claims_above_witness", d.id, d.name, None,
                f"claims far above its witness: the pool's head saw {ratio:.0%} of the CPU it "
                "measured; only what it saw is granted",
            )
        )  # fmt: skip
    return found


def pool_notices(s: Any, pool: Pool, t: float, cfg: PlatformSettings) -> list[Notice]:
    """The notices of every worker of `pool` still in it."""
    rows = s.scalars(
        select(Device)
        .where(Device.pool_id == pool.id, Device.role == "worker", Device.left_at.is_(None))
        .order_by(Device.created_at)
    )
    return [n for d in rows for n in device_notices(d, pool, t, cfg)]


def event(n: Notice, pool: Pool, t: float) -> dict[str, Any]:
    """The webhook's JSON body: what happened, to which device of which pool (no secrets)."""
    return {
        "event": n.kind,
        "at": iso(t),
        "pool": {"id": pool.id, "name": pool.name},
        "device": {"id": n.device_id, "name": n.device_name},
        "since": iso(n.since),
        "message": n.message,
    }


def scan(db: Database, cfg: PlatformSettings, t: float) -> list[tuple[str, dict[str, Any]]]:
    """Mark the new events of pools with a webhook as sent, and clear those that are over;
    returns (url, body) to POST. One short write transaction; nothing is sent inside it."""
    out: list[tuple[str, dict[str, Any]]] = []
    stmt = (
        select(Device, Pool)
        .join(Pool, Pool.id == Device.pool_id)
        .where(
            Pool.webhook_url.is_not(None),
            Pool.deleted_at.is_(None),
            Device.role == "worker",
            Device.left_at.is_(None),
        )
    )
    if not db.is_sqlite:  # two server processes never both send one event
        stmt = stmt.with_for_update(of=Device, skip_locked=True)
    with db.write() as s:
        for d, pool in s.execute(stmt).all():
            now_kinds = {n.kind: n for n in device_notices(d, pool, t, cfg)}
            for kind, column in SENT.items():
                n = now_kinds.get(kind)  # type: ignore[call-overload]
                if n is None and getattr(d, column) is not None:
                    setattr(d, column, None)  # over: the next time is told again
                elif n is not None and getattr(d, column) is None:
                    setattr(d, column, t)
                    out.append((str(pool.webhook_url), event(n, pool, t)))
    return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could lead to an address the check below refused


def _public(host: str) -> bool:
    """Whether every address `host` resolves to is a public one."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    return bool(addresses) and all(a.is_global for a in addresses)


def post(url: str, body: dict[str, Any], cfg: PlatformSettings) -> bool:
    """POST one event; False (logged) when refused or it failed. Never raises."""
    host = urlsplit(url).hostname or ""
    if not cfg.webhooks_to_private and not _public(host):
        log.warning("webhook %s not sent: %s is not a public address", body["event"], host)
        return False
    request = urllib.request.Request(  # noqa: S310 (the URL's scheme is checked: http(s))
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "kalavai-like-platform"},
        method="POST",
    )
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=cfg.webhook_timeout):
            return True
    except (OSError, ValueError) as exc:
        log.warning("webhook %s to %s failed: %s", body["event"], host, exc)
        return False


class Notifier:
    """Checks for new events every `notice_interval` seconds and POSTs them, on its own
    thread (started and stopped with the app)."""

    def __init__(self, db: Database, cfg: PlatformSettings) -> None:
        self._db, self._cfg = db, cfg
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One check; how many events were sent."""
        return sum(post(url, body, self._cfg) for url, body in scan(self._db, self._cfg, now()))

    def _loop(self) -> None:
        while not self._stop.wait(self._cfg.notice_interval):
            try:
                self.run_once()
            except Exception:  # the thread must outlive a database outage
                log.exception("owner notices: check failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notices", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a daemon: a POST still waiting never holds a stop


def hub_state(
    last_seen: float | None, left: bool, t: float, cfg: PlatformSettings
) -> tuple[str, str | None]:
    """A pool's hub as its owner's pages say it: "running", "stopped", "not seen yet" or
    "not seen since" and the time (ISO 8601); it reads its peer list every half minute."""
    if left:
        return "stopped", None
    if last_seen is None:
        return "not seen yet", None
    if t - last_seen <= cfg.offline_after:
        return "running", None
    return "not seen since", iso(last_seen)
