"""What docs/DEPLOY.md ("The seed") tells an operator, held to the code: the hub listens on the
port of its --endpoint (so a NAT forward must keep the port number), `pool start` picks UDP
51820 without --endpoint, and volunteers keep their path to the hub open every 25 s."""

from __future__ import annotations

from kalavai_like.cli.pool.membership import DEFAULT_PORT
from kalavai_like.client.records import StartPoolRequest
from tests.support import REPO
from tests.support.agent_fakes import URL, World

DEPLOY = (REPO / "docs" / "DEPLOY.md").read_text()


def test_the_hub_listens_on_its_endpoints_port(world: World) -> None:
    seed = world.node()
    endpoint = "seed.example.org:41641"
    res = seed.start_pool(StartPoolRequest(URL, world.platform.pool["id"], "klu_x", endpoint))
    assert res.endpoint == endpoint
    (hub,) = world.overlay.hubs.values()
    assert hub.cfg.listen_port == 41641
    seed.stop()


def test_the_seed_section_gives_the_default_port_and_the_keepalive(world: World) -> None:
    assert DEFAULT_PORT == 51820 and "(51820 unless" in DEPLOY
    world.join(world.node())
    (spoke,) = world.overlay.spokes.values()  # the volunteer's side, as the agent made it
    assert spoke.cfg.keepalive == 25
    assert "keepalive every 25 s" in DEPLOY
