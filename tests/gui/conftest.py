"""Fixtures for the tray tests: a tray context on a home of its own (the agent socket and the
platform may be real or absent), and a real Secret Service for the log-in test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalavai_like.client.local import NodeClient, socket_path
from kalavai_like.home.instance import Home
from kalavai_like.volunteer.prefs import Hardware
from tests.client.fixtures import local_platform  # noqa: F401

HW = Hardware(cores=4, memory_bytes=8 * 2**30, gpus=0)


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


@pytest.fixture
def real_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The real Secret Service (gnome-keyring) on a private D-Bus, as the keyring backend."""
    import keyring
    from keyring.backends import SecretService

    from tests.client.secret_service import secret_service

    with secret_service(tmp_path / "kr") as env:
        for name in ("DBUS_SESSION_BUS_ADDRESS", "HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
            monkeypatch.setenv(name, env[name])
        monkeypatch.delenv("KALAVAI_LIKE_API_TOKEN", raising=False)
        assert SecretService.Keyring.priority > 0
        previous = keyring.get_keyring()
        keyring.set_keyring(SecretService.Keyring())
        try:
            yield tmp_path
        finally:
            keyring.set_keyring(previous)
