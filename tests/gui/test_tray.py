"""The real tray widgets: each state's QMenu mirrors the pure menu model, the tooltip and
icon follow the snapshot, actions go through the bridge, and a dead or stuck agent gives a
clear state with a Start agent action instead of a hung UI."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from kalavai_like.gui.menu import icon_state, menu_model, tooltip
from tests.support.tray_states import snapshots

pytestmark = pytest.mark.timeout(120)


def qmenu_rows(menu) -> list[tuple[str, bool, str]]:
    rows = []
    for a in menu.actions():
        if a.isSeparator():
            rows.append(("", False, "-"))
        else:
            rows.append((a.text(), a.isEnabled(), a.data() or ""))
    return rows


def model_rows(snap) -> list[tuple[str, bool, str]]:
    return [
        ("", False, "-") if i.separator else (i.text, i.enabled, i.key) for i in menu_model(snap)
    ]


@pytest.mark.parametrize("name", list(snapshots()))
def test_each_state_menu_is_mirrored_in_the_real_qmenu(name, tmp_path, make_ctx, tray_for):
    tray = tray_for(make_ctx(tmp_path / "home", 'keystore = "file"\n'))
    snap = snapshots()[name]
    tray.snapshot = snap
    tray._apply()
    tray.menu.aboutToShow.emit()  # what Qt does right before it shows the menu
    assert qmenu_rows(tray.menu) == model_rows(snap)
    assert tray.icon.toolTip() == tooltip(snap)
    assert tray.icon.icon().cacheKey() == tray.icons[icon_state(snap)].cacheKey()
    tray.show_window()
    buttons = tray.window.buttons
    actions = [i for i in menu_model(snap) if i.key and i.key != "status"]
    assert [k for k in buttons] == [i.key for i in actions]
    assert all(buttons[i.key].isEnabled() == i.enabled for i in actions)


def test_the_six_icons_are_distinct_images(tmp_path, make_ctx, tray_for):
    tray = tray_for(make_ctx(tmp_path / "home", 'keystore = "file"\n'))
    images = {s: icon.pixmap(32, 32).toImage() for s, icon in tray.icons.items()}
    assert all(not img.isNull() for img in images.values())
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert images[a] != images[b], f"{a} and {b} look the same"


def notified_after(tray, qtbot, key: str):  # type: ignore[no-untyped-def]
    """Open the menu, trigger the action `key`, and return the notification the tray sent."""
    tray.menu.aboutToShow.emit()
    action = next(a for a in tray.menu.actions() if a.data() == key)
    with qtbot.waitSignal(tray.notified, timeout=10000) as got:
        action.trigger()
    return got


def test_a_menu_action_runs_off_the_gui_thread_and_reports_failure(
    tmp_path, make_ctx, tray_for, qtbot
):
    """Pausing with no agent: the click returns at once and the failure is notified."""
    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n')
    tray = tray_for(ctx)
    tray.snapshot = snapshots()["contributing"]
    got = notified_after(tray, qtbot, "pause_1h")
    assert got.args[0].title.startswith("Pause failed: The kalavai-like agent is not running")
    assert got.args[0].level == "error"


def test_resume_says_which_rule_still_holds_the_worker(tmp_path, make_ctx, tray_for, qtbot):
    """The agent lifts the user's pause but a rule keeps the worker frozen: the tray says so."""
    from kalavai_like.client.records import ActionResult

    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n')
    held = ActionResult("paused", "resumed your pause, but computer in use still holds the worker")
    ctx.node.resume = lambda: held  # what NodeClient.resume returns in that case
    tray = tray_for(ctx)
    tray.snapshot = snapshots()["paused-by-you"]
    got = notified_after(tray, qtbot, "resume")
    assert got.args[0].title == "Still paused"
    assert got.args[0].text.startswith("Resumed your pause, but computer in use")


