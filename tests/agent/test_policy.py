"""The agent applies the rule engine: a Node with the real Policy over fakes (runtime, overlay,
platform) and a scripted host. The same Policy runs against real podman in
tests/e2e/credit/test_pool_credit.py.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from kalavai_like.agent.localapi import LocalAPIServer
from kalavai_like.agent.node import Node
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
    assert "still holds the worker (resume --anyway sets your rules aside)" in result.message
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


# ---- the timed pause: `pool pause --for`, the tray's timed pauses, `prefs set paused_until` ---


def _hhmm(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


def _joined(world: World, tmp: Path) -> tuple[Node, MemoryPrefs]:
    store = MemoryPrefs()
    node, _, _ = make(world, store, tmp)
    world.join(node)
    return node, store


def _paused(world: World, tmp: Path, seconds: float | None = None) -> tuple[Node, MemoryPrefs]:
    """A joined node the user paused, for `seconds` or (without them) until resumed."""
    node, store = _joined(world, tmp)
    node.pause(seconds)
    return node, store


def _restarted_paused_until(world: World, store: MemoryPrefs, tmp: Path, until: float) -> Node:
    """A new agent on the same files; its first status reads the timed pause to `until`."""
    again, _, _ = make(world, store, tmp)
    again.restore()
    st = again.status()
    assert st.state == "paused" and st.reason == f"paused until {_hhmm(until)}"
    assert st.worker is not None and st.worker.paused_until == until
    assert container(world).info.state == "paused"
    return again


def _tick_after(world: World, node: Node, seconds: float) -> None:
    world.clock.t += seconds
    node.wakeup.set()
    node.tick()


def test_a_timed_pause_is_the_paused_until_preference_and_ends_by_itself(
    world: World, tmp_path: Path
) -> None:
    node, store = _joined(world, tmp_path)
    result = node.pause(3600)
    assert result.state == "paused" and not result.already
    until = world.clock.t + 3600
    st = node.status()
    assert st.state == "paused" and st.reason == f"paused until {_hhmm(until)}"
    assert st.worker is not None and st.worker.paused_until == until
    assert st.worker.pause_reason == f"paused until {_hhmm(until)}"
    assert container(world).info.state == "paused"
    assert store.prefs.paused_until is not None and store.prefs.paused_until.timestamp() == until
    assert world.store.data["membership"]["desired"] == "running"  # type: ignore[index]
    frozen = st.worker.totals.cpu_seconds
    _tick_after(world, node, 60)
    beat = world.platform.heartbeats[-1]
    assert beat["state"] == "paused" and beat["reason"] == f"paused until {_hhmm(until)}"
    st = node.status()
    assert [r.code for r in st.worker.reasons] == ["paused_until"]  # type: ignore[union-attr]
    assert st.worker.totals.cpu_seconds == pytest.approx(frozen)  # type: ignore[union-attr]
    moved = node.pause(1800)  # a new length moves the end, and says so
    assert not moved.already and moved.message.startswith("pause moved: paused until ")
    assert node.status().worker.paused_until == world.clock.t + 1800  # type: ignore[union-attr]
    _tick_after(world, node, 1800)
    st = node.status()
    assert st.state == "running" and container(world).info.state == "running"
    assert st.worker is not None and st.worker.paused_until is None
    assert store.prefs.paused_until is None and world.platform.heartbeats[-1]["state"] == "running"


def test_resume_ends_a_timed_pause_and_the_user_pauses_replace_each_other(
    world: World, tmp_path: Path
) -> None:
    node, store = _paused(world, tmp_path, 3600)
    result = node.resume()
    assert result.state == "running" and not result.already
    assert container(world).info.state == "running" and store.prefs.paused_until is None
    assert node.resume().already
    node.pause()  # open-ended, then for a while: the worker stays frozen throughout
    timed = node.pause(600)
    assert not timed.already and "(no longer until you resume)" in timed.message
    st = node.status()
    assert st.reason == f"paused until {_hhmm(world.clock.t + 600)}"
    assert container(world).info.state == "paused"
    assert world.store.data["membership"]["desired"] == "running"  # type: ignore[index]
    again = node.pause()  # and back to open-ended
    assert not again.already and container(world).info.state == "paused"
    assert again.message.startswith("paused until you resume (no longer until ")
    st = node.status()
    assert st.reason == "paused by the user" and st.worker is not None
    assert st.worker.paused_until is None and store.prefs.paused_until is None
    assert [r.code for r in st.worker.reasons] == ["paused_by_you"]
    _tick_after(world, node, 900)
    assert node.status().state == "paused" and container(world).info.state == "paused"
    assert node.resume().state == "running" and container(world).info.state == "running"


def test_a_timed_pause_reads_the_same_right_after_an_agent_restart(
    world: World, tmp_path: Path
) -> None:
    node, store = _paused(world, tmp_path, 3600)
    until = world.clock.t + 3600
    node.close()
    _restarted_paused_until(world, store, tmp_path, until)


def test_a_state_file_that_kept_the_timed_pause_in_the_membership_still_counts_down(
    world: World, tmp_path: Path
) -> None:
    node, store = _paused(world, tmp_path)
    node.close()
    until = world.clock.t + 600  # as an agent before this one wrote it
    m = world.store.data["membership"]  # type: ignore[index]
    m.update(paused_until=until, pause_reason=f"paused until {_hhmm(until)}")
    again = _restarted_paused_until(world, store, tmp_path, until)
    assert "paused_until" not in world.store.data["membership"]  # type: ignore[index]
    _tick_after(world, again, 600)
    assert again.status().state == "running" and container(world).info.state == "running"


def test_the_trays_dialog_keeps_a_timed_pause_and_leaving_the_pool_ends_it(
    world: World, tmp_path: Path
) -> None:
    node, store = _paused(world, tmp_path, 3600)
    flat = node.set_prefs({"cpu": "50%"})  # the dialog's table has no paused_until
    assert flat["paused_until"] != "off" and node.status().state == "paused"
    node.stop()
    assert store.prefs.paused_until is None  # leaving ends everything of the pool
    world.join(node)
    assert node.status().state == "running"


def test_a_second_timed_pause_moves_the_one_deadline_and_says_so(
    world: World, tmp_path: Path
) -> None:
    node, store = _paused(world, tmp_path, 90)
    later = node.pause(26 * 3600)
    assert not later.already and later.message.startswith("pause moved: paused until ")
    day = dt.datetime.fromtimestamp(world.clock.t + 26 * 3600).strftime("%H:%M")
    st = node.status()
    assert st.worker is not None
    # one deadline, with its day, in every place that shows it
    assert st.reason == f"paused until tomorrow {day}"  # 26 h away: never just "02:16"
    (reason,) = st.worker.reasons
    assert reason.text == "paused by you " + st.reason.removeprefix("paused ")
    assert st.worker.paused_until == store.prefs.paused_until.timestamp()  # type: ignore[union-attr]
    same = node.pause(26 * 3600)
    assert same.already and same.message == "already " + st.reason


def test_compute_anyway_sets_the_rules_aside_until_a_pause_of_your_own(
    world: World, tmp_path: Path
) -> None:
    node, _, host = make(world, MemoryPrefs(), tmp_path)
    world.join(node)
    node.set_pref("idle_only", "on")
    node.set_pref("schedule", "mon 03:00-04:00")  # outside it now, too
    host.idle = 10.0
    _tick_after(world, node, 1)
    assert node.status().state == "paused"
    node.set_pref("run_anyway", "on")
    assert node.resume().state == "running"
    _tick_after(world, node, 1)
    st = node.status()
    assert st.state == "running" and container(world).info.state == "running"
    (note,) = [r for r in st.worker.reasons if r.code == "run_anyway"]  # type: ignore[union-attr]
    assert note.text.startswith("computing anyway until you pause: your rules are set aside (")
    assert "computer in use" in note.text and "outside your schedule" in note.text
    node.pause()  # a pause of your own ends it
    assert node.prefs()["run_anyway"] == "off"
    node.resume()
    _tick_after(world, node, 1)
    assert node.status().state == "paused"  # the rules hold the worker again


def test_compute_anyway_for_a_while_ends_by_itself(world: World, tmp_path: Path) -> None:
    node, _, host = make(world, MemoryPrefs(), tmp_path)
    world.join(node)
    node.set_pref("idle_only", "on")
    host.idle = 10.0
    _tick_after(world, node, 1)
    node.set_pref("run_anyway", "1h")
    _tick_after(world, node, 1)
    assert node.status().state == "running"
    _tick_after(world, node, 3600)
    assert node.status().state == "paused" and container(world).info.state == "paused"
