"""BOINC worker figures on this machine, against the stand-in project (prints them; asserts
nothing):

- time from a volunteer's `pool join` of a BOINC pool (token, overlay, worker container, then
  the client's attach, master page, scheduler, download) to the first task running, on
  simulated hosts with the stand-in as the project (names start kb6-);
- time from starting the BOINC worker container alone (with a fresh data directory) to the
  first task running, and to its result reported;
- what reading the client's state costs the agent each sample interval: CPU time and RSS
  growth over many reads, over the GUI RPC socket (the live path) and from client_state.xml.

Run as root: `python bench/boinc.py [--reads N] [--joins N]` (needs the boinc image; names
start kn3- and kb6-).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kalavai_like.container import ContainerRuntime, Limits, RuntimeConfig  # noqa: E402
from kalavai_like.container.templates import render  # noqa: E402
from kalavai_like.usage.boinc import MessageLog, read_state  # noqa: E402
from tests.support import boinc_pool  # noqa: E402
from tests.support.boinc_project import Project, install_app, served_in_netns  # noqa: E402
from tests.support.simulator import FAST, Pool, simulated, start_hosts  # noqa: E402

KEY = "1_" + "c" * 32

SAMPLE_INTERVAL = 5.0  # the agent's default


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cost(boinc: Path, reads: int, rpc: bool) -> tuple[float, int]:
    """CPU seconds per read and RSS growth (KiB) over `reads` reads."""
    log = MessageLog()
    read_state(boinc, rpc=rpc, log=log)  # warm: imports, first messages
    rss0 = rss_kib()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(reads):
        read_state(boinc, rpc=rpc, log=log)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    used = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return used / reads, rss_kib() - rss0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--joins", type=int, default=3, help="volunteers joining, one after another")
    args = ap.parse_args()
    joins(args.joins)
    netns, name = f"kn3-bench{uuid.uuid4().hex[:4]}", f"kn3-bench-{uuid.uuid4().hex[:6]}"
    rt = ContainerRuntime(RuntimeConfig.detect())
    tmp = Path(tempfile.mkdtemp(prefix="kn3-bench-"))
    try:
        with served_in_netns(netns, KEY) as p:
            run(rt, p, name, netns, tmp, args.reads)
    finally:
        subprocess.run(rt.config.command("rm", "-f", "-t", "0", name), capture_output=True,
                       env=rt.config.environ(), check=False)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)


def joins(count: int) -> None:
    """`pool join` of a BOINC pool to the first task running, for `count` fresh volunteers."""
    vols = [f"v{i + 1}" for i in range(count)]
    with simulated("kb6", FAST, start_hosts("seed", *vols)) as sim:
        with boinc_pool.project_beside(sim, KEY, list(sim.hosts.values())) as project:
            boinc_pool.start_pool(sim, "seed", "science", project_url=boinc_pool.URL, weak_key=KEY)
            pool = Pool(sim)
            for vol in vols:
                with project.lock:
                    project.work += 1
                token = pool.fresh_token()
                client = sim.client(sim.hosts[vol])
                t0 = time.monotonic()
                pool.join(vol, token)
                joined = time.monotonic() - t0
                while not any(t["state"] == "running" for t in _tasks(client)):
                    time.sleep(0.2)
                first = time.monotonic() - t0
                print(f"{vol}: pool join returned in {joined:.1f} s; first task running "
                      f"{first:.1f} s after `pool join` started")  # fmt: skip
                sim.cli(sim.hosts[vol], "pool", "stop")


def _tasks(client: object) -> list[dict[str, object]]:
    w = client.status().worker  # type: ignore[attr-defined]
    return list(((w.boinc or {}).get("tasks") or []) if w is not None else [])


def run(rt: ContainerRuntime, p: Project, name: str, netns: str, tmp: Path, reads: int) -> None:
    """Start the worker, time its first task, measure the reads, wait for the report."""
    install_app(tmp / "boinc", p.base)
    spec = render(
        "boinc", {"project_url": p.base, "weak_key": KEY, "gui_rpc_password": "pw"},
        membership_id=name, limits=Limits(cpus=1, memory_bytes=256 * 2**20),
        head_address=None, netns_path=f"/run/netns/{netns}",
    )  # fmt: skip
    env = {**spec.env, "BOINC_SKIP_BENCHMARKS": "1"}
    t0 = time.monotonic()
    rt.run(dataclasses.replace(spec, name=name, data_volume=str(tmp), env=env))
    while not any(t.state == "running" for t in read_state(tmp / "boinc").tasks):
        time.sleep(0.2)
    running = time.monotonic() - t0
    print(f"container start -> first task running: {running:.1f} s")
    rpc_cpu, rpc_rss = cost(tmp / "boinc", reads, rpc=True)
    file_cpu, file_rss = cost(tmp / "boinc", reads, rpc=False)
    for what, cpu, rss in (("GUI RPC", rpc_cpu, rpc_rss), ("state file", file_cpu, file_rss)):
        share = cpu / SAMPLE_INTERVAL * 100
        print(f"read over {what}: {cpu * 1000:.2f} ms CPU per read "
              f"({share:.3f}% of a core at one read per {SAMPLE_INTERVAL:.0f} s), "
              f"RSS +{rss} KiB over {reads} reads")  # fmt: skip
    while not p.reported:
        time.sleep(0.2)
    print(f"container start -> result reported: {time.monotonic() - t0:.1f} s "
          "(the task computes for 20 s)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
