"""The agent applies the rule engine: a Node with the real Policy over fakes (runtime, overlay,
platform) and a scripted host. The same Policy runs against real podman in
tests/e2e/credit/test_pool_credit.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kalavai_like.agent.localapi import LocalAPIServer
from kalavai_like.agent.policy import MemoryPrefs, PrefsFile
from kalavai_like.client.local import NodeClient
from kalavai_like.errors import InvalidInput
from kalavai_like.volunteer.prefs import Prefs
from tests.support.agent_fakes import HW, World, make


def container(world: World):  # type: ignore[no-untyped-def]
    (c,) = world.runtime.containers.values()
    return c


def test_cpu_cap_applies_live_without_restart_and_never_above_the_join(
    world: World, tmp_path: Path
) -> None:
    node, _, _ = make(world, MemoryPrefs(), tmp_path)
    world.join(node)  # lends 1 core, 1 GiB
    node.tick()
    c = container(world)
    cid = c.info.id
    assert c.cpus == 1.0  # idle profile is 100% of 2 cores, capped by what the join lent
    flat = node.set_pref("cpu", "0.25")
    assert flat["in_use.cpu"] == "0.25" and flat["idle.cpu"] == "0.25"
    assert container(world).cpus == 0.25 and container(world).info.id == cid
    st = node.status().worker
    assert st is not None and st.limits is not None and st.limits.cpus == 0.25
    node.reset_prefs("cpu")
    assert container(world).cpus == 1.0 and container(world).info.id == cid


def test_invalid_prefs_are_refused_with_what_the_machine_has(world: World, tmp_path: Path) -> None:
    node, _, _ = make(world, MemoryPrefs(), tmp_path)
    with pytest.raises(InvalidInput) as exc:
        node.set_pref("memory", "64G")
    assert "memory cap 64G exceeds this machine's 23G" in exc.value.message
    with pytest.raises(InvalidInput, match="Unknown preference"):
        node.set_pref("colour", "blue")


def test_schedule_pause_holds_the_worker_with_its_reason_and_lifts_by_itself(
    world: World, tmp_path: Path
) -> None:
    node, _, _ = make(world, MemoryPrefs(), tmp_path)
    world.join(node)
    world.clock.t += 10
    node.set_pref("schedule", "mon 09:00-10:00")  # 1970-01-01 is a Thursday
    st = node.status()
    assert st.state == "paused" and "outside your schedule" in st.reason
    assert st.worker is not None and [r.code for r in st.worker.reasons] == ["schedule"]
    assert container(world).info.state == "paused"
    frozen = st.worker.totals.cpu_seconds
    world.clock.t += 100
    node.wakeup.set()
    node.tick()
    assert world.platform.heartbeats[-1]["state"] == "paused"
    assert "schedule" in world.platform.heartbeats[-1]["reason"]
    assert node.status().worker.totals.cpu_seconds == pytest.approx(frozen)  # type: ignore[union-attr]
    # the user's own desired state was not touched: lifting the rule resumes by itself
    assert world.store.data["membership"]["desired"] == "running"  # type: ignore[index]
    node.reset_prefs("schedule")
    assert node.status().state == "running" and container(world).info.state == "running"
    world.clock.t += 5
    node.wakeup.set()
    node.tick()
    assert node.status().worker.totals.cpu_seconds == pytest.approx(frozen + 5)  # type: ignore[union-attr]


def test_held_worker_stays_frozen_across_an_agent_restart(world: World, tmp_path: Path) -> None:
    store = MemoryPrefs(
        Prefs().set("paused_until", "1h", HW, dt.datetime.fromtimestamp(1000, dt.UTC))
    )
    node, _, _ = make(world, store, tmp_path)
    world.join(node)
    node.tick()
    assert node.status().state == "paused"
    node.close()
    world.clock.t += 600
    again, policy, _ = make(world, store, tmp_path)  # a new agent: same files
    assert policy.holding
    again.restore()
    assert container(world).info.state == "paused"
    again.tick()
    st = again.status()
    assert st.state == "paused" and st.worker is not None
    (reason,) = st.worker.reasons
    assert reason.code == "paused_until" and (reason.until or "").startswith("1970-01-01T01:16")
    world.clock.t += 3600
    again.wakeup.set()
    again.tick()
    assert again.status().state == "running" and store.prefs.paused_until is None


def test_user_pause_and_rule_pause_combine(world: World, tmp_path: Path) -> None:
    node, _, host = make(world, MemoryPrefs(), tmp_path)
    world.join(node)
    node.set_pref("idle_only", "on")
    host.idle = 10.0  # someone is typing
    node.wakeup.set()
    node.tick()
    assert node.status().state == "paused"
    node.pause()
    node.wakeup.set()
    node.tick()
    codes = [r.code for r in node.status().worker.reasons]  # type: ignore[union-attr]
    assert codes == ["paused_by_you", "in_use"]
    server = LocalAPIServer(tmp_path / "kt12.sock", node).start()  # as the CLI and tray ask
    try:
        result = NodeClient(tmp_path / "kt12.sock").resume()
    finally:
        server.close()
    assert result.state == "paused"  # not "resumed" while the rule holds the worker
    assert result.message.startswith("resumed your pause, but computer in use")
    assert result.message.endswith("still holds the worker")
    assert container(world).info.state == "paused"  # never thawed, not even for a moment
    assert world.store.data["membership"]["desired"] == "running"  # type: ignore[index]
    node.wakeup.set()
    node.tick()
    assert node.status().state == "paused" and container(world).info.state == "paused"
    again = node.resume()  # nothing of the user's left to resume: the rule is named
    assert again.already and again.state == "paused" and "holds the worker" in again.message
    host.idle = 3600.0
    node.wakeup.set()
    node.tick()
    assert node.status().state == "running" and container(world).info.state == "running"


def test_prefs_file_keeps_other_settings_and_is_reread_when_edited(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('keystore = "file"\n\n[platform]\nurl = "http://127.0.0.1:9"\n')
    store = PrefsFile(path)
    store.save(store.load().set("cpu", "50%", HW))
    text = path.read_text()
    assert 'keystore = "file"' in text and "127.0.0.1:9" in text and "[prefs" in text
    fresh = PrefsFile(path)
    assert fresh.load().get("cpu") == "50%"
    path.write_text(text.replace('cpu = "50%"', 'cpu = "1"'))
    assert fresh.load().get("cpu") == "1"
    path.write_text(text.replace('cpu = "50%"', 'cpu = "lots"'))
    assert fresh.load().get("cpu") == "1" and fresh.problem is not None
