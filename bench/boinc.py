"""BOINC worker figures on this machine, against the stand-in project (prints them; asserts
nothing):

- time from starting the BOINC worker container (the join's last step, with a fresh data
  directory: attach, master page, scheduler, download) to the first task running, and to its
  result reported;
- what reading the client's state costs the agent each sample interval: CPU time and RSS
  growth over many reads, over the GUI RPC socket (the live path) and from client_state.xml.

Run as root: `python bench/boinc.py [--reads N]` (needs the boinc image; names start kn3-).
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

from kalavai_like.container import ContainerRuntime, Limits, RuntimeConfig
from kalavai_like.container.templates import render
from kalavai_like.usage.boinc import MessageLog, read_state
from tests.support.boinc_project import Project, install_app, served_in_netns

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
    args = ap.parse_args()
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
