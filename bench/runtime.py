"""Worker container figures on this machine (prints them; asserts nothing):

- container start to "running", cold (page cache dropped first) and warm, median of 10, for the
  busybox and dask images (target warm <= 1 s);
- pause and resume latency: from the call until the cgroup's CPU counter stops or moves again
  (target <= 100 ms), median of 10;
- image build time, cold (empty cache, everything downloaded) and cached.

Run as root: `python bench/runtime.py [--no-cold-build] [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from kalavai_like.container import ContainerRuntime, ContainerSpec, RuntimeConfig
from kalavai_like.container.cgroup import CgroupReader

ROOT = Path(__file__).resolve().parents[1]
IMAGES = {
    "busybox": ("localhost/kalavai-like/busybox:latest", ["sleep", "1000"]),
    "dask": ("localhost/kalavai-like/dask:latest", ["sleep", "1000"]),
}
BUSY = ["sh", "-c", "while :; do :; done"]


def name() -> str:
    return f"kt5-bench-{uuid.uuid4().hex[:8]}"


def drop_page_cache() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def start_times(
    rt: ContainerRuntime, image: str, command: list[str], runs: int, cold: bool
) -> list[float]:
    times = []
    for _ in range(runs):
        n = name()
        try:
            if cold:
                drop_page_cache()
            t0 = time.perf_counter()
            info = rt.run(ContainerSpec(name=n, image=image, command=command, cpus=1.0))
            while info.state != "running":
                info = rt.state(info.id)
            times.append(time.perf_counter() - t0)
        finally:
            rt.remove(n)
    return times


class CounterWatch:
    """Samples a cgroup CPU counter every ~1 ms in a thread, keeping (time, value) pairs."""

    def __init__(self, read: Callable[[], float]) -> None:
        self.read = read
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.read()))
            time.sleep(0.001)

    def __enter__(self) -> CounterWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pause_resume(
    rt: ContainerRuntime, runs: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    n = name()
    stops, starts, pause_calls, resume_calls = [], [], [], []
    try:
        info = rt.run(ContainerSpec(name=n, image=IMAGES["busybox"][0], command=BUSY, cpus=1.0))
        pid = int(
            subprocess.run(
                rt.config.command("inspect", "--format", "{{.State.Pid}}", info.id),
                capture_output=True, text=True, env=rt.config.environ(), check=True,
            ).stdout
        )  # fmt: skip
        reader = CgroupReader()
        files = reader.locate(pid)
        read = lambda: reader.read(files).cpu_seconds  # noqa: E731
        for _ in range(runs):
            time.sleep(0.3)
            with CounterWatch(read) as w:
                t0 = time.perf_counter()
                rt.pause(info.id)
                pause_calls.append(time.perf_counter() - t0)
                time.sleep(0.3)
            final = w.samples[-1][1]
            # The counter stopped at the first sample that already shows its final value.
            stopped = next(t for t, v in w.samples if v == final)
            stops.append(max(0.0, stopped - t0))
            with CounterWatch(read) as w:
                t0 = time.perf_counter()
                rt.unpause(info.id)
                resume_calls.append(time.perf_counter() - t0)
                time.sleep(0.3)
            base = next(v for t, v in w.samples if t >= t0)
            moved = next(t for t, v in w.samples if t >= t0 and v > base)
            starts.append(moved - t0)
    finally:
        rt.remove(n)
    return stops, starts, pause_calls, resume_calls


def build_time(env: dict[str, str], *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(ROOT / "packaging/images/build"), *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t0


def ms(values: list[float]) -> str:
    lo, hi, med = min(values) * 1000, max(values) * 1000, statistics.median(values) * 1000
    return f"median {med:7.1f} ms  (min {lo:.1f}, max {hi:.1f}, n={len(values)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-cold-build", action="store_true", help="skip the cold image build")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (podman, drop_caches, image build)", file=sys.stderr)
        return 1
    rt = ContainerRuntime(RuntimeConfig.detect())
    print(f"engine: {rt.config.engine} {' '.join(rt.config.extra_global_args)}")
    for label, (image, command) in IMAGES.items():
        warm = start_times(rt, image, command, args.runs, cold=False)
        cold = start_times(rt, image, command, args.runs, cold=True)
        print(f"start {label:8s} warm: {ms(warm)}   target <= 1000 ms")
        print(f"start {label:8s} cold: {ms(cold)}   (page cache dropped)")
    stops, starts, pcalls, rcalls = pause_resume(rt, args.runs)
    print(f"pause  until CPU counter stops:  {ms(stops)}   target <= 100 ms")
    print(f"resume until CPU counter moves:  {ms(starts)}   target <= 100 ms")
    print(f"pause  call returns:             {ms(pcalls)}")
    print(f"resume call returns:             {ms(rcalls)}")
    env = dict(os.environ)
    cached = [build_time(env) for _ in range(3)]
    print(f"image build cached (all images): median {statistics.median(cached):.2f} s")
    if not args.no_cold_build:
        tmp = tempfile.mkdtemp(prefix="kt5-bench-cache-", dir="/var/tmp")
        try:
            cold_env = {**env, "KALAVAI_LIKE_IMAGE_CACHE": tmp}
            t = build_time(cold_env, "--force")
            print(f"image build cold (empty cache, --force, all images): {t:.1f} s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
