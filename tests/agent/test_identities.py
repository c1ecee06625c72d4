"""The seed keeps the pool head's identities table (overlay host -> device and user) with the
platform's peer list, where the head's witness reads it for kalavai_redundancy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kalavai_like.agent.seed import PeerFollower, identities_from
from tests.agent.test_witness import SEED
from tests.support.waiting import wait_for

PAYLOAD = {"version": 3, "peers": [
    {"device_id": "a" * 32, "public_key": "K" * 43 + "=", "address": "10.77.0.2",
     "address6": None, "user": "u1"},
    {"device_id": "b" * 32, "public_key": "L" * 43 + "=", "address": "10.77.0.3",
     "address6": None, "user": "u1"},
    {"device_id": "c" * 32, "public_key": "M" * 43 + "=", "address": "10.77.0.4",
     "address6": None},  # an older platform: no user, so never a volunteer of its own
]}  # fmt: skip


class Platform:
    def peers(self, platform: str, credential: str, since: int, wait: float) -> dict[str, Any]:
        return PAYLOAD


class Overlay:
    def set_peers(self, prefix: str, name: str, peers: list[Any]) -> None:
        self.peers = peers


def test_the_head_learns_which_hosts_belong_to_one_user(tmp_path: Path) -> None:
    path = tmp_path / "witness" / "identities.json"
    follower = PeerFollower(SEED, Platform(), Overlay(), wait=0.01, identities=path)  # type: ignore[arg-type]
    follower.start()
    try:
        wait_for(follower.applied.is_set, timeout=10)
    finally:
        follower.stop()
        follower.join(5)  # a stopped follower ends its thread (the agent waits for it)
    assert not follower.is_alive()
    table = json.loads(path.read_text())
    assert table == identities_from(PAYLOAD)
    assert table["hosts"] == {"10.77.0.2": {"device": "a" * 32, "user": "u1"},
                              "10.77.0.3": {"device": "b" * 32, "user": "u1"}}  # fmt: skip
