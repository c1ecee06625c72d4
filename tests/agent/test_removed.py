"""A device its pool's owner removed: the reply to its next heartbeat says so, and the node
removes its worker and its network and forgets the pool, saying why."""

from __future__ import annotations

from tests.support.agent_fakes import World


def test_removed_by_the_owner_cleans_up_on_the_next_heartbeat(world: World) -> None:
    node = world.node()
    world.join(node)
    (dev,) = world.platform.devices.values()
    dev.desired_state = "removed"  # what the platform's reply says once the owner removed it
    node.wakeup.set()
    node.tick()
    st = node.status()
    assert st.state == "idle" and st.worker is None
    assert "removed from pool" in st.reason and "by the pool's owner" in st.reason
    assert world.leftovers() == []
    # the platform let it go already: no "leaving" heartbeat, no deregistering
    assert not dev.left and world.platform.heartbeats[-1]["state"] != "leaving"
    assert node.stop().already
