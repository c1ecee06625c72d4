"""The screenshots are taken on a virtual screen with a real tray host (Xvfb + trayer)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from tests.gui.screenshots import take
from tests.support.tray_states import snapshots

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_screenshots_of_each_menu_and_window_under_a_tray_host(tmp_path):
    report = take(tmp_path)
    assert report["tray_host"] is True  # trayer embedded the icon: a real system tray
    names = set(report["files"])
    assert {f"tray-menu-{s}.png" for s in snapshots()} <= names
    for window in ("status-agent-down", "login", "signup", "welcome", "join", "join-damaged-token",
                   "contributions", "preferences"):  # fmt: skip
        assert f"tray-window-{window}.png" in names
    for name in names:
        img = QImage(str(tmp_path / name))
        assert not img.isNull() and img.width() > 150 and img.height() > 100, name
        colours = {
            img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)
        }
        assert len(colours) > 8, f"{name} looks blank"
