"""The agent's own footprint while joined with a busy worker: RSS and CPU of the agent
process (not the worker, not podman) over a run, on the local pool simulator (root).

The worker is kept busy by a Dask computation submitted from the pool head for the whole run.

    python bench/agent.py [--seconds 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from kalavai_like.container.config import RuntimeConfig  # noqa: E402
from kalavai_like.devtools.simulator import SimHost, Simulator  # noqa: E402
from tests.support.simulator import simulated, start_hosts  # noqa: E402

BUSY = """
from distributed import Client
import time
c = Client("tcp://{head}:8786", timeout=30)
c.wait_for_workers(1, timeout=60)
def spin(i, until):
    import time
    n = 0
    while time.time() < until:
        n += 1
    return n
until = time.time() + {seconds}
print(sum(c.gather(c.map(spin, range(4), until=until, pure=False))))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300.0)
    args = ap.parse_args()
    busy = None
    base = Path("/run/kalavai-like/bench-kt6a")
    # {}: the [agent] defaults a user gets
    with simulated("kt6a", {}, start_hosts("seed", "vol"), base=base) as sim:
        seed, vol = sim.hosts["seed"], sim.hosts["vol"]
        try:
            out = sim.cli_json(seed, "pool", "start", "bench", "--template", "dask",
                               "--endpoint", f"{seed.address}:51820")  # fmt: skip
            sim.cli(vol, "pool", "join", "-", "--cpus", "1", "--memory", "1g", "--name", "vol",
                    input=out["token"] + "\n")  # fmt: skip
            rc = RuntimeConfig.detect("podman", probe=False)
            script = BUSY.format(head=out["address"], seconds=args.seconds + 30)
            busy = subprocess.Popen(
                rc.command("exec", "-i", "-e", "HOME=/tmp", out["head"], "python3", "-"),
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=rc.environ(), text=True,
            )  # fmt: skip
            busy.stdin.write(script)  # type: ignore[union-attr]
            busy.stdin.close()  # type: ignore[union-attr]
            time.sleep(10)  # let the computation reach the worker
            report(sim, vol, args.seconds)
        finally:
            if busy is not None and busy.poll() is None:
                busy.kill()


def report(sim: Simulator, vol: SimHost, seconds: float) -> None:
    """Sample the agent's RSS and CPU for `seconds` and print them."""
    agent = psutil.Process(vol.agent.pid)  # type: ignore[union-attr]
    c0, t0 = agent.cpu_times(), time.monotonic()
    rss: list[int] = []
    while time.monotonic() - t0 < seconds:
        rss.append(agent.memory_info().rss)
        time.sleep(1.0)
    c1, wall = agent.cpu_times(), time.monotonic() - t0
    cpu = (c1.user + c1.system - c0.user - c0.system) / wall * 100
    worker = sim.client(vol).status().worker
    print(f"agent footprint over {wall:.0f} s joined with a busy worker")
    print(f"  RSS   max {max(rss) / 2**20:6.1f} MiB   mean {sum(rss) / len(rss) / 2**20:6.1f} MiB")
    print(f"  CPU   {cpu:.2f} % of one core")
    print(f"  worker used {worker.live_cpu_cores:.2f} cores at the end; "
          f"ledger {worker.totals.cpu_seconds:.0f} CPU-seconds")  # fmt: skip


if __name__ == "__main__":
    main()
