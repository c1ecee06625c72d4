"""A volunteer's first start of the tray: sign up from the tray (no web page needed), the
platform typed is remembered (after a cancel, and after a restart), a log-in says who is logged
in where, and a fresh start is a guided first run: start the agent, log in or sign up, pick a
pool and join."""

from __future__ import annotations

import pytest

from kalavai_like.gui.login import LoginDialog
from kalavai_like.gui.menu import Snapshot, menu_model
from kalavai_like.gui.welcome import first_run_steps
from tests.support.cli import unique_email
from tests.support.tray_states import snapshots

pytestmark = pytest.mark.timeout(120)
FILE_KEYSTORE = 'keystore = "file"\n'


def test_logged_out_menu_offers_sign_up_beside_log_in() -> None:
    keys = [i.key for i in menu_model(snapshots()["logged-out"])]
    assert keys.index("signup") == keys.index("login") + 1
    assert "signup" not in [i.key for i in menu_model(snapshots()["idle"])]  # logged in


def test_sign_up_from_the_tray_creates_the_account_and_logs_in(
    local_platform, tmp_path, make_ctx, qtbot
):
    ctx = make_ctx(tmp_path / "home", FILE_KEYSTORE)
    dlg = LoginDialog(ctx, signup=True)
    qtbot.addWidget(dlg)
    assert dlg.windowTitle() == "Create a kalavai-like account" and dlg.ok.text() == "Sign up"
    dlg.platform.setText(local_platform.url)
    email = unique_email("tray-signup")
    qtbot.keyClicks(dlg.email, email)
    qtbot.keyClicks(dlg.password, "correct-horse-1")
    qtbot.keyClicks(dlg.confirm, "correct-horse-2")
    dlg.ok.click()
    assert dlg.error.text() == "The two passwords differ: type the same one twice."
    dlg.confirm.clear()
    qtbot.keyClicks(dlg.confirm, "correct-horse-1")
    with qtbot.waitSignal(dlg.logged_in, timeout=20000) as got:
        dlg.ok.click()
    assert got.args == [email]
    assert ctx.home.account is not None and ctx.home.account.email == email
    assert ctx.home.token().startswith("klu_")


def test_the_dialog_switches_between_log_in_and_sign_up(tmp_path, make_ctx, qtbot):
    dlg = LoginDialog(make_ctx(tmp_path / "home", FILE_KEYSTORE))
    qtbot.addWidget(dlg)
    dlg.show()
    assert not dlg.confirm.isVisible() and dlg.ok.text() == "Log in"
    dlg.switch.click()
    assert dlg.confirm.isVisible() and dlg.ok.text() == "Sign up"
    assert "8 characters" in dlg.hint.text()


def test_the_platform_typed_is_remembered_after_cancel_and_restart(tmp_path, make_ctx, qtbot):
    home = tmp_path / "home"
    ctx = make_ctx(home, FILE_KEYSTORE)
    dlg = LoginDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.platform.setText("https://pools.example.org/")
    qtbot.keyClicks(dlg.email, "vol@example.org")
    qtbot.keyClicks(dlg.password, "secret-123")
    dlg.reject()  # cancelled
    again = LoginDialog(ctx)
    qtbot.addWidget(again)
    assert again.platform.text() == "https://pools.example.org/"
    assert again.email.text() == "vol@example.org" and again.password.text() == ""
    restarted = make_ctx(home)  # the tray starts again: the platform was persisted
    fresh = LoginDialog(restarted)
    qtbot.addWidget(fresh)
    assert fresh.platform.text() == "https://pools.example.org"


def test_a_fresh_start_is_a_guided_first_run(tmp_path, make_ctx, tray_for, qtbot, monkeypatch):
    from kalavai_like.gui.join import JoinDialog

    ctx = make_ctx(tmp_path / "home", FILE_KEYSTORE + '\n[platform]\nurl = "https://p.example"\n')
    tray = tray_for(ctx)
    tray.start()
    assert tray.welcome is not None and tray.welcome.isVisible()
    qtbot.waitUntil(lambda: tray.snapshot.agent_problem != "", timeout=10000)
    welcome = tray.welcome
    assert welcome.buttons["start_agent"].isEnabled()  # not started yet: offered, not an error
    assert welcome.buttons["login"].isEnabled() and welcome.buttons["signup"].isEnabled()
    assert not welcome.buttons["join"].isEnabled()

    def login(cls, ctx, parent=None, *, signup=False):
        assert signup
        return "new@example.org"

    joins: list[object] = []
    monkeypatch.setattr(LoginDialog, "ask", classmethod(login))
    monkeypatch.setattr(JoinDialog, "ask", classmethod(lambda cls, *a, **kw: joins.append(a)))
    tray.snapshot = snapshots()["logged-out"]  # the agent came up meanwhile
    with qtbot.waitSignal(tray.notified) as got:
        welcome.buttons["signup"].click()
    assert got.args[0].title == "Logged in"
    assert got.args[0].text.startswith("Logged in as new@example.org on https://p.example.")
    assert welcome.texts["account"].text() == "✓ Logged in as new@example.org on https://p.example."
    assert len(joins) == 1  # straight on to picking a pool
    assert welcome.buttons["join"].isEnabled()


def test_first_run_steps_follow_the_snapshot() -> None:
    s = snapshots()
    down = Snapshot(None, 0.0, agent_problem="Agent not running")
    assert [st.done for st in first_run_steps(down, "https://p")] == [False, False, False]
    assert [st.done for st in first_run_steps(s["idle"], "https://p")] == [True, True, False]
    done = first_run_steps(s["contributing"], "https://p")
    assert all(st.done for st in done) and "Contributing to pool demo" in done[2].text
