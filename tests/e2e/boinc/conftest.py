"""A simulated BOINC pool against the stand-in project (tests/support/boinc_pool.py): the real
platform; a seed whose pool attaches by project URL and weak key, another whose pool attaches
through the stand-in's account manager; volunteers whose agents run the real BOINC client in
the boinc image (plus the stand-in's app). Everything is named `kn5...` and removed by
name/PID at the end, even on failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kalavai_like.devtools.simulator import Simulator
from tests.support import boinc_pool
from tests.support.boinc_project import Project
from tests.support.simulator import FAST, Pool, simulated, start_hosts

PREFIX = "kn5"
KEY = "1_" + "e" * 32
HOSTS = ("seed", "amseed", "v1", "v2", "v3", "v4")


class Boinc(Pool):
    """The simulator, the stand-in project, and what the tests read of the volunteers."""

    def __init__(self, sim: Simulator, project: Project) -> None:
        super().__init__(sim)
        self.project = project

    def worker(self, vol: str) -> dict[str, Any]:
        """`pool status --json`'s worker on `vol` ({} when it has none)."""
        return self.sim.cli_json(self.host(vol), "pool", "status").get("worker") or {}

    def boinc(self, vol: str) -> dict[str, Any]:
        """What the agent read of `vol`'s BOINC client ({} before its first read)."""
        return self.worker(vol).get("boinc") or {}

    def running(self, vol: str) -> dict[str, Any] | None:
        """`vol`'s running task once it has made progress."""
        tasks = self.boinc(vol).get("tasks") or []
        return next((t for t in tasks if t["state"] == "running" and t["fraction_done"] > 0), None)


@pytest.fixture(scope="package")
def b() -> Iterator[Boinc]:
    settings = {**FAST, "witness_interval": 2.0, "project_poll_interval": 2.0}
    with simulated(PREFIX, settings, start_hosts(*HOSTS)) as sim:
        with boinc_pool.project_beside(sim, KEY, list(sim.hosts.values())) as project:
            boinc_pool.start_pool(sim, "seed", "science", project_url=boinc_pool.URL,
                                  weak_key=KEY)  # fmt: skip
            boinc_pool.start_pool(sim, "amseed", "managed",
                                  account_manager_url=boinc_pool.AM_URL,
                                  account_manager_user=project.am_user,
                                  account_manager_password=project.am_password)  # fmt: skip
            yield Boinc(sim, project)
