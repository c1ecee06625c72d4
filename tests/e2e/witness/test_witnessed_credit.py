"""Credit is earned, not claimed, through the real binaries: the pool's Dask scheduler in the
seed's head container witnesses the work (its plugin), the seed's agent reports it, and the
platform grants no more than that. Honest volunteers get what they did; a raw HTTP client with
a valid token, declaring the most it may and claiming all of it, gets nothing; a pool's own
witness counts on the leaderboard only once the platform's operator trusts the pool; a head
restart and a platform outage on the seed's side lose and double-count nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from kalavai_like.devtools.demo import run_dask_job
from kalavai_like.net import generate_keypair
from tests.e2e.witness.conftest import Witnessed
from tests.support.simulator import needs_root_tools, runtime
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip
TASKS = 120  # of 0.25 s of busy CPU each (the demo's job)
KINDS = ("totals", "pending", "unverified", "clamped")


def cpu(d: dict[str, Any], kind: str = "totals") -> float:
    """Core-seconds of the device's `kind` ("totals" is what was granted)."""
    return float(d[kind]["cpu_core_hours"]) * 3600


def measured(d: dict[str, Any]) -> float:
    return sum(cpu(d, k) for k in KINDS)


def settled(wit: Witnessed, device_id: str) -> dict[str, Any]:
    """The device once what the head witnessed of it stopped moving (two reports agree) and
    the heartbeats after it are in."""
    last: list[float] = []

    def still() -> bool:
        last.append(wit.device(device_id)["witnessed"]["compute_seconds"])
        return len(last) > 1 and last[-1] == last[-2]

    wait_for(still, timeout=60, interval=4.0, what="the witness to settle")
    time.sleep(2.5)  # the heartbeats that follow it, and the grant they carry
    return wit.device(device_id)


def test_a_worker_given_no_tasks_earns_no_cpu_credit(wit: Witnessed) -> None:
    v1 = wit.join("v1")
    d = wait_for(lambda: (x := wit.device(v1))["witnessed"]["connected_seconds"] > 4 and x,
                 timeout=60, what="the head to witness v1 connected")  # fmt: skip
    d = wait_for(lambda: (x := wit.device(v1)) and measured(x) > 0 and x, what="v1 measured")
    assert d["witnessed"]["tasks"] == 0 and d["witnessed"]["compute_seconds"] == 0
    assert cpu(d) == 0  # connected, measured, but given no work: nothing granted
    assert cpu(d, "pending") > 0  # what it measured waits for a witness


def test_honest_volunteers_are_granted_what_the_head_witnessed(wit: Witnessed) -> None:
    v1 = wit.sim.client(wit.host("v1")).status().worker.device_id
    v2 = wit.join("v2")
    before = {dev: settled(wit, dev) for dev in (v1, v2)}
    job = run_dask_job(wit.sim, wit.pool["head"], wit.pool["address"], 2, tasks=TASKS)
    ran = {dev: job["per_worker"].get(dev, 0) for dev in (v1, v2)}
    assert sum(ran.values()) == TASKS and all(ran.values()), ran
    for dev in (v1, v2):
        wait_for(lambda dev=dev: wit.device(dev)["witnessed"]["tasks"] == ran[dev],
                 timeout=60, what=f"the head's count of {dev}'s tasks reported")  # fmt: skip
        after = settled(wit, dev)
        seen = after["witnessed"]["compute_seconds"] - before[dev]["witnessed"]["compute_seconds"]
        granted, did = cpu(after), measured(after) - cpu(after, "clamped")
        print(f"{dev[:8]}: {ran[dev]} tasks, witnessed {seen:.2f} s of compute; granted "
              f"{granted:.2f} of {did:.2f} core-s measured ({granted / did:.1%})")  # fmt: skip
        # The head times each task itself (busy loops of 0.25 s): on a loaded machine that is
        # more than the CPU the worker got, never less than the work it did.
        assert seen >= ran[dev] * 0.25 * 0.95
        # Honest work is granted: all of what was measured, up to what was witnessed.
        assert did * 0.98 <= granted <= min(did, after["witnessed"]["compute_seconds"] * 1.05)
        assert cpu(after, "unverified") == 0


def _mallory(wit: Witnessed) -> tuple[httpx.Client, str, dict[str, Any]]:
    """A stranger with a free account, a valid single-use token from the pool's owner, plain
    HTTP, and the most hardware the pool lets a device declare."""
    http = httpx.Client(base_url=wit.url, timeout=30)
    email = f"mallory-{time.time_ns()}@example.org"
    assert http.post("/api/v1/accounts", json={"email": email, "password": "pw-mallory-1"}) \
        .status_code == 201  # fmt: skip
    token = http.post("/api/v1/sessions", json={"email": email, "password": "pw-mallory-1"})
    http.headers["Authorization"] = f"Bearer {token.json()['token']}"
    me = http.get("/api/v1/me").json()
    r = http.post("/api/v1/devices", json={
        "token": wit.token(), "public_key": generate_keypair().public, "name": "tower",
        "cores": 256, "memory_bytes": 2**40, "gpus": 16})  # fmt: skip
    assert r.status_code == 201, r.text
    return http, me["id"], r.json()


