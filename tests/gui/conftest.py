"""Fixtures for the tray tests: a tray context on a home of its own (the agent socket and the
platform may be real or absent). The real platform and Secret Service: tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalavai_like.client.local import NodeClient, socket_path
from kalavai_like.home.instance import Home
from tests.support.tray_states import HW


@pytest.fixture
def make_ctx(qapp) -> Iterator[Callable[..., object]]:
    """Build a Context for a home directory (settings written first when given)."""
    from kalavai_like.gui.bridge import Bridge
    from kalavai_like.gui.context import Context

    bridges: list[Bridge] = []

    def make(home: Path, settings: str | None = None, socket: Path | None = None) -> Context:
        if settings is not None:
            (home / "config").mkdir(parents=True, exist_ok=True)
            (home / "config" / "settings.toml").write_text(settings)
        h = Home.open(str(home))
        node = NodeClient(socket or socket_path(h.paths), home_hint=str(home), timeout=30)
        bridge = Bridge(node)
        bridges.append(bridge)
        return Context(h, node, bridge)

    try:
        yield make
    finally:
        for b in bridges:
            b.shutdown(5000)


@pytest.fixture
def tray_for(make_ctx, qtbot) -> Iterator[Callable[..., object]]:
    """A Tray (not started) on a context; hidden again at the end."""
    from kalavai_like.gui.tray import Tray

    trays: list[Tray] = []

    def make(ctx) -> Tray:
        tray = Tray(ctx, lambda: HW, show_window=False)
        trays.append(tray)
        return tray

    try:
        yield make
    finally:
        for t in trays:
            t.stale_timer.stop()
            t.today_timer.stop()
            t.icon.hide()
            if t.window is not None:
                t.window.close()
            if t.contributions is not None:
                t.contributions.close()
