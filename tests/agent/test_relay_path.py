"""The node picks its path to the hub (over fakes): direct where UDP works, the relay where it
does not or the hub takes only the relay, back to direct once UDP works again; and says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.client.records import JoinRequest, StartPoolRequest
from kalavai_like.errors import Conflict, SystemProblem
from kalavai_like.gui.menu import path_words
from kalavai_like.net.fake import FakeNetwork, FakeOverlay
from kalavai_like.usage.metrics import render
from tests.support.agent_fakes import URL, World

RELAY = "198.18.0.1:3478"


def node_of(world: World, tmp: Path, overlay: FakeOverlay | None = None, **tuned: float) -> Node:
    cfg = NodeConfig(prefix="kt6", state_dir=tmp, device_name="vol1", **tuned)  # type: ignore[arg-type]
    return Node(
        cfg, overlay=overlay or world.overlay, runtime=world.runtime, templates=PoolTemplates(),
        platform=world.platform, store=world.store, wall=world.clock,
    )  # fmt: skip


def join(world: World, node: Node) -> list[str]:
    steps: list[str] = []
    req = JoinRequest(world.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30)
    node.join(req, lambda s: steps.append(s.text))
    return steps


def test_udp_blocked_joins_through_the_relay_and_says_so(world: World) -> None:
    world.platform.relay_address = RELAY
    world.overlay.udp_blocked = True
    node = world.node()
    steps = join(world, node)
    assert f"Joining private network (hub 198.18.0.2:51820, relay {RELAY})" in steps
    assert (
        "No UDP reply from the hub within 1.5 s: connected through the relay at "
        f"{RELAY} instead (first WireGuard handshake done)"
    ) in steps
    w = node.status().worker
    assert w is not None and (w.path, w.relay) == ("relay (UDP blocked)", RELAY)
    assert path_words(w) == f"Connected through the relay {RELAY} (UDP blocked)"
    metrics = render(node.status().to_dict())
    assert (
        f'kalavai_like_relayed{{pool="demo",device="{w.device_id}",relay="{RELAY}"}} 1' in metrics
    )


def test_direct_where_udp_works_even_with_a_relay(world: World) -> None:
    world.platform.relay_address = RELAY
    node = world.node()
    join(world, node)
    w = node.status().worker
    assert w is not None and (w.path, w.relay) == ("direct", "")
    assert path_words(w) == "Connected directly"


def test_udp_blocked_without_a_relay_fails_and_leaves_nothing(world: World) -> None:
    world.overlay.udp_blocked = True
    node = world.node()
    with pytest.raises(SystemProblem, match="No handshake"):
        join(world, node)
    assert world.leftovers() == [] and all(d.left for d in world.platform.devices.values())


def test_relayed_worker_moves_back_to_direct_when_udp_works(world: World, tmp_path: Path) -> None:
    world.platform.relay_address = RELAY
    world.overlay.udp_blocked = True
    node = node_of(world, tmp_path, check_interval=0.0, direct_probe_interval=0.0)
    join(world, node)
    node.tick()
    assert node.status().worker.path == "relay (UDP blocked)"  # type: ignore[union-attr]
    world.overlay.udp_blocked = False  # the network lets UDP out again
    node.tick()
    assert node.status().worker.path == "direct"  # type: ignore[union-attr]


def test_relay_only_hub_sends_workers_to_the_relay_at_once(world: World, tmp_path: Path) -> None:
    world.platform.relay_address = RELAY
    seed = node_of(world, tmp_path / "seed")
    req = StartPoolRequest(URL, world.platform.pool["id"], "klu_x", "198.18.0.2:51820", True)
    res = seed.start_pool(req)
    assert (res.relay, res.relay_only) == (RELAY, True)
    assert world.platform.hub is not None and world.platform.hub["relay_only"]
    elsewhere = FakeOverlay(network=FakeNetwork())  # another host, whose UDP would work
    volunteer = node_of(world, tmp_path / "vol", elsewhere, check_interval=0.0,
                        direct_probe_interval=0.0)  # fmt: skip
    join(world, volunteer)
    volunteer.tick()  # a relay-only hub is never probed for UDP
    w = volunteer.status().worker
    assert w is not None and w.path == "relay (the hub takes only the relay)"


def test_relay_only_pool_start_without_a_relay_is_refused(world: World) -> None:
    seed = world.node()
    req = StartPoolRequest(URL, world.platform.pool["id"], "klu_x", "198.18.0.2:51820", True)
    with pytest.raises(Conflict, match="No relay"):
        seed.start_pool(req)
    assert world.overlay.hubs == {} and all(d.left for d in world.platform.devices.values())
