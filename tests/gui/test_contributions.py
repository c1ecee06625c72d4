"""The contributions window shows what the real platform reports for the logged-in user."""

from __future__ import annotations

import base64
import csv
import io
import os
import time

import pytest
from PySide6.QtWidgets import QGroupBox

from kalavai_like.client.platform import PlatformClient
from kalavai_like.client.records import NodeStatus
from kalavai_like.gui.contributions import ContributionsWindow
from kalavai_like.gui.series import UsageSeries
from tests.support.cli import unique_email
from tests.support.tray_states import worker

pytestmark = pytest.mark.timeout(120)


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _contributor(url: str) -> tuple[str, str]:
    """A user whose one device sent two heartbeats with real counters, witnessed by the pool's
    head; (email, API token)."""
    email, password = unique_email("giver"), "contribute-123"
    with PlatformClient(url) as anon:
        anon.signup(email, password)
        token = anon.login(email, password)["token"]
    with PlatformClient(url, token) as me:
        pool = me.create_pool(f"gui-{email[6:14]}", "dask", {}, True)
        hub = me.request("POST", f"/pools/{pool['id']}/hub",
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
    with PlatformClient(url, hub["credential"]) as head:  # credit needs the head's witness
        seen = {"device_id": red["device"]["id"], "tasks": 8, "compute_seconds": 80.0,
                "connected_seconds": 1.5, "threads": 64}  # fmt: skip
        head.request("POST", "/device/witness", json={"epoch": "e" * 32, "seq": 1,
                                                      "devices": [seen]})  # fmt: skip
    return email, token


def test_the_window_shows_the_platforms_totals_for_the_user(
    local_platform, tmp_path, make_ctx, qtbot, monkeypatch
):
    email, token = _contributor(local_platform.url)
    ctx = make_ctx(
        tmp_path / "home", f'keystore = "file"\n[platform]\nurl = "{local_platform.url}"\n'
    )
    from kalavai_like.home.instance import ActiveAccount, save_account

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


def test_the_window_and_today_say_what_is_pending_unverified_and_who_witnessed(
    local_platform, tmp_path, make_ctx, qtbot
):
    from kalavai_like.gui.contributions import _num
    from kalavai_like.gui.menu import Snapshot, today_words
    from kalavai_like.gui.menu import _number as menu_number
    from kalavai_like.home.instance import ActiveAccount, save_account
    from tests.support.platform_api import Api, credited_device
    from tests.support.tray_states import status

    api = Api(local_platform.url)
    me, owner = api.user(), api.user()
    wide = {"cores": 4096}  # claims need not wait for the clock
    dask = api.pool(owner, public=True, device_limits=wide)  # not trusted: its owner witnesses
    generic = api.pool(owner, template="generic", public=True, device_limits=wide)
    hub = api.hub(owner, dask)["credential"]
    credited_device(api, me, owner, dask, 10.8, (hub, 3.6, 20))
    credited_device(api, me, owner, generic, 3.6)  # no witness: unverified
    ctx = make_ctx(
        tmp_path / "home", f'keystore = "file"\n[platform]\nurl = "{local_platform.url}"\n'
    )
    account = ActiveAccount(local_platform.url, me.email, "")
    ctx.home.keystore.set(account.key, me.credential)
    save_account(ctx.home.paths.client_state_file, account)

    win = ContributionsWindow(ctx, UsageSeries())
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.credit is not None, timeout=20000)
    truth = me.get("/api/v1/credit/me").json()
    assert truth["pending"]["credit"] > 0 and truth["unverified"]["credit"] > 0
    for part in ("pending", "unverified"):
        assert win.parts[part].text() == _num(truth[part]["credit"]), part
    assert win.totals["credit"].text() == _num(truth["granted"]["credit"])
    assert "witnessed by the pool's head" in win.findChild(QGroupBox).title()
    standing = win.standing.text()
    assert f"On the leaderboard: {_num(0)} credit" in standing
    assert f"{_num(3.6 * 1.05 / 3600)} credit granted was witnessed by the pool's owner" in standing
    witness = {win.per_pool.item(r, 0).text(): win.per_pool.item(r, 7).text()
               for r in range(win.per_pool.rowCount())}  # fmt: skip
    assert witness == {dask["name"]: "witnessed by the pool's owner",
                       generic["name"]: "no witness: credit unverified"}  # fmt: skip

    today = ctx.fetch_today()
    line = today_words(Snapshot(status("running", "contributing"), time.time(), today=today))
    pending, unverified, granted = (
        menu_number(truth[p]["credit"]) for p in ("pending", "unverified", "granted")
    )
    assert line.endswith(f"{granted} credit granted (pending {pending}, unverified {unverified})")


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
    qtbot.waitUntil(lambda: "hour" in win.history_error)  # no agent behind this home
    line = win.lines["cpu"]
    assert [round(p.y(), 2) for p in line.points()] == [3.0, 3.0, 3.0]
    assert [round(p.y(), 2) for p in win.lines["ram"].points()] == [1.0, 1.0, 1.0]
    win.range.setCurrentText("week")
    assert win.lines["cpu"].count() == 0  # no platform rows in this window


