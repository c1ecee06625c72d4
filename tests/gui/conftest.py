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
def prefs_agent(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """Start an agent for a home: a real LocalAPI in front of a Node (fakes for the overlay,
    runtime and platform) with the real Policy, which keeps the home's preferences in its
    settings.toml as the real agent does, on this machine's hardware `HW`. Returns its socket."""
    import shutil
    import tempfile

    from kalavai_like.agent.composition import PoolTemplates
    from kalavai_like.agent.localapi import LocalAPIServer
    from kalavai_like.agent.node import Node, NodeConfig
    from kalavai_like.agent.policy import Policy, PrefsFile
    from tests.support.agent_fakes import ScriptedHost, World

    started: list[tuple[LocalAPIServer, Node, Path]] = []

    def start(home: Path) -> Path:
        world = World(tmp_path / f"agent{len(started)}")
        settings = PrefsFile(home / "config" / "settings.toml")
        policy = Policy(settings, ScriptedHost(world.clock), HW, wall=world.clock)
        cfg = NodeConfig(prefix="kt6", state_dir=world.tmp, device_name="vol1")
        node = Node(
            cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
            platform=world.platform, store=world.store, policy=policy, wall=world.clock,
        )  # fmt: skip
        run = Path(tempfile.mkdtemp(prefix="kt-gui-prefs-"))  # a short path for the socket
        server = LocalAPIServer(run / "agent.sock", node).start()
        started.append((server, node, run))
        return run / "agent.sock"

    try:
        yield start
    finally:
        for server, node, run in started:
            server.close()
            node.close()
            shutil.rmtree(run, ignore_errors=True)


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
            if t.welcome is not None:
                t.welcome.close()
            if t.contributions is not None:
                t.contributions.close()
