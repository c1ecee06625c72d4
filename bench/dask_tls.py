"""The pool's mutual TLS and guard: what they cost, and how long `pool run` takes to answer.

1. Scheduler throughput on trivial tasks, plain TCP vs mutual TLS behind the guard, in one run
   in the real dask image: each turn, a fresh container (no network) per variant runs a
   `dask scheduler` and `--workers` `dask worker --no-nanny` processes of one thread, started
   as the templates start them (TLS: the pool CA's certificates, `--preload kalavai_guard`,
   the member list); a client times client.map(inc) of `--tasks` tasks, `--repeat` times.
   `--turns` turns, alternating which variant goes first, so drift on the machine falls on
   both. Prints tasks/s (median) and the ratio.
2. `pool run` of a trivial script (`print("hi")`): seconds from the command's start to its
   first output line, `--runs` times, on a simulated pool (a seed and one volunteer).

Usage: python bench/dask_tls.py [--tasks 500] [--repeat 2] [--turns 4] [--workers 2] [--runs 3]
Needs root, podman, wireguard-go and the locally built dask image; everything is named `ks1...`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kalavai_like.agent.pool_ca import PoolCA  # noqa: E402
from kalavai_like.container import RuntimeConfig, dask_guard  # noqa: E402

DASK = "localhost/kalavai-like/dask:latest"
PREFIX = "ks1"

DRIVER = r"""
import json, os, subprocess, sys, time
from distributed import Client
from distributed.security import Security
C = "/certs"
secure = sys.argv[1] == "tls"
workers, tasks, repeat = (int(a) for a in sys.argv[2:5])
env = {**os.environ, "PYTHONPATH": C, "KALAVAI_GUARD_MEMBERS": C + "/members.json",
       "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}
def tls(role, name):
    return ["--tls-ca-file", C + "/ca.pem", "--tls-cert", f"{C}/{name}.pem",
            "--tls-key", f"{C}/{name}.key", "--preload", "kalavai_guard"]
def start(secure, port):
    head = ["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    head += ["--protocol", "tls"] + tls("scheduler", "scheduler") if secure else []
    procs = [subprocess.Popen(head, env=env if secure else os.environ, stderr=subprocess.DEVNULL)]
    addr = ("tls" if secure else "tcp") + f"://127.0.0.1:{port}"
    for i in range(workers):
        w = ["dask", "worker", addr, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        w += tls("worker", f"dev-{i}") if secure else []
        procs.append(subprocess.Popen(w, env=env if secure else os.environ,
                                      stderr=subprocess.DEVNULL))
    sec = Security(tls_ca_file=C + "/ca.pem", tls_client_cert=C + "/owner.pem",
                   tls_client_key=C + "/owner.key", require_encryption=True) if secure else None
    c = Client(addr, security=sec, timeout=60)
    c.wait_for_workers(workers, timeout=120)
    return procs, c
def inc(x):
    return x + 1
procs, c = start(secure, 8786)
c.gather(c.map(inc, range(200), pure=False))  # warm up
rates = []
for _ in range(repeat):
    t = time.perf_counter()
    c.gather(c.map(inc, range(tasks), pure=False))
    rates.append(tasks / (time.perf_counter() - t))
print(json.dumps(rates), flush=True)
c.close()
for p in procs:
    p.terminate()
"""


def certs(d: Path, workers: int) -> None:
    """The pool CA's certificates, the guard, the member list and the driver, in `d`."""
    ca = PoolCA(d / "ca", "bench")
    names = [("scheduler", "scheduler"), ("client", "owner")]
    names += [("worker", f"dev-{i}") for i in range(workers)]
    for role, name in names:
        issued = ca.issue(role, name)
        (d / f"{name}.pem").write_text(issued.cert)
        (d / f"{name}.key").write_text(issued.key)
    (d / "ca.pem").write_text(ca.ca_pem)
    members = {f"dev-{i}": "127.0.0.1" for i in range(workers)}
    (d / "members.json").write_text(json.dumps({"members": members}))
    shutil.copyfile(dask_guard.__file__, d / "kalavai_guard.py")
    (d / "driver.py").write_text(DRIVER)
    for f in d.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)


def one_cluster(mode: str, d: Path, args: argparse.Namespace) -> list[float]:
    """tasks/s of one fresh cluster (`plain` or `tls`) in its own container."""
    config = RuntimeConfig.detect()
    name = f"{PREFIX}-bench-{uuid.uuid4().hex[:8]}"
    argv = config.command("run", "--rm", "--name", name, "--network", "none", "-v",
                          f"{d}:/certs:ro", DASK, "python3", "/certs/driver.py", mode,
                          str(args.workers), str(args.tasks), str(args.repeat))  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=config.environ(),
                              timeout=900, check=False)  # fmt: skip
    finally:
        subprocess.run(config.command("rm", "-f", name), capture_output=True,
                       env=config.environ(), check=False)  # fmt: skip
    lines = [x for x in proc.stdout.splitlines() if x.startswith("[")]
    if not lines:
        raise SystemExit(f"the driver failed:\n{proc.stderr[-3000:]}")
    return list(json.loads(lines[-1]))


def throughput(args: argparse.Namespace) -> dict[str, list[float]]:
    """Each turn a fresh plain and a fresh TLS cluster, alternating which goes first."""
    rates: dict[str, list[float]] = {"plain": [], "tls": []}
    with tempfile.TemporaryDirectory(prefix="ks1-bench-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        certs(d, args.workers)
        for turn in range(args.turns):
            for mode in ("tls", "plain") if turn % 2 else ("plain", "tls"):
                rates[mode] += one_cluster(mode, d, args)
    return rates


def first_line(args: argparse.Namespace) -> list[float]:
    from tests.support.simulator import FAST, simulated, start_hosts

    seconds = []
    with simulated(PREFIX, FAST, start_hosts("seed", "alice")) as sim:
        seed = sim.hosts["seed"]
        sim.cli(seed, "pool", "start", "bench", "--template", "dask",
                "--endpoint", f"{seed.address}:51820")  # fmt: skip
        token = sim.cli_json(seed, "pool", "token", "--uses", "1")["token"]
        sim.cli(sim.hosts["alice"], "pool", "join", "-", "--cpus", "1", "--memory", "1g",
                input=token + "\n")  # fmt: skip
        script = sim.base_dir / "hi.py"
        script.write_text('print("hi", flush=True)\n')
        script.chmod(0o644)
        argv = [sys.executable, "-m", "kalavai_like", "--home", str(seed.home), "pool", "run",
                str(script)]  # fmt: skip
        for _ in range(args.runs):
            t = time.perf_counter()
            with subprocess.Popen(["nsenter", f"--net=/run/netns/{seed.netns}", "--", *argv],
                                  stdout=subprocess.PIPE, text=True) as proc:  # fmt: skip
                assert proc.stdout is not None
                proc.stdout.readline()
                seconds.append(time.perf_counter() - t)
                proc.wait()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rates = throughput(args)
    plain, tls = statistics.median(rates["plain"]), statistics.median(rates["tls"])
    print(f"throughput, {args.tasks} trivial tasks on {args.workers} one-thread workers:")
    for label, key in (("plain TCP         ", "plain"), ("mutual TLS + guard", "tls")):
        r = rates[key]
        print(f"  {label} {statistics.median(r):8.0f} tasks/s (median of {len(r)}; "
              f"{min(r):.0f}..{max(r):.0f})")  # fmt: skip
    print(f"  TLS / plain        {tls / plain:8.2f}")
    secs = first_line(args)
    print(f"pool run, trivial script, first output line: median {statistics.median(secs):.2f} s "
          f"(runs: {', '.join(f'{s:.2f}' for s in secs)})")  # fmt: skip


if __name__ == "__main__":
    main()
