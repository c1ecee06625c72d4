"""Relay figures through the real binaries (bench/overlay.py runs this after its own figures):
  - `pool join` on a volunteer whose namespace drops all outbound UDP: time from the join's
    first step to its first WireGuard handshake (through the relay), and the whole join;
  - iperf3 TCP over the overlay from a volunteer to its hub, relayed (UDP blocked) against
    direct (UDP open) between identical simulated hosts on the same LAN, alternating rounds;
  - the relay's CPU (utime + stime of `relay serve`) per 100 Mbit/s it carried.

Run as root from the repository root: `python bench/relay_paths.py`. Everything is a simulated
pool named `kb7...` (namespaces on a bridge, loopback-only traffic), removed at the end. The
pool is `generic` (busybox sleeping): the figures are the network's, not Dask's. The box has
2 cores shared with other work: figures vary.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kalavai_like.devtools.simulator import SimHost, Simulator  # noqa: E402
from tests.e2e.relay.conftest import block_udp  # noqa: E402
from tests.support.simulator import FAST  # noqa: E402

PREFIX = "kb7"
ROUNDS = 3
SECONDS = 5
BUSYBOX = "localhost/kalavai-like/busybox:latest"


def iperf(server_ns: str, client_ns: str, addr: str) -> float:
    """TCP throughput client -> server in Mbit/s (the server exits after one test)."""
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", addr],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(0.5)
        out = subprocess.run(["ip", "netns", "exec", client_ns, "iperf3", "-c", addr, "-t",
                              str(SECONDS), "-J"], capture_output=True, text=True, timeout=60,
                             check=True).stdout  # fmt: skip
        return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e6
    finally:
        server.kill()
        server.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _seconds(at: str | float) -> float:
    return dt.datetime.fromisoformat(at).timestamp() if isinstance(at, str) else float(at)


def join(sim: Simulator, vol: SimHost, token: str) -> tuple[float, float]:
    """Seconds from the join's first step to its first handshake, and for the whole join."""
    out = sim.cli_json(vol, "pool", "join", "-", "--cpus", "0.5", "--memory", "256m",
                       input=token + "\n")  # fmt: skip
    steps = [(_seconds(s["at"]), s["text"]) for s in out["steps"]]
    first = steps[0][0]
    shook = next(at for at, text in steps if "first WireGuard handshake done" in text)
    return shook - first, steps[-1][0] - first


def main() -> None:
    sim = Simulator(PREFIX, Path(f"/run/kalavai-like/bench-{PREFIX}"))
    sim.agent_settings = {**FAST, "direct_probe_interval": 3600.0}
    try:
        sim.start_network()
        seed, blocked, open_ = (sim.add_host(h) for h in ("seed", "v1", "v2"))
        sim.start_platform(relay=True)
        for h in (seed, blocked, open_):
            sim.start_agent(h)
            sim.signup(h)
        pool = sim.cli_json(seed, "pool", "start", "bench", "--template", "generic", "--param",
                            f"image={BUSYBOX}", "--param", 'command:=["sleep", "100000"]',
                            "--endpoint", f"{seed.address}:51820", "--uses", "2")  # fmt: skip
        block_udp(blocked, "out")
        shake, whole = join(sim, blocked, pool["token"])
        print(f"pool join, outbound UDP blocked: first handshake (through the relay) {shake:.2f} s "
              f"after the join's first step (target <= 3 s); whole join {whole:.2f} s")  # fmt: skip
        join(sim, open_, pool["token"])
        hub_ns, hub = f"{seed.node_prefix}-hub", pool["address"]
        assert sim.relay is not None
        relayed, direct, cpu = [], [], []
        for _ in range(ROUNDS):
            before = cpu_seconds(sim.relay.pid)
            relayed.append(iperf(hub_ns, f"{blocked.node_prefix}-wk", hub))
            cpu.append((cpu_seconds(sim.relay.pid) - before) / (relayed[-1] * SECONDS / 100))
            direct.append(iperf(hub_ns, f"{open_.node_prefix}-wk", hub))
        r, d = statistics.median(relayed), statistics.median(direct)
        for label, runs in (("relayed (UDP blocked)", relayed), ("direct", direct)):
            print(f"iperf3 TCP volunteer -> hub, {label}: {statistics.median(runs):.0f} Mbit/s "
                  f"(runs {', '.join(f'{x:.0f}' for x in runs)})")  # fmt: skip
        print(f"relayed: {100 * r / d:.0f}% of direct (target >= 60%)")
        print(f"relay CPU: {statistics.median(cpu):.2f} s per 100 Mbit/s carried for 1 s "
              f"(runs {', '.join(f'{x:.2f}' for x in cpu)}), i.e. "
              f"{100 * statistics.median(cpu):.0f}% of a core per 100 Mbit/s")  # fmt: skip
    finally:
        sim.close()


if __name__ == "__main__":
    main()
