"""Witnessed credit, end to end: what an honest volunteer is granted of what it measured over a
Dask run, and what a forger with a valid token is granted for claiming everything over the same
run. A real platform, a seed whose head container runs the Dask scheduler with the witness
plugin, one honest volunteer, and a raw HTTP client (simulated hosts: namespaces `kb9...`, all
removed at the end).

Prints: the honest volunteer's granted / measured CPU (target >= 98%), the head's witness of it,
and the forger's claimed and granted CPU (target: 0 granted). Scheduler throughput with the
plugin against without is bench/witness.py's.

Usage: python bench/witnessed_credit.py [--seconds 60]      (root, podman, wireguard-go)
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kalavai_like.devtools.demo import run_dask_job  # noqa: E402
from kalavai_like.net import generate_keypair  # noqa: E402
from tests.support.simulator import FAST, simulated, start_hosts  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

TASK_SECONDS = 0.25  # the demo's task: a busy loop of 0.25 s


def cpu(d: dict[str, Any], kind: str) -> float:
    return float(d[kind]["cpu_core_hours"]) * 3600


def device(sim: Any, device_id: str) -> dict[str, Any]:
    for d in sim.cli_json(sim.hosts["seed"], "pool", "workers", "--all"):
        if d["id"] == device_id:
            return d  # type: ignore[no-any-return]
    raise SystemExit(f"no device {device_id}")


def forge(url: str, token: str, stop: threading.Event, claimed: list[float]) -> str:
    """A raw HTTP client: an account, the token, the most hardware the pool allows, and a
    heartbeat a second claiming all of it until `stop`. Returns its device id."""
    http = httpx.Client(base_url=url, timeout=30)
    email, password = f"forger-{time.time_ns()}@example.org", "forger-pw-1"
    http.post("/api/v1/accounts", json={"email": email, "password": password})
    session = http.post("/api/v1/sessions", json={"email": email, "password": password}).json()
    r = http.post("/api/v1/devices", headers={"Authorization": f"Bearer {session['token']}"},
                  json={"token": token, "public_key": generate_keypair().public, "name": "rig",
                        "cores": 256, "memory_bytes": 2**40, "gpus": 16})  # fmt: skip
    joined = r.json()
    auth = {"Authorization": f"Bearer {joined['credential']}"}

    def beat() -> None:
        start, seq = time.time(), 0
        while not stop.wait(1.0):
            seq += 1
            t = time.time() - start
            claimed[0] = 256 * t
            counters = {"cpu_seconds": 256 * t, "ram_gb_seconds": 1100 * t,
                        "gpu_seconds": 16 * t, "sampled_at": time.time()}  # fmt: skip
            http.post("/api/v1/device/heartbeat", headers=auth,
                      json={"seq": seq, "state": "running", "counters": counters})  # fmt: skip

    threading.Thread(target=beat, daemon=True).start()
    return str(joined["device"]["id"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the Dask run")
    args = ap.parse_args()
    with simulated("kb9", {**FAST, "witness_interval": 2.0}, start_hosts("seed", "v1")) as sim:
        seed, v1 = sim.hosts["seed"], sim.hosts["v1"]
        pool = sim.cli_json(seed, "pool", "start", "bench", "--template", "dask", "--public",
                            "--endpoint", f"{seed.address}:51820")  # fmt: skip
        token = sim.cli_json(seed, "pool", "token", "--uses", "2")["token"]
        sim.cli(v1, "pool", "join", "-", "--cpus", "1", "--memory", "1g", "--name", "v1",
                input=token + "\n")  # fmt: skip
        honest = sim.client(v1).status().worker.device_id
        stop, claimed = threading.Event(), [0.0]
        assert sim.platform is not None
        forger = forge(str(sim.platform.url), token, stop, claimed)
        tasks = int(args.seconds / TASK_SECONDS)
        t0 = time.monotonic()
        job = run_dask_job(sim, pool["head"], pool["address"], 1, tasks=tasks)
        ran = time.monotonic() - t0
        wait_for(lambda: device(sim, honest)["witnessed"]["tasks"] == tasks, timeout=60,
                 what="the head's count reported")  # fmt: skip
        time.sleep(6)  # the next witness report and the heartbeats after it
        stop.set()
        h, f = device(sim, honest), device(sim, forger)
        measured = sum(cpu(h, k) for k in ("totals", "pending", "unverified"))
        granted = cpu(h, "totals")
        print(f"Dask run: {tasks} tasks of {TASK_SECONDS} s on 1 worker, {ran:.1f} s "
              f"(result {job['sum']})")  # fmt: skip
        print(f"honest volunteer: measured {measured:.2f} core-s, witnessed "
              f"{h['witnessed']['compute_seconds']:.2f} s in {h['witnessed']['tasks']} tasks, "
              f"granted {granted:.2f} core-s = {granted / measured:.1%} of measured "
              f"(target >= 98%)")  # fmt: skip
        print(f"forger (raw HTTP, 256 cores declared): claimed {claimed[0]:.0f} core-s, "
              f"granted {cpu(f, 'totals'):.2f} core-s, credit {f['totals']['credit']:.6f} "
              f"(target 0)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
