"""Credit accuracy and sampling overhead, on a real worker container (podman, busybox image).

Prints:
- CPU accuracy: a worker burns N cores x T s; the seconds credited by the sampler + ledger are
  compared with the cgroup's own counter and with `time` (user + sys) inside the container.
  Target: within 1%.
- RAM accuracy: the worker holds a known allocation (a file in its tmpfs) for T s; the credited
  GiB-seconds are compared with allocation x T. Target: within 2%.
- Overhead: the agent-side cost of sampling (cgroup read + ledger append) every 1 s and every
  10 s, as CPU % of one core.

Usage: python bench/credit.py [--cores 1] [--seconds 20] [--mib 256] [--overhead-seconds 30]
Needs root, podman and the locally built image (packaging/images/build).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kalavai_like.container import ContainerRuntime, RuntimeConfig  # noqa: E402
from kalavai_like.container.spec import ContainerSpec  # noqa: E402
from kalavai_like.usage.ledger import GIB, Ledger  # noqa: E402
from kalavai_like.usage.sampler import Sampler  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

IMAGE = "localhost/kalavai-like/busybox:latest"
MIB = 2**20


def start(runtime: ContainerRuntime, name: str, command: str, cpus: float) -> str:
    spec = ContainerSpec(
        name=name,
        image=IMAGE,
        command=["sh", "-c", command],
        cpus=cpus,
        memory_bytes=1024 * MIB,
        labels={"kalavai-like.bench": "credit"},
    )
    return runtime.run(spec).id


def time_seconds(log: str) -> float | None:
    """user + sys from busybox `time` output ('user\\t0m 19.90s')."""
    total, found = 0.0, 0
    for kind in ("user", "sys"):
        m = re.search(rf"^{kind}\s+(?:(\d+)m\s*)?([\d.]+)s", log, re.M)
        if m:
            total += int(m[1] or 0) * 60 + float(m[2])
            found += 1
    return total if found == 2 else None


def cpu_accuracy(runtime: ContainerRuntime, cores: int, seconds: float, work: Path) -> None:
    name = f"kbench-cpu-{uuid.uuid4().hex[:8]}"
    burners = " ".join(
        [f"timeout {int(seconds)} sh -c 'while :; do :; done' &" for _ in range(cores)]
    )
    script = f'sleep 1; time sh -c "{burners} wait"; echo burned; sleep 600'
    cid = start(runtime, name, script, cpus=float(cores))
    try:
        ledger = Ledger.open(work / "cpu.db", "bench-cpu")
        sampler = Sampler(lambda: runtime.usage(cid), source_id=cid)
        ledger.append(sampler.sample())
        done = False
        while not done:
            time.sleep(1.0)
            ledger.append(sampler.sample())
            done = "burned" in runtime.logs(cid, tail=5)
        ledger.append(sampler.sample())
        credited = ledger.latest().counters.cpu_seconds
        counter = runtime.usage(cid).cpu_seconds
        timed = time_seconds(runtime.logs(cid, tail=20))
        print(f"CPU: burn {cores} core(s) x {seconds:g} s = {cores * seconds:g} core-s nominal")
        print(f"  credited by sampler+ledger : {credited:10.3f} core-s")
        print(
            f"  cgroup's own counter       : {counter:10.3f} core-s "
            f"(credited off by {abs(credited - counter) / counter * 100:.3f}%)"
        )
        if timed:
            print(
                f"  `time` user+sys inside     : {timed:10.3f} core-s "
                f"(credited off by {abs(credited - timed) / timed * 100:.3f}%)"
            )
        else:
            print("  `time` output not found in the container log")
    finally:
        runtime.remove(cid)


def ram_accuracy(runtime: ContainerRuntime, mib: int, seconds: float, work: Path) -> None:
    name = f"kbench-ram-{uuid.uuid4().hex[:8]}"
    script = f"head -c {mib}m /dev/zero > /tmp/hold && echo held && sleep 600"
    cid = start(runtime, name, script, cpus=1.0)
    try:
        wait_for(lambda: "held" in runtime.logs(cid, tail=5), 60, "the allocation")
        ledger = Ledger.open(work / "ram.db", "bench-ram")
        sampler = Sampler(lambda: runtime.usage(cid), source_id=cid)
        first = sampler.sample()
        baseline = first.memory_bytes
        ledger.append(first)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            ledger.append(sampler.sample())
        last = ledger.latest()
        held = last.mono - first.mono
        credited = last.counters.ram_gb_seconds
        truth = mib * MIB / GIB * held
        print(f"RAM: hold {mib} MiB for {held:.2f} s = {truth:.3f} GiB-s")
        print(
            f"  credited by sampler+ledger : {credited:10.3f} GiB-s "
            f"(off by {abs(credited - truth) / truth * 100:.3f}%)"
        )
        print(
            f"  worker memory in use       : {baseline / MIB:.1f} MiB at start, "
            f"{last.memory_bytes / MIB:.1f} MiB at end (includes the shell itself)"
        )
    finally:
        runtime.remove(cid)


def overhead(runtime: ContainerRuntime, duration: float, work: Path) -> None:
    name = f"kbench-idle-{uuid.uuid4().hex[:8]}"
    cid = start(runtime, name, "sleep 600", cpus=1.0)
    try:
        runtime.usage(cid)  # locate the cgroup once, as the running agent would have
        for interval in (1.0, 10.0):
            ledger = Ledger.open(work / f"overhead-{interval:g}.db", "bench")
            sampler = Sampler(lambda: runtime.usage(cid), source_id=cid)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < duration:
                ledger.append(sampler.sample())
                ledger.heartbeat("running")
                n += 1
                time.sleep(interval)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            spent = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            wall = time.monotonic() - t0
            print(
                f"Overhead sampling every {interval:>4g} s: {spent / wall * 100:.3f}% of one "
                f"core ({n} samples in {wall:.0f} s, {spent / n * 1000:.2f} ms CPU each)"
            )
            ledger.close()
    finally:
        runtime.remove(cid)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--overhead-seconds", type=float, default=30.0)
    args = ap.parse_args()
    config = RuntimeConfig.detect()
    runtime = ContainerRuntime(config)
    check = subprocess.run(config.command("image", "exists", IMAGE), env=config.environ())
    if check.returncode != 0:
        print(f"{IMAGE} is missing: run packaging/images/build", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="kbench-credit-") as tmp:
        work = Path(tmp)
        cpu_accuracy(runtime, args.cores, args.seconds, work)
        ram_accuracy(runtime, args.mib, args.seconds, work)
        overhead(runtime, args.overhead_seconds, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
