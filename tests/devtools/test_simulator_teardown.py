"""The simulator's teardown carries on past a failing step: the platform is stopped and the
namespaces removed even when the overlay cleanup blows up, and the failure is still raised."""

from __future__ import annotations

import os

import pytest

from kalavai_like.devtools.simulator import Simulator
from kalavai_like.net import Overlay
from tests.support.simulator import needs_root_tools

pytestmark = [pytest.mark.e2e, pytest.mark.netns, needs_root_tools()]


def test_close_finishes_even_when_a_step_fails(tmp_path, monkeypatch):
    sim = Simulator("kst", tmp_path / "sim")
    try:
        sim.start_network()
        sim.add_host("solo")
        sim.start_platform()
        pid = sim.platform.pid

        def broken_cleanup(self, prefix):
            raise RuntimeError("netlink went away")

        monkeypatch.setattr(Overlay, "cleanup", broken_cleanup)
        with pytest.raises(RuntimeError, match="netlink went away"):
            sim.close()
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid)
        assert not os.path.exists(f"/run/netns/{sim.hosts['solo'].netns}")
        assert not (tmp_path / "sim").exists()
    finally:
        monkeypatch.undo()
        sim.close()
        assert sim.leftovers() == []


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] == "Z"
