"""A join that declares more than the pool's maxima per device: the Node (over fake overlay and
runtime, with the real platform on loopback through `HttpPlatform`) reports the platform's
message naming the limit, and leaves nothing behind: no network, no container, no membership,
and the join token's use unspent."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalavai_like.agent.composition import HttpPlatform, PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.client.platform import PlatformClient
from kalavai_like.client.records import JoinRequest
from kalavai_like.errors import InvalidInput
from kalavai_like.net import generate_keypair
from kalavai_like.platform.local import start_local_platform
from tests.support.agent_fakes import World
from tests.support.platform_api import unique

GIB = 2**30


def test_join_beyond_the_pools_maxima_names_the_limit_and_leaves_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    with start_local_platform(tmp_path / "platform") as server:
        anon = PlatformClient(server.url)
        anon.signup("owner@bounds.example", "password-123")
        api_token = anon.login("owner@bounds.example", "password-123")["token"]
        with PlatformClient(server.url, api_token) as owner:
            pool = owner.create_pool(unique("small"), "dask", {}, True,
                                     device_limits={"memory_bytes": GIB})  # fmt: skip
            HttpPlatform().register_hub(server.url, api_token, pool["id"],
                                        public_key=generate_keypair().public,
                                        endpoint="198.18.0.2:51820")  # fmt: skip
            token = owner.create_token(pool["id"], 1, 3600)["token"]
            cfg = NodeConfig(prefix="kt6", state_dir=tmp_path, device_name="vol1")
            node = Node(
                cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
                platform=HttpPlatform(), store=world.store, wall=world.clock,
            )  # fmt: skip

            with pytest.raises(InvalidInput) as failed:
                node.join(JoinRequest(token, api_token, cpus=1, memory_bytes=2 * GIB))
            check = owner.check_token(token)

    assert failed.value.title == "Join failed while registering"
    assert (
        "This pool accepts devices of at most 1G of memory; this one declares 2G of memory."
        in failed.value.message
    )
    assert "Everything the join set up was removed." in failed.value.message
    assert world.leftovers() == []
    status = node.status()
    assert status.state == "idle" and status.worker is None
    assert status.reason == "last join failed: Device over the pool's limit"
    assert (check["status"], check["used"]) == ("valid", 0)