def test_a_tray_started_before_its_agent_is_a_first_run_that_offers_to_start_it(
    tmp_path, make_ctx, tray_for, qtbot
):
    ctx = make_ctx(tmp_path / "home", 'keystore = "file"\n')
    tray = tray_for(ctx)
    tray.start()
    qtbot.waitUntil(lambda: tray.snapshot.agent_problem != "", timeout=10000)
    assert icon_state(tray.snapshot) == "logged-out"  # not the red error icon
    assert tray.icon.toolTip().startswith("kalavai-like: Agent not started yet\n")
    tray.menu.aboutToShow.emit()
    start = next(a for a in tray.menu.actions() if a.data() == "start_agent")
    assert start.isEnabled()
    assert not next(a for a in tray.menu.actions() if a.data() == "join").isEnabled()


def _silent_agent(path: Path) -> tuple[socket.socket, threading.Event]:
    """A socket that accepts connections and never answers (a stuck agent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue
        for c in held:
            c.close()

    threading.Thread(target=accept, daemon=True).start()
    return srv, stop


def test_stuck_agent_is_said_and_the_ui_keeps_answering(tmp_path, make_ctx, tray_for, qtbot):
    home = tmp_path / "home"
    srv, stop = _silent_agent(home / "run" / "agent.sock")
    try:
        ctx = make_ctx(home, 'keystore = "file"\n')
        tray = tray_for(ctx)
        tray.stale_after = 1.5
        tray.start()
        ticks = []
        timer_started = time.monotonic()
        from PySide6.QtCore import QTimer

        t = QTimer()
        t.timeout.connect(lambda: ticks.append(time.monotonic()))
        t.start(50)
        tray.on_action("resume")  # hangs in a pool thread, not here
        qtbot.waitUntil(lambda: tray.snapshot.agent_problem != "", timeout=15000)
        t.stop()
        assert tray.snapshot.agent_problem == "The agent does not answer"
        assert "start_agent" in {i.key for i in menu_model(tray.snapshot) if i.enabled}
        # the event loop kept running: no gap between timer ticks near the wait's length
        gaps = [b - a for a, b in zip([timer_started, *ticks], ticks, strict=False)]
        assert ticks and max(gaps) < 1.0
    finally:
        stop.set()
        srv.close()


@pytest.mark.slow
def test_start_agent_brings_a_real_agent_up(tmp_path, make_ctx, tray_for, qtbot):
    """From "Agent not running" to a live status stream with the menu's Start agent."""
    home = tmp_path / "home"
    ctx = make_ctx(home, 'keystore = "file"\n\n[network]\nprefix = "kgt"\n')
    tray = tray_for(ctx)
    tray.start()
    qtbot.waitUntil(lambda: tray.snapshot.agent_problem != "", timeout=10000)
    pid = None
    try:
        tray.on_action("start_agent")
        qtbot.waitUntil(lambda: tray.snapshot.status is not None, timeout=60000)
        pid = tray.snapshot.status.agent_pid
        assert tray.snapshot.status.state == "idle"
        assert tray.icon.toolTip().startswith("kalavai-like: Not logged in")
        assert "start_agent" not in {i.key for i in menu_model(tray.snapshot)}
        os.kill(pid, signal.SIGTERM)
        qtbot.waitUntil(lambda: tray.snapshot.status is None, timeout=30000)
        assert tray.notices[-1].title == "Agent stopped"
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_second_launch_shows_the_first(tmp_path, qtbot):
    from kalavai_like.gui.instance import SingleInstance

    first, second = SingleInstance(tmp_path / "run"), SingleInstance(tmp_path / "run")
    assert first.claim()
    try:
        assert not second.claim()
        with qtbot.waitSignal(first.show_requested, timeout=5000):
            assert second.knock()
    finally:
        first.release()
    assert second.claim()
    second.release()


def test_snapshot_replace_keeps_fields():
    snap = snapshots()["contributing"]
    assert dataclasses.replace(snap, busy="x").account == snap.account
