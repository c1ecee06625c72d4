"""Agents stopped through the real binaries. Killed with SIGKILL in the middle of a join: once
started again, nothing of the join is left (namespace, wireguard-go, container, the device at
the platform and in the hub's peer list) and the next join works. Stopped with SIGTERM (what
`systemctl stop` sends): the worker freezes until the agent runs again."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.simulator import Pool, needs_root_tools, runtime, traces
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip


def journal(home: Path) -> list[dict[str, Any]]:
    """The agent's journal of unfinished operations, as its state file holds it."""
    try:
        data = json.loads((home / "state" / "agent" / "node.json").read_text())
    except (OSError, ValueError):
        return []
    return list(data.get("unfinished") or [])


def hub_peers(pool: Pool) -> list[str]:
    """The overlay addresses on the seed's hub, as its `pool status` says."""
    seed = pool.sim.cli_json(pool.host("seed"), "pool", "status")["seed"]
    return [p["address"] for p in seed["peers"]]


@pytest.mark.parametrize("step", ["network", "container"])
def test_an_agent_killed_mid_join_leaves_nothing_once_restarted(pool: Pool, step: str) -> None:
    v, sim = pool.host("v2"), pool.sim
    token = pool.fresh_token()
    joined: dict[str, Any] = {}
    join = threading.Thread(target=lambda: joined.update(proc=pool.join("v2", token, False)))
    join.start()
    try:
        if step == "network":  # kill once wireguard-go runs, before the handshake is awaited
            wait_for(lambda: any(t.startswith("wireguard-go") for t in traces(v.node_prefix)),
                     timeout=60, interval=0.005, what="wireguard-go of the join")  # fmt: skip
        else:  # kill as the worker container is being started
            wait_for(lambda: any(u.get("container") for u in journal(v.home)),
                     timeout=60, interval=0.005, what="the join's container step")  # fmt: skip
        sim.kill_agent(v, signal.SIGKILL)
        join.join(60)
        assert joined["proc"].returncode != 0
        new = pool.device("v2")
        assert new["state"] == "joining"  # the wreck: the device is still in the hub's list
        assert any(t.startswith("netns") for t in traces(v.node_prefix))

        sim.start_agent(v)
        wait_for(lambda: traces(v.node_prefix) == [], what="the interrupted join undone")
        st = sim.cli_json(v, "pool", "status")
        assert st["state"] == "idle" and "interrupted join was undone" in st["reason"]
        # It left, so out of the hub's peers: listed nowhere when it never worked, else as left
        # (this device's row is v2's of the earlier tests).
        assert all(d["state"] == "left" for d in pool.devices() if d["id"] == new["id"])
        wait_for(lambda: new["address"] not in hub_peers(pool), what="the hub's peers changed")
        pool.join("v2")  # the next join works at once
        assert sim.cli_json(v, "pool", "status")["state"] == "running"
    finally:
        sim.cli(v, "pool", "stop", check=False)
        join.join(60)
    assert traces(v.node_prefix) == []


def test_a_stopped_agent_freezes_its_worker_until_it_runs_again(pool: Pool) -> None:
    v, sim = pool.host("v2"), pool.sim
    pool.join("v2")
    try:
        name = f"{v.node_prefix}-wk"
        cid = runtime().state(name).id
        sim.kill_agent(v, signal.SIGTERM)
        assert runtime().state(name).state == "paused"  # lends nothing unaccounted
        down = sim.cli(v, "pool", "status", check=False)
        assert down.returncode != 0
        assert "the worker of pool demo is frozen" in " ".join(down.stderr.split())
        assert pool.device("v2")["reason"] == "the agent was stopped"
        sim.start_agent(v)
        wait_for(lambda: runtime().state(name).state == "running", what="the worker thawed")
        assert runtime().state(name).id == cid  # the same container, adopted
        assert sim.cli_json(v, "pool", "status")["state"] == "running"
    finally:
        sim.cli(v, "pool", "stop", check=False)
    assert traces(v.node_prefix) == []
