"""The witness plugin in the real dask image: a scheduler that preloads it, and workers in
containers of their own on podman's default network (each with its own address), doing real
tasks. What the file says is what the scheduler saw: an idle worker earns no compute, an honest
worker's compute matches its tasks, a worker that inflates its reports stays under threads x
time connected, a worker that announces another host is not witnessed, and a restarted
scheduler starts a new epoch after writing the old one's last totals."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.container import RuntimeConfig
from tests.support.dask_pool import DASK, DaskPool
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.podman, pytest.mark.slow]

# A worker preload that adds 1000 s to the compute time of every task it reports.
INFLATE = """
def dask_setup(worker):
    send = worker.batched_send
    def inflated(msg):
        if msg.get("op") == "task-finished":
            for ss in msg.get("startstops", []):
                if ss.get("action") == "compute":
                    ss["start"] -= 1000.0
        send(msg)
    worker.batched_send = inflated
"""

# Runs in the pool: ten 0.2 s busy tasks on `busy`, twenty on `liar`; prints the busy
# worker's own measure of its tasks.
CLIENT = """
import json, time
from distributed import Client
c = Client(SCHEDULER, timeout=60)
c.wait_for_workers(4, timeout=120)
addr = {w["name"]: a for a, w in c.scheduler_info()["workers"].items()}
def busy(i):
    t = time.perf_counter()
    while time.perf_counter() - t < 0.2:
        pass
    return time.perf_counter() - t
inner = sum(c.gather(c.map(busy, range(10), workers=[addr["busy"]], pure=False)))
c.gather(c.map(busy, range(10, 30), workers=[addr["liar"]], pure=False))
print(json.dumps({"inner": inner}))
"""


def epochs(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in directory.glob("*.json"):
        data = json.loads(p.read_text())
        out[data["epoch"]] = data
    return out


def workers(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in data["workers"]}


@pytest.fixture(scope="module")
def image_has_the_plugin() -> None:
    """Fails with the fix when the dask image was built from a recipe without the plugin."""
    rc = RuntimeConfig.detect("podman", probe=False)
    out = subprocess.run(rc.command("run", "--rm", "--network", "none", DASK, "python3", "-c",
                                    "import kalavai_witness"),
                         capture_output=True, text=True, env=rc.environ(), check=False)  # fmt: skip
    if out.returncode != 0:
        pytest.fail(f"{DASK} has no witness plugin: run packaging/images/build dask")


@pytest.fixture
def pool(
    tmp_path: Path, image_has_the_plugin: None
) -> Iterator[tuple[DaskPool, Path, dict[str, str]]]:
    witness = tmp_path / "witness"
    witness.mkdir()
    (tmp_path / "inflate.py").write_text(INFLATE)
    # Every task goes to its worker at once, so the liar's tasks are all processing together.
    env = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "inf"}
    p = DaskPool(witness, scheduler_env=env)
    try:
        ips = {"busy": p.add_worker("busy"), "idle": p.add_worker("idle")}
        ips["liar"] = p.add_worker("liar", mounts=[f"{tmp_path / 'inflate.py'}:/opt/inflate.py:ro"],
                                   extra=["--preload", "/opt/inflate.py"])  # fmt: skip
        # Announces the busy worker's host while connecting from its own.
        p.add_worker("spoof", extra=["--listen-address", "tcp://0.0.0.0:4321",
                                     "--contact-address", f"tcp://{ips['busy']}:4321"])  # fmt: skip
        yield p, witness, ips
    finally:
        p.close()


def test_the_scheduler_witnesses_what_it_saw_of_each_worker(
    pool: tuple[DaskPool, Path, dict[str, str]],
) -> None:
    p, witness, ips = pool
    inner = json.loads(p.client(CLIENT).strip().splitlines()[-1])["inner"]

    def settled() -> dict[str, Any] | None:
        (data,) = epochs(witness).values()
        w = workers(data)
        done = w.get("busy", {}).get("tasks") == 10 and w.get("liar", {}).get("tasks") == 20
        return data if done else None

    data = wait_for(settled, 30, "the witness file to show every task")
    w = workers(data)
    assert set(w) == {"busy", "idle", "liar"}, "the spoofing worker must not be witnessed"
    assert w["busy"]["host"] == ips["busy"] and w["liar"]["host"] == ips["liar"]
    assert w["idle"]["tasks"] == 0 and w["idle"]["compute_seconds"] == 0
    assert w["idle"]["connected_seconds"] > 0
    assert inner * 0.99 <= w["busy"]["compute_seconds"] <= inner + 1.0
    liar = w["liar"]
    assert 0 < liar["compute_seconds"] <= liar["threads"] * liar["connected_seconds"]
    assert liar["compute_seconds"] < 20 * 1000 / 100  # nowhere near the 20 000 s it claimed
    first = data["epoch"]

    p.restart_scheduler()

    def two() -> dict[str, dict[str, Any]] | None:
        found = epochs(witness)
        return found if len(found) == 2 else None

    found = wait_for(two, 60, "the restarted scheduler's epoch file")
    old = found.pop(first)
    (new,) = found.values()
    assert old["closed"] and workers(old)["busy"]["tasks"] == 10
    assert workers(old)["busy"]["compute_seconds"] == w["busy"]["compute_seconds"]
    assert new["epoch"] != first and not new["closed"] and new["counter"] >= 1
