"""Credit pages: my contributions (totals, 30-day chart, per pool and per device, CSV) and
the leaderboard. Numbers come from the credit API's endpoint functions, unchanged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response

from kalavai_like.platform.api import credit as credit_api
from kalavai_like.platform.web import session
from kalavai_like.platform.web.render import SECURITY_HEADERS, PageRoute, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)
DAYS = 30
_FIELDS = ["cpu_core_hours", "ram_gb_hours", "gpu_hours", "credit", "recent_average"]


def calendar(days: int = DAYS) -> list[str]:
    """The last `days` UTC days, oldest first, as the daily endpoint counts them."""
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]


@router.get("/contributions")
def contributions(request: Request) -> Response:
    user = session.current(request)
    db, who = request.app.state.db, user.principal
    daily = credit_api.my_daily(who, db, DAYS)
    chart = {"days": calendar(), "rows": [r.model_dump() for r in daily]}
    return page(
        request,
        "contributions.html",
        user,
        title="My contributions",
        totals=credit_api.my_credit(who, db, request.app.state.settings),
        pools=credit_api.my_pools(who, db),
        devices=credit_api.my_devices(who, db),
        daily=daily,
        chart=chart,
    )


@router.get("/contributions.csv")
def contributions_csv(
    request: Request, what: Literal["daily", "pools", "devices"] = "daily"
) -> Response:
    """CSV export: one row per day (last 30), per pool or per device."""
    user = session.current(request)
    db, who = request.app.state.db, user.principal
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if what == "daily":
        writer.writerow(["day", *_FIELDS[:4]])
        for r in credit_api.my_daily(who, db, DAYS):
            writer.writerow([r.day, *(_cell(getattr(r, f)) for f in _FIELDS[:4])])
    elif what == "pools":
        writer.writerow(["pool_id", "pool", *_FIELDS])
        for p in credit_api.my_pools(who, db):
            name = _text(p.pool.name)
            writer.writerow([p.pool.id, name, *(_cell(getattr(p, f)) for f in _FIELDS)])
    else:
        writer.writerow(["device_id", "device", *_FIELDS])
        for d in credit_api.my_devices(who, db):
            name = _text(d.device.name)
            writer.writerow([d.device.id, name, *(_cell(getattr(d, f)) for f in _FIELDS)])
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="kalavai-like-{what}.csv"',
    }
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(value: float) -> str:
    return repr(float(value))


def _text(value: str) -> str:
    """Keep a spreadsheet from reading a name as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@router.get("/leaderboard")
def leaderboard(request: Request) -> Response:
    user = session.current(request)
    db, who, cfg = request.app.state.db, user.principal, request.app.state.settings
    return page(
        request,
        "leaderboard.html",
        user,
        title="Leaderboard",
        by_credit=credit_api.leaderboard(who, db, cfg, "credit", 50),
        by_recent=credit_api.leaderboard(who, db, cfg, "recent", 50),
        me=who.user_id,
    )
