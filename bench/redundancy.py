"""Redundant computing's cost and speed on one real Dask cluster (kalavai_redundancy).

A LocalCluster on loopback (plain TCP, in one process; the head's witness plugin loaded) with
`--volunteers` one-thread workers, each its own user. In one run:
- throughput of `--workunits` small workunits (a few ms of arithmetic each) at min_quorum 1 and
  at min_quorum 2 (target_nresults 2), taking `--turns` turns each so drift falls on both;
- the same at min_quorum 2 with adaptive replication (trusted after 10 agreed results, 10% spot
  checks), once the volunteers have a record: what trusting reliable hosts wins back;
- a liar: one more volunteer whose results are wrong joins, and `--workunits` workunits run at
  min_quorum 2; per invalid result, the time from when its wrong result came back to the
  verdict on its workunit (the liar detected), and the time from the run's start to the first
  detection.

Usage: python bench/redundancy.py [--workunits 200] [--volunteers 4] [--turns 2]
Without `distributed` here it runs itself in the dask image (podman, a container named kq2-...).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "packaging/images/dask/files/usr/lib/python3/dist-packages"))


def honest(x: int) -> int:
    """A small workunit: a few milliseconds of arithmetic."""
    return sum(i * i % 7 for i in range(20000 + x))


def work(x: int) -> int:
    """The workunit as volunteers run it: a liar's answer is wrong."""
    import distributed

    return honest(x) + 1 if str(distributed.get_worker().name).startswith("liar") else honest(x)


def user_of(address: str, info: dict[str, Any]) -> str:
    return str(info["name"])


ADAPTIVE = {"adaptive": True, "trusted_after": 10, "spot_check": 0.1}


def throughput(kr: Any, client: Any, n: int, quorum: int, trust: dict[str, int]) -> float:
    """Workunits per second at `quorum` (0: quorum 2, adaptive from the record `trust`)."""
    policy = kr.Redundancy(min_quorum=2, **ADAPTIVE) if quorum == 0 else kr.Redundancy(
        min_quorum=quorum)  # fmt: skip
    t = time.perf_counter()
    report = kr.run_redundant(client, work, range(n), policy, identity=user_of, trust=trust)
    assert report.ok, [w.error for w in report.workunits if w.state != kr.DONE]
    return n / (time.perf_counter() - t)


def detection(kr: Any, client: Any, n: int) -> dict[str, Any]:
    start = time.monotonic()
    policy = kr.Redundancy(min_quorum=2, target_nresults=2)
    report = kr.run_redundant(client, work, range(n), policy, identity=user_of)
    assert report.ok
    lags, firsts = [], []
    for wu in report.workunits:
        for r in wu.results:
            if r.outcome == "invalid" and r.received is not None and wu.finished is not None:
                lags.append(wu.finished - r.received)
                firsts.append(wu.finished - start)
    return {
        "invalid_results": len(lags),
        "detect_after_wrong_result_s": {
            "median": round(statistics.median(lags), 4) if lags else None,
            "max": round(max(lags), 4) if lags else None,
        },
        "first_detection_after_start_s": round(min(firsts), 4) if firsts else None,
        "canonical_right": report.values() == [honest(x) for x in range(n)],
    }


async def witness(scheduler: Any, directory: str) -> None:
    """The pool head's witness plugin, as the head preloads it: outcomes reach it."""
    import kalavai_witness

    os.environ["KALAVAI_WITNESS_DIR"] = directory
    kalavai_witness.dask_setup(scheduler)
    await scheduler.plugins[kalavai_witness.WitnessPlugin.name].start(scheduler)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import distributed
    import kalavai_redundancy as kr

    cluster = distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None,
                                       host="127.0.0.1", protocol="tcp://")  # fmt: skip
    client = distributed.Client(cluster)
    client.sync(witness, cluster.scheduler, tempfile.mkdtemp())
    workers = []

    def add(name: str) -> None:
        workers.append(client.sync(lambda: distributed.Worker(
            cluster.scheduler_address, name=name, nthreads=1, dashboard=False)))  # fmt: skip
        client.wait_for_workers(len(workers))

    try:
        for i in range(args.volunteers):
            add(f"v{i}")
        trust: dict[str, int] = {}
        throughput(kr, client, 20, 1, trust)  # warm up
        rates: dict[int, list[float]] = {1: [], 2: [], 0: []}
        for _ in range(args.turns):
            for q in (1, 2, 0):  # the quorum 2 runs build the record adaptive runs use
                rates[q].append(throughput(kr, client, args.workunits, q, trust))
        add("liar")
        liar = detection(kr, client, args.workunits)
    finally:
        for w in workers:
            client.sync(w.close)
        client.close()
        cluster.close()
    q1, q2, qa = (statistics.median(rates[q]) for q in (1, 2, 0))
    return {
        "workunits": args.workunits, "volunteers": args.volunteers, "turns": args.turns,
        "quorum1_wu_per_s": round(q1, 1), "quorum2_wu_per_s": round(q2, 1),
        "quorum2_over_quorum1": round(q2 / q1, 3), "adaptive2_wu_per_s": round(qa, 1),
        "adaptive2_over_quorum1": round(qa / q1, 3), "liar": liar,
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workunits", type=int, default=200)
    ap.add_argument("--volunteers", type=int, default=4)
    ap.add_argument("--turns", type=int, default=2)
    args = ap.parse_args()
    try:
        import distributed  # noqa: F401
    except ImportError:
        from tests.support.dask_pool import python_in_image

        code, out = python_in_image("bench/redundancy.py", *sys.argv[1:])
        lines = [x for x in out.splitlines() if x.startswith("{")]
        print(lines[-1] if code == 0 and lines else out)
        return code
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
