"""Heartbeats into the credit ledger: dedupe, deltas, claims, grants, per-day rows, averages.

`apply` is the arithmetic of one accepted heartbeat (kalavai_like.platform.ledger's) and
`reply` its answer; both paths share them. Requests are served by the lean path
(`heartbeat_route` + `heartbeat_store`); `record` is the FastAPI route's path: one short write
transaction of three prepared Core statements (lock and read the device with its pool's weights
and template and its user's suspension, update the device's ledger, upsert its row for the UTC
day). Users' and pools' totals are sums over their devices, so concurrent heartbeats of
different devices never contend for one row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kalavai_like.platform import credentials, credit, ledger, reliability
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import Device, Pool, UsageDay, User, now
from kalavai_like.platform.problems import unauthorized
from kalavai_like.platform.schemas import HeartbeatIn

_D = Device.__table__.c
_P = Pool.__table__.c
_U = User.__table__.c
_DAY = UsageDay.__table__
UNKNOWN_DEVICE = "This device credential is unknown or the device left its pool."
REMOVED = "removed"  # the desired state of a device its pool's owner removed
ADDED = (
    "cpu",
    "ram",
    "gpu",
    "credit",
    "clamped_cpu",
    "clamped_ram",
    "clamped_gpu",
    "unverified_cpu",
    "unverified_ram",
    "unverified_gpu",
    "unverified_credit",
)
# The device's credit ledger as a heartbeat writes it (kalavai_like.platform.ledger).
LEDGER = (
    "last_seq",
    *(
        f"{kind}_{r}"
        for kind in ("base", "measured", "session", "claimed", "granted", "unverified", "mark")
        for r in ledger.RESOURCES
    ),
    "base_at",
    "sample_origin",
    "session_span",
    "mark_due",
    "claim_due",
    "credit",
    "measured_credit",
    "recent_avg",
    "recent_avg_time",
    "std_recent_avg",
)
# What it reads besides: the session's start, the witness, the hardware; and of its pool and
# user, the weights (`w_*`), the template and `suspended_at`.
READ = (
    "session_at",
    "witnessed_tasks",
    "witnessed_cpu",
    "witnessed_connected",
    "witness_rev",
    *reliability.COLUMNS,
    "cores",
    "memory_bytes",
    "gpus",
    "created_at",
)
UPDATED = (*LEDGER, "last_heartbeat_at", "state", "reason")


def device_select() -> Any:
    """The device rows with their pool's weights and template and their user's suspension."""
    return (
        select(
            *Device.__table__.c,
            _P.weight_cpu.label("w_cpu"),
            _P.weight_ram.label("w_ram"),
            _P.weight_gpu.label("w_gpu"),
            _P.template.label("template"),
            _U.suspended_at.label("suspended_at"),
        )
        .join_from(Device.__table__, Pool.__table__, _P.id == _D.pool_id)
        .join(User.__table__, _U.id == _D.user_id)
        .with_for_update(of=Device.__table__)  # serialises one device's ledger (PostgreSQL)
    )


# Built once: with bound parameters SQLAlchemy compiles each statement only once.
# A device its pool's owner removed keeps its credential: its heartbeats learn it was removed.
_SELECT = device_select().where(
    _D.credential_hash == bindparam("digest"),
    or_(_D.left_at.is_(None), _D.desired_state == REMOVED),
)
_UPDATE = (
    update(Device).where(_D.id == bindparam("device_id")).values({k: bindparam(k) for k in UPDATED})
)


def _upsert(dialect: Any) -> Any:
    stmt = dialect.insert(_DAY)
    return stmt.on_conflict_do_update(
        index_elements=["device_id", "day"],
        set_={k: _DAY.c[k] + stmt.excluded[k] for k in ADDED},
    )


UPSERT = {"sqlite": _upsert(sqlite), "postgresql": _upsert(postgresql)}


_today: tuple[float, float, str] = (0.0, 0.0, "")  # [start, end) of the last day seen, its name


def day_of(ts: float) -> str:
    """The UTC day of `ts` as YYYY-MM-DD (remembered: heartbeats mostly land on one day)."""
    global _today
    start, end, name = _today
    if start <= ts < end:
        return name
    name = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
    start = datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    _today = (start, start + 86400.0 - 1e-3, name)  # near midnight: computed, not cached
    return name


@dataclass(frozen=True)
class Outcome:
    """One heartbeat against the device row as read (`d`, with its pool's weights) at `t`:
    a replay, counted already, or the device's new `values` and the `usage` for its day row."""

    d: Mapping[Any, Any]
    t: float
    replay: bool
    values: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None

    @property
    def after(self) -> dict[Any, Any]:
        """The device row once the outcome is written."""
        return {**self.d, **self.values}


def attempt(d: Mapping[Any, Any] | None, hb: HeartbeatIn, rules: ledger.Rules) -> Outcome:
    """The outcome of `hb` for the device row `d` read for its credential, now.

    Raises:
        Problem: 401 if no device was read (unknown credential, or the device left).
    """
    if d is None:
        raise unauthorized(UNKNOWN_DEVICE)
    t = now()
    if hb.seq <= d["last_seq"]:  # a replay or an out-of-order old heartbeat: counted already
        return Outcome(d, t, replay=True)
    if d["desired_state"] == REMOVED:  # nothing counts any more; the reply tells it to leave
        return Outcome(d, t, replay=True)
    values, usage = apply(d, hb, t, rules)
    return Outcome(d, t, replay=False, values=values, usage=usage)


def record(db: Database, rules: ledger.Rules, credential: str, hb: HeartbeatIn) -> bytes:
    """Apply one heartbeat from the device holding `credential`; the JSON reply (HeartbeatOut).

    Raises:
        Problem: 401 if the credential is unknown or the device left.
    """
    digest = credentials.digest(credential)
    with db.write_connection() as conn:
        d = conn.execute(_SELECT, {"digest": digest}).mappings().first()
        o = attempt(d, hb, rules)
        if not o.replay:
            conn.execute(_UPDATE, {"device_id": o.d["id"], **o.values})
            if o.usage is not None:
                conn.execute(UPSERT[db.dialect], o.usage)
        return reply(o.after, hb.seq, duplicate=o.replay, t=o.t)


def apply(
    d: Mapping[Any, Any], hb: HeartbeatIn, t: float, rules: ledger.Rules
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The arithmetic of one accepted heartbeat (seq above the device's last), at time `t`.

    `d` is the device row with its pool's weights, template and its user's suspension
    (`device_select`). Returns the device's new column values, and what to add to its row for
    the UTC day (None when nothing changed there).
    """
    claims = ledger.claim(d, hb.counters, t, rules)
    settled = ledger.settle(d, {**d, **claims}, t, rules)
    new_claims = ledger.minus(ledger.of(claims, "claimed"), ledger.of(d, "claimed"))
    deltas = ledger.minus(ledger.of(claims, "measured"), ledger.of(d, "measured"))
    values = {
        **claims,
        **settled.values,
        "last_seq": hb.seq,
        "base_at": t,
        "last_heartbeat_at": t,
        "state": hb.state,
        "reason": hb.reason,
        # everything claimed turns unverified a window after the last new claim
        "claim_due": t + rules.window if any(new_claims) else d["claim_due"],
    }
    day = {**settled.day, **ledger.named("clamped", ledger.minus(deltas, new_claims))}
    if not any(day.values()):
        return values, None
    return values, {
        "device_id": d["id"],
        "day": day_of(t),
        "user_id": d["user_id"],
        "pool_id": d["pool_id"],
        **day,
    }


def reply(d: Any, seq: int, *, duplicate: bool, t: float) -> bytes:
    """The heartbeat's answer as JSON (HeartbeatOut): the device's cumulative split after it
    (`d` as written). Plain JSON, since this runs on every heartbeat."""
    now_split = ledger.split(d, credit.Weights(d["w_cpu"], d["w_ram"], d["w_gpu"]), t)
    body = {
        "seq": seq,
        "duplicate": duplicate,
        "desired_state": d["desired_state"],
        "granted": now_split.hours("granted"),
        "clamped": now_split.hours("clamped"),
        "pending": now_split.hours("pending"),
        "unverified": now_split.hours("unverified"),
        "witnessed": ledger.witnessed_fields(d),
    }
    return json.dumps(body, separators=(",", ":")).encode()
