"""Keeps tests/support/agent_fakes.FakePlatform honest: the same assertions run against it and
against the real platform server on loopback through `HttpPlatform`, the agent's real port."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.agent.composition import HttpPlatform
from kalavai_like.client.platform import PlatformClient
from kalavai_like.errors import AuthError, TokenError
from kalavai_like.net import generate_keypair
from tests.support.agent_fakes import URL, FakePlatform


class Side:
    """One platform under test: its port, URL, an owner's API token and a pool id."""

    def __init__(self, port: Any, url: str, api_token: str, pool_id: str, mint: Any) -> None:
        self.port, self.url, self.api_token, self.pool_id, self.mint = (
            port, url, api_token, pool_id, mint,
        )  # fmt: skip


@pytest.fixture(params=["fake", "real"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Side]:
    if request.param == "fake":
        fake = FakePlatform()
        yield Side(fake, URL, "klu_x", fake.pool["id"], fake.mint)
        return
    from kalavai_like.platform.local import start_local_platform

    with start_local_platform(tmp_path / "platform", "127.0.0.1", 0) as server:
        anon = PlatformClient(server.url)
        anon.signup("owner@kt6.example", "password-123")
        token = anon.login("owner@kt6.example", "password-123")["token"]
        owner = PlatformClient(server.url, token)
        pool = owner.create_pool("kt6contract", "dask", {}, False)

        def mint() -> str:
            return str(owner.create_token(pool["id"], 1, 3600)["token"])

        yield Side(HttpPlatform(), server.url, token, pool["id"], mint)


def test_device_lifecycle_contract(side: Side) -> None:
    p = side.port
    hub_key = generate_keypair().public
    hub = p.register_hub(side.url, side.api_token, side.pool_id, public_key=hub_key,
                         endpoint="198.18.0.2:51820")  # fmt: skip
    assert hub["address"].split("/")[0].endswith(".1") and hub["credential"]
    subnet = ipaddress.ip_network(hub["pool"]["subnet"])
    assert ipaddress.ip_address(hub["address"].split("/")[0]) in subnet
    token = side.mint()
    key = generate_keypair().public
    red = p.redeem(side.url, side.api_token, token=token, public_key=key, name="kt6vol",
                   cores=1, memory_bytes=2**30, gpus=0)  # fmt: skip
    assert red["credential"] and red["device"]["id"]
    assert ipaddress.ip_address(red["device"]["address"].split("/")[0]) in subnet
    assert red["hub"]["public_key"] == hub_key and red["hub"]["endpoint"] == "198.18.0.2:51820"
    assert red["worker"]["head_address"].split("/")[0] == hub["address"].split("/")[0]
    with pytest.raises(TokenError) as used:
        p.redeem(side.url, side.api_token, token=token, public_key=generate_keypair().public,
                 name="kt6other", cores=1, memory_bytes=2**30, gpus=0)  # fmt: skip
    assert used.value.reason == "used_up"
    body = {
        "seq": 1,
        "state": "running",
        "counters": {"cpu_seconds": 1.0, "ram_gb_seconds": 0.5, "gpu_seconds": 0.0},
    }
    first = p.heartbeat(side.url, red["credential"], body)
    assert first["seq"] == 1 and not first["duplicate"] and first["desired_state"] == "running"
    assert {"granted", "pending", "unverified", "witnessed"} <= set(first)
    assert first["granted"].get("credit", 0.0) == 0.0  # nothing witnessed, nothing granted
    unwitnessed = first["pending"]["cpu_core_hours"] + first["clamped"].get("cpu_core_hours", 0)
    assert first["witnessed"]["tasks"] == 0 and unwitnessed * 3600 == pytest.approx(1.0)
    assert p.heartbeat(side.url, red["credential"], body)["duplicate"]
    assert p.resumed(side.url, red["credential"])["desired_state"] == "running"
    peers = p.peers(side.url, hub["credential"], 0, 0)
    assert key in {x["public_key"] for x in peers["peers"]}
    p.leave(side.url, red["credential"])
    with pytest.raises(AuthError):
        p.heartbeat(side.url, red["credential"], {**body, "seq": 2})
    after = p.peers(side.url, hub["credential"], 0, 0)
    assert key not in {x["public_key"] for x in after["peers"]}
    assert after["version"] > peers["version"]
