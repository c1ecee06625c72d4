"""The log-in, join and preferences dialogs driven through their widgets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from kalavai_like import tokens
from kalavai_like.client.platform import PlatformClient
from kalavai_like.gui.join import JoinDialog
from kalavai_like.gui.login import LoginDialog
from kalavai_like.gui.preferences import PreferencesDialog
from tests.support.cli import unique_email
from tests.support.tray_states import HW

PLATFORM = "http://127.0.0.1:8700"


class CountingContext:
    """Wraps a real Context and counts every call that could reach a network."""

    def __init__(self, ctx) -> None:
        self._ctx = ctx
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        value = getattr(self._ctx, name)
        if name.startswith(("do_", "fetch_")):

            def counted(*args, **kwargs):
                self.calls.append(name)
                return value(*args, **kwargs)

            return counted
        return value


def _token(platform: str = PLATFORM, expires_in: int = 3600, pool: str = "demo") -> str:
    text, _ = tokens.mint(
        platform=platform, pool_id="p1", pool_name=pool, expires_at=int(time.time()) + expires_in
    )
    return text


def _damage(text: str) -> str:
    i = len(text) // 2
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]


@pytest.fixture
def join_dialog(tmp_path, make_ctx, qtbot):
    ctx = make_ctx(tmp_path / "home", f'keystore = "file"\n\n[platform]\nurl = "{PLATFORM}"\n')
    counting = CountingContext(ctx)
    dlg = JoinDialog(counting, HW)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "fetch_pools" in counting.calls)  # the table asks; nothing else
    counting.calls.clear()
    return dlg, counting


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _damage(_token()), "damaged"),
        (lambda: _token()[:-5], "damaged"),
        (lambda: "hello", "damaged"),
        (lambda: _token(expires_in=-60), "expired"),
        (lambda: _token(platform="https://elsewhere.example"), "other_platform"),
    ],
)
def test_join_rejects_a_bad_token_as_you_type_before_any_network_call(
    join_dialog, qtbot, make, reason
):
    dlg, counting = join_dialog
    qtbot.keyClicks(dlg.token, make())
    assert dlg.token_reason == reason
    assert dlg.verdict.text().startswith("✗ ")
    assert not dlg.join_button.isEnabled()
    qtbot.mouseClick(dlg.join_button, Qt.MouseButton.LeftButton)
    dlg.on_join_clicked()  # even forced, a bad token goes nowhere
    assert counting.calls == []
    assert dlg.steps.count() == 0


def test_join_accepts_a_good_token_and_names_its_pool(join_dialog, qtbot):
    dlg, counting = join_dialog
    text = _token(pool="science")
    dlg.token.setPlainText(text[:-1])
    assert dlg.token_reason == "damaged"
    from PySide6.QtGui import QTextCursor

    dlg.token.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(dlg.token, text[-1])
    assert dlg.verdict.text().startswith("Token for pool science at http://127.0.0.1:8700")
    assert dlg.join_button.isEnabled()
    assert counting.calls == []


def test_join_limits_default_from_the_hardware_and_prefs(join_dialog):
    dlg, _ = join_dialog
    assert dlg.cpus.maximum() == HW.cores
    assert dlg.cpus.value() == pytest.approx(HW.cores * 0.5)  # in_use.cpu = 50%
    assert dlg.memory.value() == pytest.approx(8 * 0.25, abs=0.01)  # in_use.memory = 25%
    assert not dlg.gpus.isEnabled()


@pytest.mark.keyring
def test_login_puts_the_token_in_the_real_keyring(
    real_keyring, local_platform, tmp_path, make_ctx, qtbot
):
    email, password = unique_email("tray"), "correct-horse-1"
    with PlatformClient(local_platform.url) as c:
        c.signup(email, password)
    ctx = make_ctx(tmp_path / "home", f'[platform]\nurl = "{local_platform.url}"\n')
    dlg = LoginDialog(ctx)
    qtbot.addWidget(dlg)
    qtbot.keyClicks(dlg.email, email)
    qtbot.keyClicks(dlg.password, "wrong-password")
    dlg.ok.click()
    qtbot.waitUntil(lambda: dlg.error.isVisibleTo(dlg), timeout=15000)
    assert dlg.error.text() == "Wrong email or password. Check both and try again."
    assert ctx.home.account is None
    dlg.password.clear()
    qtbot.keyClicks(dlg.password, password)
    with qtbot.waitSignal(dlg.logged_in, timeout=15000) as got:
        dlg.ok.click()
    assert got.args == [email]
    assert ctx.home.account.email == email
    assert ctx.home.keystore.name.startswith("keyring (SecretService")
    token = ctx.home.keystore.get(ctx.home.account.key)
    assert token and token.startswith("klu_")
    with PlatformClient(local_platform.url, token) as c:
        assert c.me()["email"] == email
    assert not list((tmp_path / "home").rglob("api-tokens.json"))
    assert password not in "".join(
        p.read_text(errors="replace") for p in (tmp_path / "home").rglob("*") if p.is_file()
    )


def test_login_says_when_the_platform_is_unreachable(tmp_path, make_ctx, qtbot):
    from tests.support.http import closed_port_url

    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n')
    dlg = LoginDialog(ctx)
    qtbot.addWidget(dlg)
    dlg.platform.setText(closed_port_url())
    qtbot.keyClicks(dlg.email, "a@example.org")
    qtbot.keyClicks(dlg.password, "whatever-123")
    dlg.ok.click()
    qtbot.waitUntil(lambda: dlg.error.isVisibleTo(dlg), timeout=30000)
    assert "Platform unreachable" in dlg.error.text()
    assert "connection refused" in dlg.error.text()
    assert dlg.ok.isEnabled()


def test_preferences_are_switches_spin_boxes_and_a_time_range_editor(
    tmp_path, prefs_agent, make_ctx, qtbot, monkeypatch
):
    from kalavai_like.gui.pref_fields import AmountField, ScheduleField, SwitchField

    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    home = tmp_path / "home"
    ctx = make_ctx(home, 'keystore = "file"\n', socket=prefs_agent(home))
    dlg = PreferencesDialog(ctx, HW)
    qtbot.addWidget(dlg)
    save = dlg.buttons.buttons()[0]
    cpu = dlg.fields["in_use.cpu"]
    assert isinstance(cpu, AmountField)
    assert cpu.unit.currentText() == "% of this machine's 4 cores"  # what 50% is of
    assert (cpu.spin.minimum(), cpu.spin.maximum(), cpu.text()) == (1, 100, "50%")
    cpu.unit.setCurrentIndex(1)  # in cores: the same amount, bounded by this machine
    assert (cpu.text(), cpu.spin.maximum()) == ("2", 4)
    mem = dlg.fields["in_use.memory"]
    assert mem.unit.currentText() == "% of this machine's 8.0 GiB of memory"
    mem.unit.setCurrentIndex(1)
    assert mem.spin.maximum() == 8  # GiB: no cap beyond what the machine has
    mem.spin.setValue(2)
    assert mem.text() == "2G"
    assert isinstance(dlg.fields["idle_only"], SwitchField)
    load = dlg.fields["load_pause"]
    assert load.spin.suffix() == " % of this machine's CPU (all cores)"
    assert not load.spin.isEnabled()  # off by default
    schedule = dlg.fields["schedule"]
    assert isinstance(schedule, ScheduleField) and schedule.any_time.isChecked()
    schedule.any_time.setChecked(False)  # offers weekday evenings and nights to start from
    assert schedule.text() == "mon-fri 18:00-08:00"
    schedule.add.click()
    row = schedule.rows[1]
    for box in row.days[:5]:
        box.setChecked(False)
    assert "Tick at least one day" in dlg.errors["schedule"].text()
    assert not save.isEnabled()
    row.days[5].setChecked(True)
    row.days[6].setChecked(True)
    row.all_day.setChecked(True)
    assert save.isEnabled() and schedule.text() == "mon-fri 18:00-08:00, sat-sun all"
    dlg.autostart.setChecked(True)
    with qtbot.waitSignal(dlg.saved):
        dlg.on_save()
    text = (home / "config" / "settings.toml").read_text()
    assert 'memory = "2G"' in text and "mon-fri 18:00-08:00, sat-sun all" in text
    assert ctx.prefs().in_use.memory.value == 2 * 2**30
    assert ctx.prefs().in_use.cpu.value == 2 and not ctx.prefs().in_use.cpu.percent
    entry = xdg / "autostart" / "kalavai-like-tray.desktop"
    body = entry.read_text()
    assert "[Desktop Entry]" in body and "-m kalavai_like.gui --home" in body
    assert str(home) in body
    dlg2 = PreferencesDialog(ctx, HW)  # opens on what was saved
    qtbot.addWidget(dlg2)
    assert dlg2.autostart.isChecked()
    assert dlg2.fields["in_use.memory"].text() == "2G"
    assert dlg2.fields["schedule"].text() == "mon-fri 18:00-08:00, sat-sun all"
    assert len(dlg2.fields["schedule"].rows) == 2
    dlg2.autostart.setChecked(False)
    dlg2.on_save()
    assert not entry.exists()


def test_preferences_keep_a_timed_pause(tmp_path, prefs_agent, make_ctx, qtbot, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    home = tmp_path / "home"
    ctx = make_ctx(home, 'keystore = "file"\n', socket=prefs_agent(home))
    until = ctx.node.set_pref("paused_until", "tomorrow 08:00")["paused_until"]
    assert until != "off"
    dlg = PreferencesDialog(ctx, HW)
    qtbot.addWidget(dlg)
    dlg.fields["in_use.cpu"].unit.setCurrentIndex(1)
    dlg.fields["in_use.cpu"].spin.setValue(1)
    with qtbot.waitSignal(dlg.saved) as saved:
        dlg.on_save()
    assert saved.args[0]["in_use.cpu"] == "1"
    assert saved.args[0]["paused_until"] == until
    assert ctx.node.prefs()["paused_until"] == until
    assert ctx.prefs().paused_until is not None  # and so says settings.toml


def test_preferences_say_when_no_agent_takes_them(tmp_path, make_ctx, qtbot, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n', socket=tmp_path / "none.sock")
    dlg = PreferencesDialog(ctx, HW)
    qtbot.addWidget(dlg)
    dlg.on_save()
    qtbot.waitUntil(lambda: "agent is not running" in dlg.note.text(), timeout=20000)
    assert dlg.buttons.buttons()[0].isEnabled()
    assert not (tmp_path / "home" / "config" / "settings.toml").read_text().count("[prefs")


def test_autostart_goes_under_xdg_config_home(tmp_path):
    from kalavai_like.gui import autostart

    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)}
    assert autostart.entry_path(env) == tmp_path / "cfg" / "autostart" / autostart.FILE_NAME
    assert autostart.entry_path({"HOME": str(tmp_path)}) == (
        tmp_path / ".config" / "autostart" / autostart.FILE_NAME
    )
    path = autostart.set_enabled(True, Path("/x y"), "icon.svg", env)
    assert "Exec=" in path.read_text() and '"/x y"' in path.read_text()
