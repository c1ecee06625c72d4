"""The pool's owner removes a volunteer's worker and bans its user, through the real binaries on
simulated hosts: the volunteer's agent hears it on its next heartbeat and removes its worker
container, namespace and tunnel, and `pool status` says the pool's owner removed it; once
banned, its join is refused with words that say so, and leaves nothing behind."""

from __future__ import annotations

import pytest

from tests.support.simulator import Pool, needs_root_tools, traces
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip


def test_owner_removes_then_bans_a_volunteer(owned: Pool) -> None:
    sim, seed, v = owned.sim, owned.host("seed"), owned.host("v1")
    try:
        owned.join("v1")
        assert sim.cli_json(v, "pool", "status")["state"] == "running"
        assert traces(v.node_prefix)  # its worker, namespace and tunnel run

        sim.cli(seed, "pool", "remove-worker", "owned", "v1")

        def removed() -> bool:
            st = sim.cli_json(v, "pool", "status")
            return (
                st["state"] == "idle"
                and "removed from pool 'owned' by the pool's owner" in (st["reason"])
            )

        wait_for(removed, timeout=60, what="the volunteer's agent to hear it was removed")
        wait_for(lambda: traces(v.node_prefix) == [], timeout=60, what="the worker cleaned up")
        assert owned.device("v1")["reason"] == "removed by the pool's owner"

        owned.join("v1")  # removed, not banned: a new token lets it in again
        sim.cli(seed, "pool", "ban", "owned", "v1")
        wait_for(removed, timeout=60, what="the banned volunteer's agent to leave")
        wait_for(lambda: traces(v.node_prefix) == [], timeout=60, what="the worker cleaned up")

        refused = owned.join("v1", check=False)
        assert refused.returncode != 0
        said = " ".join(refused.stderr.split())
        assert "Banned from this pool" in said and "owner of pool 'owned'" in said
        assert traces(v.node_prefix) == []
        assert sim.cli_json(v, "pool", "status")["state"] == "idle"
    finally:
        sim.cli(v, "pool", "stop", check=False)
    assert traces(v.node_prefix) == []
