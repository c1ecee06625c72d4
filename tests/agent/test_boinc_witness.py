"""The project as witness: for a BOINC pool the seed reads each host's credit from the project's
show_user.php (here the stand-in, on loopback), maps hosts to devices by the host name the
worker's container has (its device id) and reports it on the witness path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kalavai_like.agent.boinc_witness import COBBLESTONE_SECONDS, BoincWitness, host_credits
from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.client.records import StartPoolRequest
from kalavai_like.net import generate_keypair
from tests.support.agent_fakes import URL, FakePlatform, World
from tests.support.boinc_project import Host, Project, serve, show_user
from tests.support.waiting import wait_for

KEY = "1_" + "b" * 32


@pytest.mark.parametrize("attach", ["key", "account manager"])
def test_the_seed_reports_the_projects_host_credit_as_the_witness(
    tmp_path: Path, attach: str
) -> None:
    project = Project(account_key=KEY)
    server = serve(project)
    params = {"project_url": project.base, "weak_key": KEY} if attach == "key" else {
        "account_manager_url": project.base.replace("/kn/", "/am/"),
        "account_manager_user": project.am_user, "account_manager_password": project.am_password,
    }  # fmt: skip
    world = World(tmp_path)
    hub = world.platform.hub
    world.platform = FakePlatform("boinc", params)
    world.platform.hub = hub
    cfg = NodeConfig(prefix="kt6", state_dir=tmp_path, witness_interval=0.05,
                     project_poll_interval=0.05)  # fmt: skip
    seed = Node(cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
                platform=world.platform, store=world.store, wall=world.clock)  # fmt: skip
    try:
        seed.start_pool(
            StartPoolRequest(URL, world.platform.pool["id"], "klu_x", "198.18.0.2:51820")
        )
        red = world.platform.redeem(URL, "klu_x", token=world.platform.mint(), name="v",
                                    public_key=generate_keypair().public)  # fmt: skip
        device = red["device"]["id"]
        with project.lock:  # the device's BOINC client reported a result, the project granted
            project.hosts[7] = Host(7, "cpid", device, total_credit=42.5)
            project.hosts[8] = Host(8, "cpid2", "someone-elses-laptop", total_credit=1e6)

        def reported() -> list[dict[str, object]]:
            return [d for r in world.platform.witness_reports for d in r["devices"]]

        wait_for(reported, 20, "the project's credit reported")
        (d,) = {d["device_id"]: d for d in reported()}.values()
        assert d["device_id"] == device
        assert d["compute_seconds"] == 42.5 * COBBLESTONE_SECONDS
        assert KEY not in str(world.platform.witness_reports)
        with project.lock:  # the project validates more: a later poll reads it
            project.hosts[7].total_credit = 50.0
        wait_for(lambda: any(d["compute_seconds"] == 50.0 * COBBLESTONE_SECONDS
                             for d in reported()), 20, "the later credit reported")  # fmt: skip
        # the manager named the project and its key, once: its list is not asked at every poll
        assert project.am_requests == (1 if attach == "account manager" else 0)
    finally:
        seed.stop()
        server.shutdown()


def test_hosts_that_are_not_devices_are_not_credited() -> None:
    project = Project(account_key=KEY)
    project.hosts = {1: Host(1, "c", "a" * 32, total_credit=3.0), 2: Host(2, "c", "laptop", 9.0)}
    assert host_credits(show_user(project, KEY)) == {"a" * 32: 3.0}


def test_an_account_manager_that_refuses_gives_no_credit_and_says_why() -> None:
    from kalavai_like.agent.boinc_witness import manager_accounts
    from kalavai_like.pool_params import account_manager_login

    project = Project(account_key=KEY)
    server = serve(project)
    try:
        am = project.base.replace("/kn/", "/am/")
        good = {"account_manager_url": am, "account_manager_user": project.am_user,
                "account_manager_password": project.am_password}  # fmt: skip
        assert manager_accounts(account_manager_login(good)) == [(project.base, KEY)]  # type: ignore[arg-type]
        wrong = {**good, "account_manager_password": "not-it"}
        with pytest.raises(ValueError, match="refused: Bad password"):
            manager_accounts(account_manager_login(wrong))  # type: ignore[arg-type]
    finally:
        server.shutdown()


def test_the_project_is_read_at_its_own_pace_while_the_epoch_stays_live(tmp_path: Path) -> None:
    project = Project(account_key=KEY)
    project.hosts = {7: Host(7, "cpid", "a" * 32, total_credit=4.0)}
    server = serve(project)
    now = [1000.0]
    params = {"project_url": project.base, "weak_key": KEY}
    peers = {"10.0.0.2": "a" * 32}
    witness = BoincWitness(
        "p" * 32, params, tmp_path, lambda: peers, poll=300, clock=lambda: now[0]
    )
    try:
        witness.round()
        (epoch,) = tmp_path.glob("*.json")
        os.utime(epoch, (0, 0))
        for _ in range(
            20
        ):  # the reporter's interval: the file is kept live, the project left alone
            now[0] += 10.0
            witness.round()
        assert project.requests.count("GET /kn/show_user.php") == 1
        assert epoch.stat().st_mtime > 0
        now[0] += 101.0  # 301 s after the first read
        witness.round()
        assert project.requests.count("GET /kn/show_user.php") == 2
        assert json.loads(epoch.read_text())["counter"] == 2
    finally:
        server.shutdown()