@pytest.fixture
def agent_with_history(tmp_path):
    """A real LocalAPI on a real socket in front of a Node whose real ledger file holds the
    last 50 minutes: 1 core (the fake runtime's use) with a 10-minute pause in the middle and,
    later, 5 minutes when the agent was down."""
    import shutil
    import tempfile
    from pathlib import Path

    from kalavai_like.agent.localapi import LocalAPIServer
    from tests.support.agent_fakes import World

    world = World(tmp_path / "agent")
    world.clock.t = time.time() - 3000
    node = world.node()
    run = Path(tempfile.mkdtemp(prefix="kt6-gui-history-"))
    server = LocalAPIServer(run / "agent.sock", node).start()
    try:
        world.join(node)
        for i in range(300):  # a sample and heartbeat every 10 s
            if i == 120:
                node.pause()
            if i == 180:
                node.resume()
            world.clock.t += 10
            if 240 <= i < 270:
                continue  # the agent is down: nothing sampled
            node.wakeup.set()
            node.tick()
        yield run / "agent.sock"
    finally:
        server.close()
        node.close()
        shutil.rmtree(run, ignore_errors=True)


def test_the_hour_chart_starts_from_the_agents_history(
    agent_with_history, tmp_path, make_ctx, qtbot
):
    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n', socket=agent_with_history)
    answers: list[tuple[float, float, list]] = []
    real = ctx.node.usage_history

    def recorded(since: float, step: float) -> list:
        got = real(since, step)
        answers.append((since, step, got))
        return got

    ctx.node.usage_history = recorded
    win = ContributionsWindow(ctx, UsageSeries())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "hour" in win.history, timeout=20000)
    (since, step, got) = answers[-1]
    assert step == 60 and since == pytest.approx(time.time() - 3600, abs=60)
    # The agent's outage breaks the line in two instead of drawing across it.
    (after,) = win.gap_lines["cpu"]
    before = win.lines["cpu"]
    assert after.points()[0].x() - before.points()[-1].x() >= 5 * 60 * 1000
    assert after.color() == before.color()
    assert [m.isVisible() for m in win.chart.legend().markers(after)] == [False]
    shown = [(p.x() / 1000, p.y()) for p in [*before.points(), *after.points()]]
    # The chart keeps times in milliseconds, so compare them to the millisecond.
    assert [t for t, _ in shown] == pytest.approx([p.time for p in got], abs=1e-3)
    assert [y for _, y in shown] == [p.cpu_cores for p in got]
    ram = [*win.lines["ram"].points(), *win.gap_lines["ram"][0].points()]
    assert [p.y() for p in ram] == [p.memory_gb for p in got]
    assert len(got) >= 40  # 50 minutes of ledger, not just since the window opened
    assert max(p.cpu_cores for p in got) == pytest.approx(1.0, abs=0.05)
    assert sum(1 for p in got if p.cpu_cores == 0) >= 8  # the paused 10 minutes read zero
    assert "average per minute" in win.chart_note.text()

    # a live snapshot after the history is appended to it
    last = got[-1].time
    series = win.series
    for i, cpu in enumerate((0.0, 20.0)):
        st = NodeStatus("running", "contributing", worker=worker(totals={
            "cpu_seconds": cpu, "ram_gb_seconds": 0.0, "gpu_seconds": 0.0}),
            at=last + 5 + 10 * i)  # fmt: skip
        series.add(st)
        win.on_status(st)
    assert [(p.x() / 1000, p.y()) for p in after.points()][-1] == (last + 15, 2.0)

    win.range.setCurrentText("day")
    qtbot.waitUntil(lambda: "day" in win.history, timeout=20000)
    assert answers[-1][1] == 900
    day = [(p.x() / 1000, p.y()) for p in win.lines["cpu"].points()]
    assert day[: len(answers[-1][2])] == [(p.time, p.cpu_cores) for p in answers[-1][2]]


def test_a_dead_agent_leaves_the_chart_empty_with_a_note(tmp_path, make_ctx, qtbot):
    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n', socket=tmp_path / "none.sock")
    win = ContributionsWindow(ctx, UsageSeries())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "hour" in win.history_error, timeout=20000)
    assert all(line.count() == 0 for line in win.lines.values())
    assert "agent is not running" in win.chart_note.text()


def test_one_unit_for_ram_and_no_little_amount_reads_as_zero(tmp_path, make_ctx, qtbot):
    from kalavai_like.gui.contributions import _num
    from kalavai_like.gui.join import JoinDialog
    from kalavai_like.gui.menu import _number as menu_number
    from tests.support.tray_states import HW

    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n')
    win = ContributionsWindow(ctx, UsageSeries())
    qtbot.addWidget(win)
    names = [s.name() for s in win.chart.series()]
    assert "RAM (GiB)" in names  # the chart
    header = win.daily.horizontalHeaderItem(2).text()
    assert header == "RAM GiB-h"  # the window's tables
    join = JoinDialog(ctx, HW)
    qtbot.addWidget(join)
    assert join.memory.suffix() == " GiB"  # the join dialog
    assert _num(0.003) == menu_number(0.003) == "0.003"  # the window and the menu's Today
