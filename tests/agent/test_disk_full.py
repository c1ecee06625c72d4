"""A full disk (simulated: writes under the home fail with ENOSPC) never stops the agent: it
starts and answers, a running node keeps working and says its state is not saved, and a join
that cannot be recorded fails clearly and leaves nothing behind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kalavai_like.agent.daemon import run_agent
from kalavai_like.agent.store import JsonStore
from kalavai_like.client.local import NodeClient, listen_path
from kalavai_like.errors import KalavaiError, SystemProblem
from kalavai_like.home import paths as paths_mod
from kalavai_like.home import settings as settings_mod
from tests.support.agent_fakes import World
from tests.support.disk import FullDisk


def test_the_agent_starts_and_answers_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = paths_mod.resolve(str(tmp_path / "home")).ensure()
    settings = settings_mod.load(paths.settings_file)
    FullDisk(monkeypatch, tmp_path)
    stop, ready, failed = threading.Event(), threading.Event(), []

    def agent() -> None:
        try:
            run_agent(paths, settings, stop=stop, ready=ready, prefix="kdf")
        except BaseException as exc:
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    try:
        assert ready.wait(30) and not failed, failed
        assert NodeClient(listen_path(paths)).status().state == "idle"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and not failed


def _node_with_a_file_store(world: World, tmp_path: Path):  # type: ignore[no-untyped-def]
    world.store = JsonStore(tmp_path / "state" / "node.json")  # type: ignore[assignment]
    return world.node()


def test_a_running_node_keeps_going_and_says_its_state_is_not_saved(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = _node_with_a_file_store(world, tmp_path)
    world.join(node)
    disk = FullDisk(monkeypatch, tmp_path / "state")
    assert node.pause().state == "paused"  # frozen, though not on disk
    (condition,) = [c for c in node.status().conditions if c.code == "state_unsaved"]
    assert "No space left on device" in condition.text and "keeps running" in condition.text
    beats = len(world.platform.heartbeats)
    for _ in range(3):
        world.clock.t += 10
        node.wakeup.set()
        node.tick()  # heartbeats go on; nothing raises
    assert len(world.platform.heartbeats) > beats
    assert world.platform.heartbeats[-1]["state"] == "paused"
    disk.full = False  # space freed: the next change is saved and the condition goes
    assert node.resume().state == "running"
    assert not [c for c in node.status().conditions if c.code == "state_unsaved"]
    saved = JsonStore(tmp_path / "state" / "node.json").load()
    assert saved is not None and saved["membership"]["desired"] == "running"


def test_a_join_that_cannot_be_recorded_fails_clearly_and_leaves_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = _node_with_a_file_store(world, tmp_path)
    FullDisk(monkeypatch, tmp_path / "state")
    with pytest.raises(KalavaiError) as info:
        world.join(node)
    assert isinstance(info.value, SystemProblem)
    assert info.value.title.startswith("Join failed while")
    assert "No space left on device" in info.value.message
    assert world.leftovers() == [] and node.status().state == "idle"
