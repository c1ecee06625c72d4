"""Join latency and pause/resume latency, on the local pool simulator (root; images cached).

Join: from `kalavai-like pool join` starting to its exit, which happens once the worker runs
AND the first heartbeat is acknowledged; also the agent's own span (first to last step).
Pause/resume: wall time of `kalavai-like pool pause|resume` as the CLI sees it, and of the
same LocalAPI call through NodeClient (without the CLI's process start).

    python bench/join.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.simulator import simulated, start_hosts  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def show(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"{label:<38} p50 {pct(ms, 0.5):7.0f} ms   p95 {pct(ms, 0.95):7.0f} ms   "
          f"mean {statistics.mean(ms):7.0f} ms   (n={len(ms)})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    settings = {"sample_interval": 5.0, "heartbeat_interval": 10.0}
    base = Path("/run/kalavai-like/bench-kt6b")
    with simulated("kt6b", settings, start_hosts("seed", "vol"), base=base) as sim:
        seed, vol = sim.hosts["seed"], sim.hosts["vol"]
        sim.cli(seed, "pool", "start", "bench", "--template", "dask",
                "--endpoint", f"{seed.address}:51820")  # fmt: skip
        cli_join, agent_join, cli_pause, cli_resume, api_pause, api_resume = ([] for _ in range(6))
        client = sim.client(vol)
        for _ in range(args.runs):
            token = sim.cli_json(seed, "pool", "token")["token"]
            t0 = time.perf_counter()
            sim.cli(vol, "pool", "join", "-", "--cpus", "1", "--memory", "512m", "--name", "vol",
                    input=token + "\n")  # fmt: skip
            cli_join.append(time.perf_counter() - t0)
            joined = client.status().worker
            agent_join.append((joined.last_heartbeat_at or 0) - joined.joined_at)
            for verb, cli_list in (("pause", cli_pause), ("resume", cli_resume)):
                t0 = time.perf_counter()
                sim.cli(vol, "pool", verb)
                cli_list.append(time.perf_counter() - t0)
            for verb, api_list in (("pause", api_pause), ("resume", api_resume)):
                t0 = time.perf_counter()
                getattr(client, verb)()
                api_list.append(time.perf_counter() - t0)
            sim.cli(vol, "pool", "stop")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kalavai_like", "--version"], check=True,
                       capture_output=True)  # fmt: skip
        startup = time.perf_counter() - t0
        print(f"join latency over {args.runs} joins (image cached)")
        show("CLI `pool join` (until acked)", cli_join)
        show("agent: redeem .. first heartbeat acked", agent_join)
        show("CLI `pool pause`", cli_pause)
        show("CLI `pool resume`", cli_resume)
        show("LocalAPI pause (NodeClient)", api_pause)
        show("LocalAPI resume (NodeClient)", api_resume)
        print(f"{'CLI process start (--version)':<38} {startup * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
