"""Overlay figures: time from `up` to the first handshake, and throughput against bare WireGuard.

Run as root from the repository root: `python bench/overlay.py`. Everything happens in
namespaces named `kt4-b...`/`kt4?-...` that this script creates and removes (loopback-only
traffic on this machine). Prints:
  - up -> first handshake: median, min and max over 10 spokes brought up on a simulated host;
  - iperf3 TCP spoke -> hub through our namespaces (iperf3 in the spoke's membership namespace,
    WireGuard's socket in its simulated host, over the LAN, to the hub's host and its hub
    namespace), against a bare wireguard-go pair set up by hand in the same run between the
    same two simulated hosts over the same LAN (the ratio: what our namespaces and firewalls
    cost), and, for reference, a bare pair on a single veth (no LAN at all).
    Medians of alternating runs. The box has 2 cores shared with other work: figures vary.
Then bench/relay_paths.py's figures: a UDP-blocked join, relayed against direct, relay CPU.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kalavai_like.net import generate_keypair  # noqa: E402
from tests.support.overlay_pool import build_pool  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

RUNS = 10
IPERF_SECONDS = 4
IPERF_ROUNDS = 5


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout


def iperf(server_ns: str, client_ns: str, addr: str) -> float:
    """TCP throughput client -> server in Mbit/s."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", addr],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until the server listens
            ss = sh("ip", "netns", "exec", server_ns, "ss", "-ltn")
            if ":5201" in ss or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        out = sh("ip", "netns", "exec", client_ns, "iperf3", "-c", addr, "-t",
                 str(IPERF_SECONDS), "-J")  # fmt: skip
        return float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e6
    finally:
        server.kill()
        server.wait(timeout=10)


@contextlib.contextmanager
def veth_pair() -> Iterator[tuple[str, str, str, str]]:
    """Two fresh namespaces joined by one veth: (ns_a, ns_b, addr_a, addr_b)."""
    a, b = "kt4-bare1", "kt4-bare2"
    try:
        for ns in (a, b):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", a, "link", "add", "v", "type", "veth", "peer", "name", "v", "netns", b)
        for i, ns in enumerate((a, b)):
            sh("ip", "-n", ns, "addr", "add", f"192.0.2.{i + 1}/24", "dev", "v")
            sh("ip", "-n", ns, "link", "set", "v", "up")
        yield a, b, "192.0.2.1", "192.0.2.2"
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


@contextlib.contextmanager
def bare_pair(ns: tuple[str, str], underlay: tuple[str, str], tag: str) -> Iterator[None]:
    """wireguard-go in each namespace, configured by hand with `wg set`: 10.99.0.1 <-> .2."""
    pids: list[int] = []
    keys = [generate_keypair(), generate_keypair()]
    try:
        for i in (0, 1):
            ifname = f"kt4-bw{tag}{i}"
            argv = ["ip", "netns", "exec", ns[i], "wireguard-go", "-f", ifname]
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            pids.append(proc.pid)
            wait_for(lambda n=ifname: Path(f"/var/run/wireguard/{n}.sock").exists(), timeout=10)
            key_file = Path(f"/run/kt4-bench-key{i}")
            key_file.touch(mode=0o600)
            key_file.write_text(keys[i].private)
            try:
                sh("wg", "set", ifname, "private-key", str(key_file), "listen-port", str(51830 + i),
                   "peer", keys[1 - i].public, "allowed-ips", f"10.99.0.{2 - i}/32",
                   "endpoint", f"{underlay[1 - i]}:{51830 + 1 - i}")  # fmt: skip
            finally:
                key_file.unlink()
            sh("ip", "-n", ns[i], "addr", "add", f"10.99.0.{i + 1}/24", "dev", ifname)
            sh("ip", "-n", ns[i], "link", "set", ifname, "mtu", "1280", "up")
        yield
    finally:
        for pid in pids:
            subprocess.run(["kill", str(pid)], check=False)
            with contextlib.suppress(Exception):
                wait_for(lambda p=pid: not Path(f"/proc/{p}").exists(), timeout=5)


def main() -> None:
    for pool in build_pool("b", ("h1",)):
        m = pool.member("h1", "s1", 2)
        pool.publish()
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            m.host.up_spoke(m.cfg)
            times.append((time.perf_counter() - t0) * 1000)
            m.host.down_spoke(m.cfg.prefix, m.cfg.name)
        print(f"up -> first handshake over {RUNS} runs: median {statistics.median(times):.0f} ms "
              f"(min {min(times):.0f}, max {max(times):.0f}; target <= 200 ms)")  # fmt: skip
        m.host.up_spoke(m.cfg)
        hosts = (pool.hub_host.netns, m.host.netns)
        ours, lan, veth = [], [], []
        with bare_pair(hosts, ("198.18.0.10", "198.18.0.11"), "l"), veth_pair() as vp:
            with bare_pair(vp[:2], vp[2:], "v"):
                for _ in range(IPERF_ROUNDS):
                    ours.append(iperf(pool.hub_ns, m.ns, "10.42.0.1"))
                    lan.append(iperf(hosts[0], hosts[1], "10.99.0.1"))
                    veth.append(iperf(vp[0], vp[1], "10.99.0.1"))
        for label, runs in (
            ("through our namespaces (spoke -> hub)", ours),
            ("bare wireguard-go pair, same hosts and LAN", lan),
            ("bare wireguard-go pair on one veth (reference)", veth),
        ):
            print(f"iperf3 TCP {label}: {statistics.median(runs):.0f} Mbit/s "
                  f"(runs {', '.join(f'{x:.0f}' for x in runs)})")  # fmt: skip
        o, b_, v = statistics.median(ours), statistics.median(lan), statistics.median(veth)
        print(f"ratio: {100 * o / b_:.0f}% of the bare pair between the same hosts "
              f"(target >= 90%); {100 * o / v:.0f}% of the one-veth pair")  # fmt: skip


if __name__ == "__main__":
    main()
    import relay_paths  # the relay's figures, through the real binaries

    relay_paths.main()
