"""My contributions: the chart plots exactly the platform's daily numbers, the tables and the
CSV export match the credit API, and the leaderboard shows names, never others' emails."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.platform_api import Api
from tests.support.web import heartbeat, nav, seed_history

pytestmark = pytest.mark.chromium
SERIES = ["cpu_core_hours", "ram_gb_hours", "gpu_hours", "credit"]


@pytest.fixture
def contributor(
    api: Api, logged_in: Callable[..., tuple[Any, Any]], platform_sql: Any
) -> tuple[Any, Any, dict[str, Any]]:
    user, page = logged_in()
    pool, joined = api.join_public(user, name="tower", cores=256, memory_bytes=2**36)
    counters = {"cpu_seconds": 20.0, "ram_gb_seconds": 40.0, "gpu_seconds": 0.0}
    seed_history(platform_sql, joined["device"], user.id, 29)
    # the operator trusts the pool: its witnessed credit is on the leaderboard
    platform_sql("UPDATE pools SET trusted = true WHERE id = :p", {"p": pool["id"]})
    heartbeat(api, joined["credential"], 1, "running", counters=counters)
    return user, page, pool


def test_chart_plots_the_platforms_daily_numbers(
    api: Api, contributor: tuple[Any, Any, dict[str, Any]]
) -> None:
    user, page, _pool = contributor
    daily = api.as_(user.credential).get("/api/v1/credit/me/daily?days=30").json()
    assert len(daily) >= 20  # the seeded days and today

    nav(page, "My contributions")
    page.wait_for_selector("#daily-chart[data-rendered=true] canvas")
    plotted = page.evaluate("window.klChart.data")
    labels = page.evaluate("window.klChart.series.map(s => s.label)")
    assert labels == ["Day", "CPU core-h", "RAM GiB-h", "GPU-h", "Credit"]
    assert len(plotted) == 5 and all(len(col) == 30 for col in plotted)

    by_day = {row["day"]: row for row in daily}
    days = page.evaluate("JSON.parse(document.getElementById('daily-data').textContent).days")
    assert sorted(by_day) == sorted(d for d in days if d in by_day)  # every API day is plotted
    for i, day in enumerate(days):
        row = by_day.get(day)
        for s, key in enumerate(SERIES, start=1):
            want = row[key] if row else 0
            assert plotted[s][i] == pytest.approx(want, rel=1e-12, abs=1e-12), (day, key)
    canvas = page.locator("#daily-chart canvas")
    assert canvas.bounding_box()["width"] > 600


def test_totals_tables_and_csv_match_the_api(
    api: Api, contributor: tuple[Any, Any, dict[str, Any]]
) -> None:
    user, page, pool = contributor
    me = api.as_(user.credential)
    nav(page, "My contributions")
    granted = me.get("/api/v1/credit/me").json()["granted"]
    assert page.locator(".stat").first.inner_text().split("\n")[1] == f"{granted['credit']:,.2f}"
    pool_row = page.get_by_role("row").filter(has_text=pool["name"])
    assert f"{granted['cpu_core_hours']:,.3f}" in pool_row.inner_text()

    daily = me.get("/api/v1/credit/me/daily?days=30").json()
    r = page.request.get("/contributions.csv?what=daily")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text())))
    assert [row["day"] for row in rows] == [d["day"] for d in daily]
    for got, want in zip(rows, daily, strict=True):
        for key in SERIES:
            assert float(got[key]) == pytest.approx(want[key], rel=1e-12, abs=1e-12)

    pools_csv = list(
        csv.DictReader(io.StringIO(page.request.get("/contributions.csv?what=pools").text()))
    )
    assert [p["pool"] for p in pools_csv] == [pool["name"]]
    assert float(pools_csv[0]["credit"]) == pytest.approx(granted["credit"])


def test_leaderboard_shows_display_names_not_emails(
    api: Api, contributor: tuple[Any, Any, dict[str, Any]]
) -> None:
    user, page, _pool = contributor
    nav(page, "Leaderboard")
    text = page.locator("main").inner_text()
    assert "@" not in text
    mine = page.locator("tr.me").first
    assert mine.is_visible() and "you" in mine.inner_text()
    ranked = api.as_(user.credential).get("/api/v1/credit/leaderboard?by=credit").json()
    first = page.locator("section").first.locator("tbody tr").first.inner_text()
    assert ranked[0]["user"]["display"] in first


def test_a_little_credit_does_not_read_as_zero(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    from kalavai_like.units import format_amount
    from tests.support.platform_api import credited_device

    user, page = logged_in()
    owner = api.user()
    pool = api.pool(owner, public=True, device_limits={"cores": 4096})
    hub = api.hub(owner, pool)["credential"]
    credited_device(api, user, owner, pool, 14.4, (hub, 14.4, 3))  # 0.004 core-h, witnessed
    granted = api.as_(user.credential).get("/api/v1/credit/me").json()["granted"]["credit"]
    assert 0.001 < granted < 0.01
    nav(page, "My contributions")
    stat = page.locator(".stat").filter(has_text="Credit granted").locator("strong")
    assert stat.inner_text() == format_amount(granted)  # "0.004", not "0.00"
    assert stat.inner_text().strip("0.") != ""
    assert page.locator(".stat").filter(has_text="RAM").locator("small").inner_text() == (
        "GiB-hours"
    )
