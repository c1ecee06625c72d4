"""What the membership commands print, from status and device records (no agent needed)."""

from __future__ import annotations

from pathlib import Path

from kalavai_like.agent.policy import MemoryPrefs
from kalavai_like.cli.pool.status import limits_text, listed_devices
from tests.support.agent_fakes import World, make

HUB = {"name": "hub", "role": "hub", "state": "running", "left_at": None}
BUSY = {"name": "alice", "role": "worker", "state": "running", "left_at": None}
GONE = {"name": "bob", "role": "worker", "state": "left", "left_at": "2026-11-23T10:00:00Z"}


def test_pool_workers_lists_workers_not_the_hub_and_left_ones_only_with_all() -> None:
    devices = [HUB, BUSY, GONE]
    assert [d["name"] for d in listed_devices(devices, include_left=False)] == ["alice"]
    assert [d["name"] for d in listed_devices(devices, include_left=True)] == ["alice", "bob"]


def test_pool_status_shows_the_limits_in_force_and_the_lent_ones(tmp_path: Path) -> None:
    world = World(tmp_path)
    node, _, _ = make(world, MemoryPrefs(), tmp_path)
    world.join(node)  # lends 1 core, 1 GiB
    node.tick()
    w = node.status().worker
    assert w is not None and limits_text(w) == "1 core, 1.00 GiB, 0 GPUs"
    node.set_pref("cpu", "0.25")
    w = node.status().worker
    assert w is not None
    lent = "1 core, 1.00 GiB, 0 GPUs"
    assert limits_text(w) == f"0.25 cores, 1.00 GiB, 0 GPUs (lent at join: {lent})"
