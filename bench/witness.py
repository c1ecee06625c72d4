"""The pool head's witness plugin's cost: scheduler throughput on trivial tasks with the plugin
and without, in one run, in the real dask image (packaging/images/build dask).

Two pools side by side on podman's default network, each a scheduler and `--workers` workers
of one thread; only the plugin differs. A client in each scheduler's container times
client.map(inc) of `--tasks` tasks, `--repeat` times per turn; the pools take turns `--turns`
times so drift on the machine falls on both. Prints tasks/s (median and best) side by side and
the ratio of the medians. Target: with the plugin >= 95% of without.

Usage: python bench/witness.py [--tasks 4000] [--repeat 3] [--turns 3] [--workers 2]
Needs root, podman and the locally built dask image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.dask_pool import DaskPool, unique_prefix  # noqa: E402

CLIENT = """
import json, time
from distributed import Client
c = Client(SCHEDULER, timeout=60)
c.wait_for_workers({workers}, timeout=120)
def inc(x):
    return x + 1
c.gather(c.map(inc, range(200), pure=False))  # warm up
rates = []
for _ in range({repeat}):
    t = time.perf_counter()
    c.gather(c.map(inc, range({tasks}), pure=False))
    rates.append({tasks} / (time.perf_counter() - t))
print(json.dumps(rates))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    code = CLIENT.format(workers=args.workers, repeat=args.repeat, tasks=args.tasks)
    prefix = unique_prefix()
    pools: dict[str, DaskPool] = {}
    with tempfile.TemporaryDirectory(prefix="witness-bench-") as tmp:
        try:
            pools["without"] = DaskPool(None, prefix=f"{prefix}a-")
            pools["with"] = DaskPool(Path(tmp), prefix=f"{prefix}b-")
            for p in pools.values():
                for i in range(args.workers):
                    p.add_worker(f"w{i}")
            rates: dict[str, list[float]] = {"without": [], "with": []}
            for turn in range(args.turns):
                for kind, p in pools.items():
                    rates[kind] += json.loads(p.client(code).strip().splitlines()[-1])
                print(f"turn {turn + 1}/{args.turns} done", file=sys.stderr)
            written = sorted(Path(tmp).glob("*.json"))
            report(rates, args, written)
        finally:
            for p in pools.values():
                p.close()


def report(rates: dict[str, list[float]], args: argparse.Namespace, written: list[Path]) -> None:
    med = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    print(f"Scheduler throughput, client.map(inc) of {args.tasks} tasks on {args.workers} "
          f"one-thread workers, {len(rates['with'])} runs each (alternating):")  # fmt: skip
    print(f"{'':24}{'without plugin':>16}{'with plugin':>14}")
    print(f"{'median tasks/s':24}{med['without']:>16.0f}{med['with']:>14.0f}")
    print(f"{'best tasks/s':24}{best['without']:>16.0f}{best['with']:>14.0f}")
    ratio = med["with"] / med["without"]
    print(f"with / without (median): {ratio:.1%}  (target >= 95%)")
    if written:
        data = json.loads(written[-1].read_text())
        tasks = sum(w["tasks"] for w in data["workers"])
        print(f"witness file: epoch {data['epoch'][:8]}..., {data['counter']} writes, "
              f"{tasks} tasks witnessed")  # fmt: skip


if __name__ == "__main__":
    main()
