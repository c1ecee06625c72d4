"""An agent killed in the middle of a join or a pool start: the next agent undoes what it left
(namespace, WireGuard, container, the device at the platform), so the next join works. An agent
stopped gracefully freezes its worker, and the next one thaws it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kalavai_like.agent.node import Node
from kalavai_like.client.records import StartPoolRequest
from kalavai_like.errors import SystemProblem
from tests.support.agent_fakes import URL, World


class Killed(BaseException):
    """The agent dies here: no handler of the node runs (kill -9 runs none either)."""


def die_after(obj: object, method: str) -> None:
    """`obj.method` does its work, then the agent dies."""
    real: Callable[..., Any] = getattr(obj, method)

    def dying(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise Killed

    setattr(obj, method, dying)


def revive(*objs: object) -> None:
    """The next agent's ports work again."""
    for obj in objs:
        for method in ("up_spoke", "ensure"):
            vars(obj).pop(method, None)


def joined_devices(world: World) -> list[str]:
    return [d.id for d in world.platform.devices.values() if not d.left and not d.hub]


@pytest.mark.parametrize("step", ["network", "container"])
def test_a_join_killed_midway_is_undone_by_the_next_agent(world: World, step: str) -> None:
    node = world.node()
    if step == "network":
        die_after(world.overlay, "up_spoke")
    else:
        die_after(world.runtime, "ensure")
    with pytest.raises(Killed):
        world.join(node)
    assert world.leftovers() and joined_devices(world)  # the wreck a crash leaves
    revive(world.overlay, world.runtime)
    again = world.node()
    again.restore()
    assert world.leftovers() == []
    assert joined_devices(world) == []  # out of the hub's peer list
    st = again.status()
    assert st.state == "idle" and "interrupted join was undone" in st.reason
    assert world.store.data is not None and world.store.data["unfinished"] == []
    world.join(again)
    assert again.status().state == "running"


def test_what_the_platform_could_not_take_back_is_retried(world: World) -> None:
    node = world.node()
    die_after(world.runtime, "ensure")
    with pytest.raises(Killed):
        world.join(node)
    revive(world.runtime)
    world.platform.down = True
    again = world.node()
    again.restore()
    assert world.leftovers() == []  # the local parts go at once
    (cond,) = [c for c in again.status().conditions if c.code == "unfinished"]
    assert "device" in cond.text or "credential" in cond.text
    assert "retries" in cond.text
    assert len(joined_devices(world)) == 1
    world.platform.down = False
    world.clock.t += 60
    again.tick()
    assert joined_devices(world) == []
    assert not [c for c in again.status().conditions if c.code == "unfinished"]
    world.join(again)  # and the node joins as if nothing happened


def test_a_failed_join_whose_undo_failed_is_retried(world: World) -> None:
    node = world.node()

    def platform_dies_and_start_fails(*args: Any, **kwargs: Any) -> Any:
        world.platform.down = True
        raise SystemProblem("Worker container did not start", "no such image")

    world.runtime.ensure = platform_dies_and_start_fails  # type: ignore[method-assign]
    with pytest.raises(SystemProblem, match="Join failed"):
        world.join(node)
    assert len(joined_devices(world)) == 1  # the rollback could not reach the platform
    world.platform.down = False
    world.clock.t += 60
    node.tick()
    assert joined_devices(world) == []


def test_a_pool_start_killed_midway_is_undone(world: World) -> None:
    node = world.node()
    die_after(world.runtime, "ensure")
    req = StartPoolRequest(URL, world.platform.pool["id"], "klu_x", "198.18.0.2:51820")
    with pytest.raises(Killed):
        node.start_pool(req)
    assert world.overlay.hubs and world.runtime.containers
    revive(world.runtime)
    again: Node = world.node()
    again.restore()
    assert world.overlay.hubs == {} and world.runtime.containers == {}
    assert all(d.left for d in world.platform.devices.values() if d.hub)
    assert "interrupted pool start was undone" in again.status().reason
    assert not again.start_pool(req).already  # starts afresh


def test_a_stopped_agent_freezes_the_worker_and_the_next_thaws_it(world: World) -> None:
    node = world.node()
    world.join(node)
    world.clock.t += 5
    assert node.freeze() == "demo"
    (c,) = world.runtime.containers.values()
    assert c.info.state == "paused"  # nothing lent while no agent accounts for it
    last = world.platform.heartbeats[-1]
    assert last["state"] == "paused" and last["reason"] == "the agent was stopped"
    node.close()
    again = world.node()
    again.restore()
    assert c.info.state == "running" and again.status().state == "running"
    assert len(world.runtime.containers) == 1
