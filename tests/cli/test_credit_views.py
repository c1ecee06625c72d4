"""`credits`, `pool status` and `pool workers` say what is what: granted (witnessed), pending
and unverified in the same words, who witnessed a pool's credit, and which device claims far
above its witness. The real `kalavai-like` binary against the real platform on loopback, with
witness reports from the pools' hubs."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.client.credit import LEGEND, parts_text, witnessed_text
from tests.support.cli import Cli, make_cli, signed_up
from tests.support.operator import make_operator
from tests.support.platform_api import Api, User, credited_device

WIDE = {"cores": 4096}  # the pools' device limits: claims need not wait for the clock
PASSWORD = "password1"  # what tests.support.cli.signed_up signs up with


def one_line(text: str) -> str:
    return " ".join(text.split())


def cells(line: str) -> list[str]:
    """The cells of one row of a table the CLI printed."""
    return [one_line(c) for c in line.split("│")[1:-1]]


def cli_user(tmp_path: Path, api: Api, name: str) -> tuple[Cli, User]:
    """A home logged in to the platform through the CLI, and the same account for the API."""
    cli = make_cli(tmp_path, name)
    email = signed_up(cli, api.url, name)
    return cli, api.log_in(email, PASSWORD)


def test_credits_tells_granted_pending_and_unverified_and_who_witnessed(
    tmp_path: Path, local_platform: Any
) -> None:
    api = Api(local_platform.url)
    cli, me = cli_user(tmp_path, api, "giver")
    owner = api.user()
    owned = api.pool(owner, public=True, device_limits=WIDE)  # witnessed by its owner's head
    trusted = api.pool(owner, public=True, device_limits=WIDE)
    generic = api.pool(owner, template="generic", public=True, device_limits=WIDE)
    operator = api.user()
    make_operator(local_platform, operator.email)
    assert operator.post(f"/api/v1/operator/pools/{trusted['id']}/trust").status_code == 200
    for pool, witness in ((owned, 3.6), (trusted, 7.2)):
        hub = api.hub(owner, pool)["credential"]
        credited_device(api, me, owner, pool, 10.8, (hub, witness, 20))
    credited_device(api, me, owner, generic, 3.6)  # no witness: unverified

    r = cli("credits", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    truth = me.get("/api/v1/credit/me").json()
    for part in ("measured", "granted", "pending", "unverified", "counted"):
        assert report[part] == pytest.approx(truth[part], rel=1e-4), part  # the average decays
    assert report["granted"]["credit"] > 0 and report["pending"]["credit"] > 0
    assert report["unverified"]["credit"] == pytest.approx(0.001)  # 3.6 core-s, 1 per core-h
    assert 0 < report["counted"]["credit"] < report["granted"]["credit"]  # the trusted pool's
    pools = {p["pool"]["name"]: p for p in report["pools"]}
    assert [pools[p["name"]]["witness"] for p in (owned, trusted, generic)] == [
        "owner", "trusted", "none"
    ]  # fmt: skip
    assert pools[generic["name"]]["granted"]["credit"] == 0
    assert pools[owned["name"]]["granted"]["credit"] == pytest.approx(3.6 * 1.05 / 3600)
    assert report["owner_witnessed"] == pytest.approx(pools[owned["name"]]["granted"]["credit"])
    assert report["not_acknowledged"] is None  # no agent runs for this home

    human = one_line(cli("credits").stdout)
    assert f"Credit {parts_text(report)} (measured " in human
    assert "RAM GiB-hours granted 0.0000" in human  # the unit every view names RAM-hours in
    assert one_line(LEGEND) in human
    assert ("pending: measured, not yet witnessed by the pool's head; unverified: never "
            "witnessed, or a pool without a witness — not on the leaderboard") in human  # fmt: skip
    by_owner = pools[owned["name"]]["granted"]["credit"]
    assert f"Of it granted {by_owner:.4f} credit witnessed by the pool's owner" in human
    assert f"On the leaderboard {report['counted']['credit']:.4f} credit" in human
    for pool, words in ((owned, "witnessed by the pool's owner"),
                        (trusted, "witnessed by the pool's head"),
                        (generic, "no witness: credit unverified")):  # fmt: skip
        row = next(line for line in cli("credits").stdout.splitlines() if pool["name"] in line)
        assert words in row, row


def owned_pool(tmp_path: Path, local_platform: Any) -> tuple[Api, Any, Any, dict[str, Any], str]:
    """The platform, its owner's CLI, the owner, a pool of theirs and its hub's credential."""
    api = Api(local_platform.url)
    cli, owner = cli_user(tmp_path, api, "owner")
    pool = api.pool(owner, device_limits=WIDE)
    return api, cli, owner, pool, api.hub(owner, pool)["credential"]


def test_pool_workers_shows_the_witness_and_flags_claims_far_above_it(
    tmp_path: Path, local_platform: Any
) -> None:
    api, cli, owner, pool, hub = owned_pool(tmp_path, local_platform)
    vol = api.user()
    honest = credited_device(api, vol, owner, pool, 7.2, (hub, 7.2, 20))
    forger = credited_device(api, vol, owner, pool, 5000.0)  # a core-hour and more, unseen
    small = credited_device(api, vol, owner, pool, 100.0)  # unseen, but too little to tell
    names = {d["device"]["id"]: d["device"]["name"] for d in (honest, forger, small)}

    r = cli("pool", "workers", pool["name"], "--json")
    assert r.returncode == 0, r.stderr
    listed = {names[d["id"]]: d for d in json.loads(r.stdout)}
    flags = {name: d["claims_far_above_witness"] for name, d in listed.items()}
    assert flags == {names[honest["device"]["id"]]: False, names[forger["device"]["id"]]: True,
                     names[small["device"]["id"]]: False}  # fmt: skip
    seen = listed[names[honest["device"]["id"]]]["witnessed"]
    assert seen["tasks"] == 20 and seen["ratio"] == pytest.approx(1.0)

    r = cli("pool", "workers", pool["name"])
    assert r.returncode == 0, r.stderr
    rows = {name: cells(line) for line in r.stdout.splitlines()
            for name in listed if name in line}  # fmt: skip
    assert "Witnessed / measured" in one_line(r.stdout)
    assert rows[names[honest["device"]["id"]]][-2:] == [witnessed_text(seen), "100 %"]
    assert rows[names[small["device"]["id"]]][-2:] == ["0 tasks, 0.0 core-s", "0 %"]
    flagged = rows[names[forger["device"]["id"]]][-1]
    assert flagged.startswith("0 %") and "claims far above its witness" in flagged
    assert "claims far above its witness" in one_line(r.stderr)
    assert names[forger["device"]["id"]] in r.stderr
    assert names[small["device"]["id"]] not in r.stderr


@pytest.fixture
def agent_on_platform(tmp_path: Path, local_platform: Any) -> Iterator[dict[str, Any]]:
    """A Node (fake overlay and runtime, the real platform through the agent's HTTP port)
    behind a real LocalAPI, joined to a dask pool whose hub the test drives."""
    from kalavai_like.agent.composition import HttpPlatform
    from kalavai_like.agent.localapi import LocalAPIServer
    from kalavai_like.client.records import JoinRequest
    from tests.support.agent_fakes import World

    api = Api(local_platform.url)
    owner, vol = api.user(), api.user()
    pool = api.pool(owner)
    hub = api.hub(owner, pool)["credential"]
    world = World(tmp_path / "agent")
    world.platform = HttpPlatform()  # type: ignore[assignment]
    world.clock.t = time.time()
    node = world.node()
    run = Path(tempfile.mkdtemp(prefix="kt-credit-"))  # a short path for the socket
    server = LocalAPIServer(run / "agent.sock", node).start()
    try:
        node.join(JoinRequest(api.token(owner, pool)["token"], vol.credential, cpus=1,
                              memory_bytes=2**30))  # fmt: skip
        yield {"api": api, "owner": owner, "pool": pool, "hub": hub, "node": node,
               "world": world, "socket": run / "agent.sock"}  # fmt: skip
    finally:
        server.close()
        node.close()
        shutil.rmtree(run, ignore_errors=True)


def test_pool_status_shows_the_platforms_last_answer_and_the_witness(
    tmp_path: Path, agent_on_platform: dict[str, Any]
) -> None:
    a = agent_on_platform
    node, world, api = a["node"], a["world"], a["api"]

    def beat() -> None:
        world.clock.t += 1.0
        node.wakeup.set()
        node.tick()

    cli = make_cli(tmp_path, "vol")
    env = {"KALAVAI_LIKE_AGENT_SOCKET": str(a["socket"])}
    before = one_line(cli("pool", "status", env=env).stdout)  # the join sent a heartbeat
    assert "Witnessed 0 tasks, 0.0 core-s by the pool's head" in before
    for _ in range(3):
        beat()
    device_id = node.status().worker.device_id
    from tests.support.platform_api import new_epoch, seen

    api.witness(a["hub"], new_epoch(), 1, seen(device_id, 2.0, tasks=5, threads=1))
    beat()  # the answer to this heartbeat carries the witness
    (view,) = [d for d in a["owner"].get(f"/api/v1/pools/{a['pool']['id']}/devices").json()
               if d["id"] == device_id]  # fmt: skip

    r = cli("pool", "status", "--json", env=env)
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout)["worker"]
    assert w["granted"] == pytest.approx(view["totals"])
    assert w["platform_pending"] == pytest.approx(view["pending"])
    assert w["unverified"] == pytest.approx(view["unverified"])
    flat = dict(view["witnessed"])
    flat.update(flat.pop("results"))  # the agent's record is flat
    assert w["witnessed"] == pytest.approx(flat)
    assert w["witnessed"]["tasks"] == 5 and w["granted"]["credit"] > 0

    human = one_line(cli("pool", "status", env=env).stdout)
    parts = {"granted": view["totals"], "pending": view["pending"],
             "unverified": view["unverified"]}  # fmt: skip
    assert f"Credit {parts_text(parts)} (the platform's last answer)" in human
    assert f"Witnessed {witnessed_text(view['witnessed'])} by the pool's head" in human
    assert "Witnessed 5 tasks," in human


def test_pool_status_shows_the_devices_reliability_record(
    tmp_path: Path, agent_on_platform: dict[str, Any]
) -> None:
    a = agent_on_platform
    node, world, api = a["node"], a["world"], a["api"]
    world.clock.t += 1.0
    node.tick()
    device_id = node.status().worker.device_id
    from tests.support.platform_api import new_epoch, seen

    judged = {**seen(device_id, 0.5, connected=1.0, tasks=6, threads=1),
              "invalid_compute_seconds": 0.25,
              "results": {"valid": 3, "invalid": 2, "errors": 1}}  # fmt: skip
    api.witness(a["hub"], new_epoch(), 1, judged)
    world.clock.t += 1.0
    node.wakeup.set()
    node.tick()  # the answer to this heartbeat carries the record
    env = {"KALAVAI_LIKE_AGENT_SOCKET": str(a["socket"])}
    cli = make_cli(tmp_path, "vol")
    w = json.loads(cli("pool", "status", "--json", env=env).stdout)["worker"]["witnessed"]
    assert (w["valid"], w["invalid"], w["errors"]) == (3, 2, 1)
    human = one_line(cli("pool", "status", env=env).stdout)
    assert "results 3 valid, 2 invalid (" in human  # its compute: within what it could do
    assert "core-s not granted), 1 error by the pool's head" in human


def test_pool_workers_shows_each_workers_reliability_record(
    tmp_path: Path, local_platform: Any
) -> None:
    api, cli, owner, pool, hub = owned_pool(tmp_path, local_platform)
    liar = credited_device(api, api.user(), owner, pool, 100.0)
    from tests.support.platform_api import new_epoch, seen

    judged = {**seen(liar["device"]["id"], 0.5, connected=1.0, tasks=4, threads=4096),
              "results": {"valid": 1, "invalid": 3}, "invalid_compute_seconds": 0.5}  # fmt: skip
    api.witness(hub, new_epoch(), 1, judged)
    (row,) = json.loads(cli("pool", "workers", pool["name"], "--json").stdout)
    assert row["witnessed"]["results"] == {"valid": 1, "invalid": 3, "errors": 0,
                                           "invalid_compute_seconds": 0.5}  # fmt: skip
    r = cli("pool", "workers", pool["name"])
    assert "Results" in one_line(r.stdout)  # valid / invalid / errors
    (line,) = [x for x in r.stdout.splitlines() if liar["device"]["name"] in x]
    assert cells(line)[-3] == "1 / 3 / 0"
