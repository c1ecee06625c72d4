"""The pool lifecycle end to end through the real binaries: real platform, agents in
simulated hosts, real namespaces, wireguard-go and podman."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.support.simulator import Pool, needs_root_tools, runtime, traces
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip


def status(pool: Pool, vol: str) -> dict:
    return pool.sim.cli_json(pool.host(vol), "pool", "status")


def test_pause_freezes_worker_and_accrual_and_platform_sees_both(pool: Pool) -> None:
    v = pool.host("v1")
    pool.join("v1")
    try:
        name = f"{v.node_prefix}-wk"
        wait_for(lambda: status(pool, "v1")["worker"]["acked_seq"] >= 2, what="heartbeats")
        shown = pool.sim.cli(v, "pool", "status").stdout
        assert "WireGuard over wireguard-go v0.0." in shown  # the backend and its version
        seed = pool.sim.cli(pool.host("seed"), "pool", "status").stdout
        assert "Hub network" in seed and "WireGuard over wireguard-go v0.0." in seed
        out = pool.sim.cli(v, "pool", "pause")
        assert "Paused" in out.stdout
        assert runtime().state(name).state == "paused"
        wait_for(lambda: pool.device("v1")["state"] == "paused", what="platform sees paused")
        # accrual stopped: the ledger's totals stay put while more samples are taken
        first = status(pool, "v1")["worker"]
        wait_for(lambda: status(pool, "v1")["worker"]["acked_seq"] >= first["acked_seq"] + 3,
                 what="samples while paused")  # fmt: skip
        later = status(pool, "v1")["worker"]
        assert later["totals"]["cpu_seconds"] == first["totals"]["cpu_seconds"]
        assert "already paused" in pool.sim.cli(v, "pool", "pause").stdout.lower()
        pool.sim.cli(v, "pool", "resume")
        assert runtime().state(name).state == "running"
        wait_for(lambda: pool.device("v1")["state"] == "running", what="platform sees running")
        wait_for(
            lambda: (
                status(pool, "v1")["worker"]["totals"]["cpu_seconds"]
                > later["totals"]["cpu_seconds"]
            ),
            what="accrual to continue",
        )
    finally:
        pool.sim.cli(v, "pool", "stop", check=False)


def test_stop_leaves_nothing_and_the_platform_marks_the_device_left(pool: Pool) -> None:
    v = pool.host("v2")
    pool.join("v2")
    assert traces(v.node_prefix)  # the membership exists
    out = pool.sim.cli(v, "pool", "stop")
    assert "Stopped" in out.stdout
    assert traces(v.node_prefix) == []
    dev = pool.device("v2")
    assert dev["state"] == "left" and dev["left_at"]
    listed = pool.sim.cli_json(pool.host("seed"), "pool", "workers")  # workers only by default
    assert "v2" not in [d["name"] for d in listed] and {d["role"] for d in listed} <= {"worker"}
    again = pool.sim.cli(v, "pool", "stop")
    assert "Already stopped" in again.stdout


def test_kill9_agent_then_restart_adopts_without_duplicate_or_gap(pool: Pool) -> None:
    v = pool.host("v3")
    pool.join("v3")
    try:
        name = f"{v.node_prefix}-wk"
        before = status(pool, "v3")["worker"]
        cid = runtime().state(name).id
        pool.sim.kill_agent(v, signal.SIGKILL)
        pool.sim.start_agent(v)
        after = wait_for(lambda: status(pool, "v3")["worker"], what="restored worker")
        assert after["address"] == before["address"]
        labelled = runtime().find("kalavai-like.membership", before["device_id"])
        assert [c.id for c in labelled] == [cid]  # adopted, not duplicated
        # no gap: the ledger holds every CPU second the container's cgroup counted, including
        # those spent while no agent was running
        wait_for(lambda: status(pool, "v3")["worker"]["acked_seq"] > after["acked_seq"] + 1,
                 what="heartbeats after restart")  # fmt: skip
        cgroup = runtime().usage(cid).cpu_seconds
        ledger = status(pool, "v3")["worker"]["totals"]["cpu_seconds"]
        assert ledger == pytest.approx(cgroup, abs=0.5)
        assert wait_for(lambda: pool.device("v3")["state"] == "running", what="heartbeats")
    finally:
        pool.sim.cli(v, "pool", "stop", check=False)


@pytest.mark.parametrize("case", ["bad_token", "platform_down", "hub_unreachable", "image_missing"])
def test_failed_join_rolls_back_and_says_which_step(pool: Pool, case: str) -> None:
    v = pool.host("v1")
    sim = pool.sim
    before = {d["id"] for d in pool.devices()}
    if case == "bad_token":
        token = pool.fresh_token()
        token = token[:-5] + ("aaaaa" if not token.endswith("aaaaa") else "bbbbb")
    elif case == "image_missing":
        token = pool.fresh_token("seed2")
    else:
        token = pool.fresh_token()
    seed_ns = pool.host("seed").netns
    try:
        if case == "platform_down":
            subprocess.run(["ip", "-n", v.netns, "route", "add", "blackhole",
                            sim.gateway], check=True)  # fmt: skip
        if case == "hub_unreachable":  # the seed host drops WireGuard: no handshake completes
            subprocess.run(["ip", "netns", "exec", seed_ns, "nft", "add", "table", "inet",
                            "kt6block"], check=True)  # fmt: skip
            subprocess.run(["ip", "netns", "exec", seed_ns, "nft", "add", "chain", "inet",
                            "kt6block", "pre", "{ type filter hook prerouting priority -300; }"],
                           check=True)  # fmt: skip
            subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    seed_ns,
                    "nft",
                    "add",
                    "rule",
                    "inet",
                    "kt6block",
                    "pre",
                    "udp",
                    "dport",
                    "51820",
                    "drop",
                ],
                check=True,
            )
        result = pool.join("v1", token, check=False)
    finally:
        if case == "platform_down":
            subprocess.run(["ip", "-n", v.netns, "route", "del", "blackhole", sim.gateway])
        if case == "hub_unreachable":
            subprocess.run(["ip", "netns", "exec", seed_ns, "nft", "delete", "table", "inet",
                            "kt6block"])  # fmt: skip
    assert result.returncode != 0
    err = result.stderr
    expected = {
        "bad_token": "Damaged join token",
        "platform_down": "Join failed while registering",
        "hub_unreachable": "Join failed while joining the network",
        "image_missing": "Join failed while starting the worker container",
    }[case]
    assert expected in err, err
    if case != "bad_token":
        assert "removed" in err, err
    if case == "image_missing":
        assert "image" in err.lower()
    if case == "hub_unreachable":
        assert "handshake" in err.lower()
    assert traces(v.node_prefix) == []
    assert status(pool, "v1")["worker"] is None
    seed = "seed2" if case == "image_missing" else "seed"
    for d in pool.devices(seed):
        if d["id"] not in before and d["name"] == "v1":
            assert d["state"] == "left", d  # the device was deregistered again