def test_a_raw_http_client_claiming_everything_earns_nothing(wit: Witnessed) -> None:
    http, user_id, joined = _mallory(wit)
    device = httpx.Client(base_url=wit.url, timeout=30,
                          headers={"Authorization": f"Bearer {joined['credential']}"})  # fmt: skip
    start = time.time()
    for seq in range(1, 7):  # six seconds of claiming all of it, with no container at all
        time.sleep(1)
        t = time.time() - start
        counters = {"cpu_seconds": 256 * t, "ram_gb_seconds": 1100 * t, "gpu_seconds": 16 * t,
                    "sampled_at": time.time()}  # fmt: skip
        r = device.post("/api/v1/device/heartbeat",
                        json={"seq": seq, "state": "running", "counters": counters})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["granted"]["credit"] == 0
    time.sleep(5)  # two witness reports later: the head never saw this device
    d = wit.device(joined["device"]["id"])
    assert cpu(d) == 0 and d["totals"]["credit"] == 0 and measured(d) > 1000
    board = http.get("/api/v1/credit/leaderboard").json()
    assert user_id not in [row["user"]["id"] for row in board]


def test_a_pools_own_witness_counts_on_the_leaderboard_only_once_trusted(
    wit: Witnessed,
) -> None:
    http, mallory, joined = _mallory(wit)  # the owner's own second account, say
    seed_state = wit.host("seed").home / "state" / "agent" / "node.json"
    hub = json.loads(seed_state.read_text())["seed"]["credential"]
    forged = {"epoch": "f" * 32, "seq": 1, "devices": [{
        "device_id": joined["device"]["id"], "tasks": 500, "compute_seconds": 3600.0,
        "connected_seconds": 3600.0, "threads": 256}]}  # fmt: skip
    r = httpx.post(f"{wit.url}/api/v1/device/witness", json=forged,
                   headers={"Authorization": f"Bearer {hub}"}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    honest = {json.loads(wit.sim.cli(wit.host(v), "whoami", "--json").stdout)["id"]
              for v in ("v1", "v2")}  # fmt: skip

    def ranked() -> set[str]:
        return {row["user"]["id"] for row in http.get("/api/v1/credit/leaderboard").json()}

    assert not ranked() & (honest | {mallory})  # an untrusted pool's witness stays in the pool
    owner = wit.host("seed")
    subprocess.run(
        [sys.executable, "-m", "kalavai_like", "platform", "operator", "add", owner.email,
         "--data-dir", str(wit.sim.base_dir / "platform")],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    wit.sim.cli(owner, "operator", "trust", "wit")
    assert honest <= ranked()  # honest witnessed credit counts once the operator trusts the pool


def _tasks(wit: Witnessed, devices: tuple[str, ...]) -> dict[str, int]:
    return {dev: int(wit.device(dev)["witnessed"]["tasks"]) for dev in devices}


def _run_and_count(wit: Witnessed, devices: tuple[str, ...], tasks: int) -> dict[str, int]:
    """Run a job of `tasks` on the pool; the scheduler's count per device."""
    job = run_dask_job(wit.sim, wit.pool["head"], wit.pool["address"], len(devices), tasks=tasks)
    return {dev: int(job["per_worker"].get(dev, 0)) for dev in devices}


def _volunteers(wit: Witnessed) -> tuple[str, ...]:
    return tuple(wit.sim.client(wit.host(v)).status().worker.device_id for v in ("v1", "v2"))


def test_a_head_restart_neither_loses_nor_double_counts_witnessed_work(wit: Witnessed) -> None:
    devices = _volunteers(wit)
    start = _tasks(wit, devices)
    first = _run_and_count(wit, devices, 20)
    head = wit.pool["head"]
    runtime().stop(head, timeout=10)  # the head stops; the seed's agent starts it again
    wait_for(lambda: runtime().state(head).state == "running", timeout=60,
             what="the seed to restart the head")  # fmt: skip
    second = _run_and_count(wit, devices, 20)  # the workers find the new scheduler
    want = {dev: start[dev] + first[dev] + second[dev] for dev in devices}
    wait_for(lambda: _tasks(wit, devices) == want, timeout=60,
             what=f"both epochs' tasks reported: {want}")  # fmt: skip
    time.sleep(5)  # and not counted twice by later reports
    assert _tasks(wit, devices) == want


def test_a_platform_outage_on_the_seed_side_loses_no_witnessed_work(wit: Witnessed) -> None:
    devices = _volunteers(wit)
    start = _tasks(wit, devices)
    seed_ns = wit.host("seed").netns
    gateway = wit.sim.gateway
    subprocess.run(["ip", "-n", seed_ns, "route", "add", "blackhole", gateway], check=True)
    try:
        ran = _run_and_count(wit, devices, 20)
        time.sleep(6)  # reports fail and wait on the seed
        assert _tasks(wit, devices) == start  # nothing reached the platform
    finally:
        subprocess.run(["ip", "-n", seed_ns, "route", "del", "blackhole", gateway], check=True)
    want = {dev: start[dev] + ran[dev] for dev in devices}
    wait_for(lambda: _tasks(wit, devices) == want, timeout=90,
             what=f"the buffered reports delivered: {want}")  # fmt: skip
