"""Log in → join → pause → resume → leave, driven through the tray's widgets against a real
agent and a real platform from the local pool simulator (real WireGuard, real podman)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from kalavai_like.client.account import logged_in
from kalavai_like.client.local import NodeClient
from kalavai_like.client.platform import PlatformClient
from kalavai_like.devtools.simulator import PASSWORD, Simulator, ready
from kalavai_like.gui.bridge import Bridge
from kalavai_like.gui.context import Context
from kalavai_like.gui.join import JoinDialog
from kalavai_like.gui.login import LoginDialog
from kalavai_like.gui.menu import icon_state
from kalavai_like.gui.tray import LeaveDialog, Tray
from kalavai_like.home.instance import Home
from tests.support.tray_states import HW

pytestmark = [
    pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not ready()(), reason="needs root, podman and wireguard-go"),
]  # fmt: skip
PREFIX = "kgf"


@pytest.fixture
def sim(tmp_path: Path):
    s = Simulator(PREFIX, Path(f"/tmp/kalavai-like-test-{PREFIX}"))
    try:
        s.start_network()
        seed, vol = s.add_host("seed"), s.add_host("vol")
        s.start_platform()
        s.start_agent(seed)
        s.start_agent(vol)
        yield s
    finally:
        s.close()
        assert s.leftovers() == []


def trigger(tray: Tray, key: str) -> None:
    """Open the real menu's content and click the entry `key`, as a user would."""
    tray.menu.aboutToShow.emit()
    action = next(a for a in tray.menu.actions() if a.data() == key)
    assert action.isEnabled(), f"{key} is disabled in state {tray.snapshot.state}"
    action.trigger()


def test_login_join_pause_resume_leave(sim, qtbot, monkeypatch):
    seed, vol = sim.hosts["seed"], sim.hosts["vol"]
    sim.signup(seed)
    started = sim.cli_json(seed, "pool", "start", "gui", "--template", "dask", "--public",
                           "--endpoint", f"{seed.address}:51820")  # fmt: skip
    assert started["token"].startswith("kl1_")  # the owner's token; the volunteer mints one
    with PlatformClient(sim.platform.url) as anon:
        anon.signup(vol.email, PASSWORD)

    home = Home.open(str(vol.home))
    node = NodeClient(vol.socket, home_hint=str(vol.home))
    bridge = Bridge(node)
    tray = Tray(Context(home, node, bridge), lambda: HW, show_window=False)
    seen: dict[str, object] = {}
    try:
        tray.start()
        assert tray.welcome is not None  # a fresh start; this test drives the menu instead
        tray.welcome.close()
        qtbot.waitUntil(lambda: tray.snapshot.status is not None, timeout=20000)
        assert icon_state(tray.snapshot) == "logged-out"

        # ---- log in through the dialog's fields
        def login_ask(cls, ctx, parent=None):
            dlg = cls(ctx, parent)
            qtbot.addWidget(dlg)
            dlg.show()
            qtbot.keyClicks(dlg.email, vol.email)
            qtbot.keyClicks(dlg.password, PASSWORD)
            with qtbot.waitSignal(dlg.logged_in, timeout=30000) as got:
                qtbot.mouseClick(
                    dlg.ok, __import__("PySide6.QtCore").QtCore.Qt.MouseButton.LeftButton
                )
            return got.args[0]

        monkeypatch.setattr(LoginDialog, "ask", classmethod(login_ask))
        trigger(tray, "login")
        assert tray.snapshot.account == vol.email
        assert icon_state(tray.snapshot) == "idle"
        assert home.token().startswith("klu_")

        # ---- join: the community table lists the pool; the token is pasted, limits confirmed
        def join_ask(cls, ctx, hardware, parent=None, link=None):
            dlg = cls(ctx, hardware, parent, link)
            qtbot.addWidget(dlg)
            dlg.show()
            qtbot.waitUntil(lambda: dlg.pools.rowCount() >= 1, timeout=20000)
            row = [dlg.pools.item(0, c).text() for c in range(4)]
            seen["pools_row"] = row
            dlg.pools.cellWidget(0, 4).click()
            qtbot.waitUntil(lambda: not dlg.pools_note.text().startswith("Getting"), timeout=20000)
            seen["community_join"] = dlg.pools_note.text()
            seen["community_token_pool"] = dlg.token_ok.pool_name if dlg.token_ok else None
            assert dlg.verdict.text().startswith("Token for pool gui")  # the minted one
            dlg.cpus.setValue(0.5)
            dlg.memory.setValue(0.5)
            dlg.device_name.setText("vol")
            with qtbot.waitSignal(dlg.joined, timeout=180000):
                dlg.join_button.click()
            seen["steps"] = [dlg.steps.item(i).text() for i in range(dlg.steps.count())]
            return dlg.join_result

        monkeypatch.setattr(JoinDialog, "ask", classmethod(join_ask))
        trigger(tray, "join")
        # The owner's email is shown to nobody but its owner: others see a display name.
        name, owner, *rest = seen["pools_row"]  # type: ignore[misc]
        assert (name, rest) == ("gui", ["dask", "0"])
        assert owner.startswith("user-") and "@" not in owner  # the display name it got
        note = str(seen["community_join"])
        assert note == "Ready to join pool gui: check the limits, then press Join.", note
        assert seen["community_token_pool"] == "gui"
        steps = seen["steps"]
        assert any("Connected to the hub" in s for s in steps), steps
        assert steps[-1].startswith("Joined pool gui as 10.")
        qtbot.waitUntil(lambda: tray.snapshot.state == "running", timeout=30000)
        assert icon_state(tray.snapshot) == "contributing"
        assert tray.icon.toolTip().startswith("kalavai-like: Contributing to pool gui\n")
        assert any(n.title == "Joined pool gui" for n in tray.notices)
        worker = tray.snapshot.status.worker
        assert worker.cpus == 0.5 and worker.memory_bytes == 2**29

        # ---- pause for an hour from the menu; the tooltip says until when
        trigger(tray, "pause_1h")
        qtbot.waitUntil(lambda: tray.snapshot.state == "paused", timeout=15000)
        until = tray.snapshot.status.worker.paused_until
        assert until == pytest.approx(time.time() + 3600, abs=60)
        at = dt.datetime.fromtimestamp(until)  # within an hour of midnight it reads "tomorrow"
        clock = at.strftime("%H:%M" if at.date() == dt.date.today() else "tomorrow %H:%M")
        assert tray.icon.toolTip().startswith(f"kalavai-like: Paused by you until {clock}")
        assert icon_state(tray.snapshot) == "paused"
        assert node.status().worker.container_state == "paused"

        # ---- resume
        trigger(tray, "resume")
        qtbot.waitUntil(lambda: tray.snapshot.state == "running", timeout=15000)
        assert node.status().worker.container_state == "running"

        # ---- leave (confirmed)
        monkeypatch.setattr(LeaveDialog, "ask", classmethod(lambda cls, pool, parent=None: True))
        trigger(tray, "leave")
        qtbot.waitUntil(lambda: tray.snapshot.state == "idle" and not tray.snapshot.busy,
                        timeout=60000)  # fmt: skip
        assert tray.snapshot.status.worker is None
        assert any(n.title == "Left pool gui" for n in tray.notices)
        assert icon_state(tray.snapshot) == "idle"
        with logged_in(home) as me:
            assert all(d.get("left_at") for d in me.request("GET", "/devices"))
    finally:
        tray.stale_timer.stop()
        tray.today_timer.stop()
        tray.icon.hide()
        bridge.shutdown(5000)
