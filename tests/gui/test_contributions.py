"""The contributions window shows what the real platform reports for the logged-in user."""

from __future__ import annotations

import base64
import csv
import io
import os
import time

import pytest

from kalavai_like.agent.records import NodeStatus
from kalavai_like.gui.contributions import ContributionsWindow
from kalavai_like.gui.series import UsageSeries
from kalavai_like.platform_client import PlatformClient
from tests.client.fixtures import unique_email
from tests.gui.states import worker

pytestmark = pytest.mark.timeout(120)


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _contributor(url: str) -> tuple[str, str]:
    """A user whose one device sent two heartbeats with real counters; (email, API token)."""
    email, password = unique_email("giver"), "contribute-123"
    with PlatformClient(url) as anon:
        anon.signup(email, password)
        token = anon.login(email, password)["token"]
    with PlatformClient(url, token) as me:
        pool = me.create_pool(f"gui-{email[6:14]}", "generic", {}, True)
        me.request("POST", f"/pools/{pool['id']}/hub",
                   json={"public_key": _key(), "endpoint": "127.0.0.1:51820"})  # fmt: skip
        join = me.create_token(pool["id"], 1, 600)["token"]
        red = me.request("POST", "/devices", json={
            "token": join, "public_key": _key(), "name": "box", "cores": 64,
            "memory_bytes": 2**30, "gpus": 0})  # fmt: skip
    time.sleep(1.5)  # the platform clamps to cores x elapsed: let some time pass to be credited
    with PlatformClient(url, red["credential"]) as dev:
        for seq, cpu in ((1, 40.0), (2, 80.0)):
            counters = {"cpu_seconds": cpu, "ram_gb_seconds": cpu / 2, "gpu_seconds": 0}
            body = {"seq": seq, "state": "running", "counters": counters}
            dev.request("POST", "/device/heartbeat", json=body)
    return email, token


def test_the_window_shows_the_platforms_totals_for_the_user(
    local_platform, tmp_path, make_ctx, qtbot, monkeypatch
):
    email, token = _contributor(local_platform.url)
    ctx = make_ctx(
        tmp_path / "home", f'keystore = "file"\n[platform]\nurl = "{local_platform.url}"\n'
    )
    from kalavai_like.state import ActiveAccount, save_account

    account = ActiveAccount(local_platform.url, email, "")
    ctx.home.keystore.set(account.key, token)
    save_account(ctx.home.paths.client_state_file, account)

    win = ContributionsWindow(ctx, UsageSeries())
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.credit is not None, timeout=20000)
    with PlatformClient(local_platform.url, token) as me:
        granted = me.request("GET", "/credit/me")["granted"]
        daily = me.request("GET", "/credit/me/daily", params={"days": 30})
        pools = me.request("GET", "/credit/me/pools")
    assert granted["cpu_core_hours"] > 0.01  # the heartbeats were credited
    for key in ("cpu_core_hours", "ram_gb_hours", "gpu_hours", "credit", "recent_average"):
        shown = float(win.totals[key].text().replace(",", ""))
        assert shown == pytest.approx(granted[key], rel=1e-3, abs=6e-4), key
    today = [r for r in daily if r["cpu_core_hours"] > 0]
    assert win.daily.rowCount() == len(daily)
    assert win.daily.item(0, 0).text() == today[-1]["day"]
    assert float(win.daily.item(0, 1).text()) == pytest.approx(
        today[-1]["cpu_core_hours"], abs=6e-4
    )
    assert win.per_pool.rowCount() == len(pools) == 1
    assert win.per_pool.item(0, 0).text() == pools[0]["pool"]["name"]

    out = tmp_path / "export.csv"
    monkeypatch.setattr(ContributionsWindow, "ask_path", classmethod(lambda cls, parent: out))
    win.on_export_clicked()
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["day"] for r in rows] == [r["day"] for r in daily]
    assert float(rows[-1]["cpu_core_hours"]) == pytest.approx(today[-1]["cpu_core_hours"])


def test_the_chart_follows_live_snapshots(tmp_path, make_ctx, qtbot):
    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n')
    series = UsageSeries()
    win = ContributionsWindow(ctx, series)
    qtbot.addWidget(win)
    win.show()
    now = time.time()
    for i, cpu in enumerate((0.0, 30.0, 60.0, 90.0)):  # 3 cores' worth over 10 s steps
        st = NodeStatus("running", "contributing", worker=worker(totals={
            "cpu_seconds": cpu, "ram_gb_seconds": cpu / 3, "gpu_seconds": 0.0}),
            at=now - 30 + 10 * i)  # fmt: skip
        series.add(st)
        win.on_status(st)
    line = win.lines["cpu"]
    assert [round(p.y(), 2) for p in line.points()] == [3.0, 3.0, 3.0]
    assert [round(p.y(), 2) for p in win.lines["ram"].points()] == [1.0, 1.0, 1.0]
    win.range.setCurrentText("week")
    assert win.lines["cpu"].count() == 0  # no platform rows in this window
