"""Joins that work on any network that can reach the platform over TCP, through the real
binaries: a volunteer whose UDP is blocked goes through the relay, computes and is credited; a
seed behind NAT (`--relay-only`) gets volunteers either way; a lifted block moves the volunteer
back to direct; a relay restart is survived; strangers get nothing through."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from kalavai_like.devtools.demo import run_dask_job
from kalavai_like.net.config import Names
from kalavai_like.net.relay import protocol, route
from tests.e2e.relay.conftest import Relayed, block_udp, lift_block
from tests.support.relay import RawClient
from tests.support.simulator import needs_root_tools
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip


def job(r: Relayed, seed: str, workers: int, tasks: int = 40) -> dict[str, int]:
    """The demo's Dask job on `seed`'s pool; tasks run per worker (device id)."""
    pool = r.pools[seed]
    return run_dask_job(r.sim, pool["head"], pool["address"], workers, tasks=tasks)["per_worker"]  # type: ignore[no-any-return]


def owner_device(r: Relayed, seed: str, device_id: str) -> dict[str, Any]:
    """The device as its pool's owner sees it (`pool workers`)."""
    tokens = json.loads((r.host(seed).home / "state" / "api-tokens.json").read_text())
    (owner,) = tokens.values()
    url = f"{r.sim.platform.url}/api/v1/pools/{r.pools[seed]['pool_id']}/devices"
    got = httpx.get(url, headers={"Authorization": f"Bearer {owner}"}, timeout=30)
    got.raise_for_status()
    return next(d for d in got.json() if d["id"] == device_id)


def test_a_udp_blocked_volunteer_joins_through_the_relay_computes_and_is_credited(
    relayed: Relayed,
) -> None:
    block_udp(relayed.host("v1"), "out")
    relay = f"{relayed.sim.gateway}:{relayed.sim.relay_port}"
    steps = relayed.join("v1", "open")
    assert any(f"No UDP reply from the hub within 1.5 s: connected through the relay at {relay}"
               in s for s in steps), steps  # fmt: skip
    w = relayed.worker("v1")
    assert (w["path"], w["relay"]) == ("relay (UDP blocked)", relay)
    human = relayed.sim.cli(relayed.host("v1"), "pool", "status").stdout
    assert f"relay (UDP blocked) via {relay}" in human
    ran = job(relayed, "open", 1)
    assert ran.get(w["device_id"], 0) == 40, ran
    wait_for(lambda: owner_device(relayed, "open", w["device_id"])["witnessed"]["tasks"] == 40,
             timeout=90, interval=2.0, what="the head's count of v1's tasks reported")  # fmt: skip
    wait_for(lambda: owner_device(relayed, "open", w["device_id"])["totals"]["credit"] > 0,
             timeout=60, interval=2.0, what="v1's witnessed work granted")  # fmt: skip


def test_a_seed_behind_nat_gets_a_direct_capable_and_a_udp_blocked_volunteer(
    relayed: Relayed,
) -> None:
    block_udp(relayed.host("v3"), "out")
    relayed.join("v2", "natted")
    relayed.join("v3", "natted")
    paths = {v: relayed.worker(v)["path"] for v in ("v2", "v3")}
    assert paths == dict.fromkeys(("v2", "v3"), "relay (the hub takes only the relay)")

    def seed() -> dict[str, Any]:
        return relayed.sim.cli_json(relayed.host("natted"), "pool", "status")["seed"]  # type: ignore[no-any-return]

    # the hub learns a peer's relayed endpoint from its first datagram through the relay
    wait_for(lambda: seed()["relayed_peers"] == 2, timeout=40, interval=2.0,
             what="both peers relayed at the hub")  # fmt: skip
    assert seed()["relay_only"]
    ran = job(relayed, "natted", 2)
    devices = [relayed.worker(v)["device_id"] for v in ("v2", "v3")]
    assert all(ran.get(d, 0) > 0 for d in devices) and sum(ran.values()) == 40, ran


def test_the_pool_recovers_when_the_relay_is_restarted(relayed: Relayed) -> None:
    relayed.sim.stop_relay(9)  # SIGKILL: every relayed connection drops at once
    killed = time.monotonic()
    relayed.sim.start_relay()
    ran = wait_for(lambda: _job_or_none(relayed), timeout=120, interval=1.0,
                   what="a Dask job through the restarted relay")  # fmt: skip
    recovered = time.monotonic() - killed
    print(f"relay restart: the natted pool computed again {recovered:.1f} s after the kill")
    assert sum(ran.values()) == 40


def _job_or_none(r: Relayed) -> dict[str, int] | None:
    try:
        ran = job(r, "natted", 2)
    except Exception:
        return None
    return ran if len([n for n in ran.values() if n]) == 2 else None


def test_a_lifted_block_moves_the_volunteer_to_direct_without_leaving(relayed: Relayed) -> None:
    v1 = relayed.host("v1")
    before = relayed.worker("v1")
    lift_block(v1)
    wait_for(lambda: relayed.worker("v1")["path"] == "direct", timeout=60, interval=1.0,
             what="v1 to move to the direct path")  # fmt: skip
    after = relayed.worker("v1")
    assert (after["device_id"], after["address"]) == (before["device_id"], before["address"])
    assert route.running(Names(v1.node_prefix, "wk")) is None  # its bridge is gone
    ran = job(relayed, "open", 1)
    assert ran.get(after["device_id"], 0) == 40, ran


def test_strangers_get_nothing_through_the_relay(relayed: Relayed) -> None:
    natted = relayed.host("natted")
    hub = Names(natted.node_prefix, "hub")
    relay = f"{relayed.sim.gateway}:{relayed.sim.relay_port}"
    seen = set((route.status(hub) or pytest.fail("no hub bridge")).ports)
    hub_address = relayed.pools["natted"]["address"]
    # A device of another pool (v1's, of `open`), with its own valid credential:
    state = json.loads((relayed.host("v1").home / "state" / "agent" / "node.json").read_text())
    m = state["membership"]
    intruder = RawClient(relay)
    intruder.sock.sendall(protocol.auth(m["device_id"], m["credential"], intruder.nonce()))
    intruder.reply()
    intruder.send_data(hub_address, b"x" * 100, count=50)
    # No credential at all: data straight after the nonce.
    anonymous = RawClient(relay)
    anonymous.nonce()
    anonymous.send_data(hub_address, b"y" * 100, count=50)
    assert anonymous.closed_by_relay()
    time.sleep(2)
    assert set((route.status(hub) or pytest.fail("no hub bridge")).ports) == seen
    intruder.close()
