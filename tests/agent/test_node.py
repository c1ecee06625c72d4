"""The Node's state machine over fakes: join, pause/resume, stop, restart adoption, rollback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.client.records import JoinRequest, StartPoolRequest
from kalavai_like.errors import (
    Conflict,
    KalavaiError,
    NotFound,
    PlatformUnavailable,
    SystemProblem,
    TokenError,
)
from kalavai_like.net import generate_keypair
from tests.support.agent_fakes import URL, World


def test_join_runs_worker_and_first_heartbeat_is_acked(world: World) -> None:
    node = world.node()
    steps: list[str] = []
    req = JoinRequest(world.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30)
    result = node.join(req, lambda s: steps.append(s.text))
    assert result.address == "10.77.0.2"
    assert any(s.startswith("Token format is correct") for s in steps)
    assert "Using 10.77.0.2 address for worker" in steps
    assert steps[-1].startswith("First heartbeat acknowledged")
    st = node.status()
    assert st.state == "running" and st.worker is not None
    assert st.worker.container_state == "running" and st.worker.acked_seq >= 1
    assert world.platform.heartbeats[-1]["state"] == "running"
    with pytest.raises(Conflict):
        world.join(node)


def test_pause_freezes_and_stops_accrual_resume_continues(world: World) -> None:
    node = world.node()
    world.join(node)
    world.clock.t += 10
    node.pause()
    (c,) = world.runtime.containers.values()
    assert c.info.state == "paused"
    before = node.status().worker.totals.cpu_seconds  # type: ignore[union-attr]
    assert before == pytest.approx(10.0)
    world.clock.t += 100
    node.tick()  # sample while paused
    node.wakeup.set()
    node.tick()
    assert node.status().worker.totals.cpu_seconds == pytest.approx(before)  # type: ignore[union-attr]
    assert world.platform.heartbeats[-1]["state"] == "paused"
    assert node.pause().already
    node.resume()
    world.clock.t += 5
    node.wakeup.set()
    node.tick()
    assert node.status().worker.totals.cpu_seconds == pytest.approx(15.0)  # type: ignore[union-attr]
    assert world.platform.heartbeats[-1]["state"] == "running"


def test_live_cores_are_a_rate_over_the_sample_window_not_the_last_sliver(world: World) -> None:
    cfg = NodeConfig(prefix="kt12", state_dir=world.tmp, device_name="vol1")
    node = Node(
        cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
        platform=world.platform, store=world.store, wall=world.clock, mono=world.clock,
    )  # fmt: skip
    world.join(node)  # the fake worker burns exactly the 1 core it was lent
    (c,) = world.runtime.containers.values()
    world.clock.t += 5
    node.wakeup.set()
    node.tick()
    assert node.status().worker.live_cpu_cores == pytest.approx(1.0)  # type: ignore[union-attr]
    world.clock.t += 0.01  # the next sample comes a moment later...
    c.cpu_seconds += 0.01  # ...and the cgroup's accounting caught up a little meanwhile
    node.wakeup.set()
    node.tick()
    live = node.status().worker.live_cpu_cores  # type: ignore[union-attr]
    assert live == pytest.approx(1.0, abs=0.01)  # not 2 cores out of the one lent
    node.pause()
    assert node.status().worker.live_cpu_cores == 0.0  # type: ignore[union-attr]


def test_platform_desired_paused_is_applied(world: World) -> None:
    node = world.node()
    world.join(node)
    (dev,) = [d for d in world.platform.devices.values()]
    dev.desired_state = "paused"
    node.wakeup.set()
    node.tick()
    assert node.status().state == "paused"
    dev.desired_state = "running"
    node.wakeup.set()
    node.tick()
    assert node.status().state == "running"


def test_resume_on_the_machine_withdraws_the_platforms_pause(world: World) -> None:
    node = world.node()
    world.join(node)
    (dev,) = [d for d in world.platform.devices.values()]
    dev.desired_state = "paused"  # Pause on the web's "My devices" card
    node.wakeup.set()
    node.tick()
    assert node.status().state == "paused"
    node.resume()  # `pool resume` on the machine
    node.tick()
    assert node.status().state == "running"
    assert dev.desired_state == "running"  # the card no longer says "Pause requested"
    node.wakeup.set()
    node.tick()
    assert node.status().state == "running"


def test_stop_leaves_nothing_and_is_idempotent(world: World) -> None:
    node = world.node()
    world.join(node)
    world.clock.t += 3
    result = node.stop()
    assert not result.already and not result.warnings
    assert world.leftovers() == []
    (dev,) = world.platform.devices.values()
    assert dev.left and world.platform.heartbeats[-1]["state"] == "leaving"
    assert world.platform.heartbeats[-1]["counters"]["cpu_seconds"] == pytest.approx(3.0)
    assert node.stop().message == "already stopped"
    assert node.status().state == "idle"
    with pytest.raises(NotFound):
        node.pause()


def test_restart_adopts_without_duplicate_or_gap(world: World) -> None:
    node = world.node()
    world.join(node)
    world.clock.t += 10
    node.tick()
    address = node.status().worker.address  # type: ignore[union-attr]
    node.close()  # the agent dies; the container and overlay keep running
    world.clock.t += 20
    again = world.node()
    again.restore()
    assert len(world.runtime.containers) == 1
    st = again.status()
    assert st.state == "running" and st.worker is not None and st.worker.address == address
    assert st.worker.totals.cpu_seconds == pytest.approx(30.0)  # the down time counted too


def test_restart_keeps_pause(world: World) -> None:
    node = world.node()
    world.join(node)
    node.pause()
    node.close()
    again = world.node()
    again.restore()
    assert again.status().state == "paused"
    (c,) = world.runtime.containers.values()
    assert c.info.state == "paused"


@pytest.mark.parametrize("case", ["bad_token", "platform_down", "hub_unreachable", "image_missing"])
def test_failed_join_rolls_back(tmp_path: Path, case: str) -> None:
    world = World(
        tmp_path,
        reachable=case != "hub_unreachable",
        images=() if case == "image_missing" else None,
    )
    node = world.node()
    token = world.platform.mint()
    if case == "bad_token":
        token = token[:-3] + "xyz"
    if case == "platform_down":
        world.platform.down = True
    with pytest.raises(KalavaiError) as info:
        world.join(node, token)
    err = info.value
    assert err.title.startswith("Join failed while")
    assert "removed" in err.message
    expected = {
        "bad_token": TokenError, "platform_down": PlatformUnavailable,
        "hub_unreachable": SystemProblem, "image_missing": SystemProblem,
    }[case]  # fmt: skip
    assert isinstance(err, expected)
    assert world.leftovers() == []
    assert all(d.left for d in world.platform.devices.values())
    assert world.store.data is None or world.store.data["membership"] is None
    assert node.status().state == "idle"


def test_seed_starts_hub_and_follows_peers(world: World) -> None:
    seed = world.node()
    req = StartPoolRequest(URL, world.platform.pool["id"], "klu_x", "198.18.0.2:51820")
    res = seed.start_pool(req)
    assert res.address == "10.77.0.1" and not res.already
    assert seed.start_pool(req).already
    # a device redeems: the follower must put its key on the hub within the long-poll
    key = generate_keypair().public
    world.platform.redeem(URL, "klu_x", token=world.platform.mint(), public_key=key, name="v")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        (hub,) = world.overlay.hubs.values()
        if key in hub.peers:
            break
        time.sleep(0.01)
    assert key in hub.peers and hub.peers[key].address.endswith("/32")
    assert seed.status().seed.peers_version >= 1  # type: ignore[union-attr]
    seed.stop()
    assert world.overlay.hubs == {} and world.runtime.containers == {}


def test_crashed_worker_is_restarted_and_counting_continues_then_gives_up(tmp_path: Path) -> None:
    world = World(tmp_path)
    cfg = NodeConfig(prefix="kt6", state_dir=tmp_path, restart_backoff=0.0, max_crashes=3,
                     check_interval=0.0, sample_interval=0.0)  # fmt: skip
    node = Node(cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
                platform=world.platform, store=world.store, wall=world.clock)  # fmt: skip
    world.join(node)
    world.clock.t += 10
    node.tick()  # samples the 10 s before the crash
    (first,) = world.runtime.containers
    world.runtime.crash(first, exit_code=3, log_line="boom")
    node.tick()  # sees the crash, backs off (0 s)
    node.tick()  # restarts
    (second,) = world.runtime.containers
    assert second != first and node.status().state == "running"
    world.clock.t += 5
    node.tick()
    assert node.status().worker.totals.cpu_seconds == pytest.approx(15.0)  # type: ignore[union-attr]
    for _ in range(2):
        (cid,) = world.runtime.containers
        world.runtime.crash(cid, exit_code=3, log_line="boom")
        node.tick()
        node.tick()
    st = node.status()
    assert st.state == "error" and "crashed 3 times" in st.reason
    assert any(c.code == "worker_crashed" for c in st.conditions)
    node.stop()
    assert world.leftovers() == []


def test_a_timed_pause_needs_the_preferences(world: World) -> None:
    node = world.node()  # built without a policy: no preferences, so no timed pause
    world.join(node)
    with pytest.raises(SystemProblem, match="Preferences unavailable"):
        node.pause(60)
    assert node.status().state == "running"


def test_the_nodes_parts_touch_no_private_state_but_their_own() -> None:
    import ast

    import kalavai_like.agent.node as package

    for path in Path(package.__file__).parent.glob("*.py"):
        for n in ast.walk(ast.parse(path.read_text())):
            if isinstance(n, ast.Attribute) and n.attr.startswith("_") and n.attr[1] != "_":
                own = isinstance(n.value, ast.Name) and n.value.id == "self"
                assert own, f"{path.name}:{n.lineno} reaches into another part's {n.attr}"


def test_a_failed_join_names_the_step_that_failed_not_the_last_that_worked(
    world: World,
) -> None:
    world.platform.pool.update(template="generic", params={})  # no image: unusable
    node = world.node()
    with pytest.raises(KalavaiError) as info:
        world.join(node)
    assert info.value.title == "Join failed while preparing the worker container"
    assert "No image" in info.value.message and "removed" in info.value.message
    assert world.leftovers() == []
