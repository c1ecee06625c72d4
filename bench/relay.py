"""The relay's data path alone, on loopback: UDP -> spoke bridge -> relay -> hub bridge -> UDP.

Run from the repository root: `python bench/relay.py [--seconds 5]`. It starts the real
platform with its relay (`platform serve --relay-port 0`, SQLite in a temporary directory),
enrols a hub and a worker through the API, starts both bridges as the agent would, then
sends 1420-byte datagrams from a stand-in for the spoke's WireGuard socket to a stand-in for
the hub's, at fixed rates and unpaced ("max"). Prints per run: offered and delivered
Mbit/s, packets/s, loss, and the CPU seconds each process used; first, for comparison, the
same sender and sink on a plain loopback UDP pair. Nothing leaves 127.0.0.1. The box has 2
cores shared by all five processes: figures vary from run to run.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kalavai_like.home.files import write_text  # noqa: E402
from kalavai_like.net.relay.launch import (  # noqa: E402
    BridgeConfig,
    read_status,
    start_bridge,
    stop_bridge,
)
from kalavai_like.net.runner import SystemRunner  # noqa: E402
from kalavai_like.platform.local import start_local_platform  # noqa: E402
from tests.support.platform_api import TEST_SIGNUPS_PER_HOUR, Api  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SIZE = 1420
RATES = (100, 200, 300, 400, 500, 0)  # Mbit/s offered; 0: as fast as the sender can


def send(src_port: int, dst_port: int, mbits: float, seconds: float) -> None:
    """The stand-in WireGuard sender: datagrams of SIZE bytes, paced in 1 ms slices."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", src_port))
    sock.connect(("127.0.0.1", dst_port))
    payload = bytes(SIZE)
    per_ms = mbits * 1e6 / 8 / SIZE / 1000 if mbits else 0.0
    sent, start = 0, time.monotonic()
    end = start + seconds
    while (now := time.monotonic()) < end:
        due = int((now - start) * 1000 * per_ms) + 1 if per_ms else sent + 64
        while sent < due:
            try:
                sock.send(payload)
            except OSError:  # ENOBUFS/ECONNREFUSED: the datagram is lost, as on a wire
                pass
            sent += 1
        if per_ms:
            time.sleep(max(0.0, start + sent / per_ms / 1000 - time.monotonic()))
    print(json.dumps({"sent": sent, "cpu": time.process_time()}), flush=True)


def sink(port: int, idle: float) -> None:
    """The stand-in receiving WireGuard: counts datagrams until `idle` s pass without one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", port))
    print("ready", flush=True)
    buf = bytearray(65536)
    count = total = 0
    first = last = 0.0
    sock.settimeout(30)
    while True:
        try:
            n = sock.recv_into(buf)
        except TimeoutError:
            break
        last = time.monotonic()
        if not count:
            first = last
            sock.settimeout(idle)
        count += 1
        total += n
    done = {"packets": count, "bytes": total, "seconds": last - first, "cpu": time.process_time()}
    print(json.dumps(done), flush=True)


def _child(*args: object) -> subprocess.Popen[str]:
    argv = [sys.executable, __file__, *map(str, args)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def udp_drops(ports: dict[str, int]) -> dict[str, int]:
    """Datagrams the kernel dropped at full receive buffers of these loopback UDP ports."""
    wanted = {f"0100007F:{port:04X}": name for name, port in ports.items()}
    out = dict.fromkeys(ports, 0)
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] in wanted:
                out[wanted[fields[1]]] += int(fields[-1])
    return out


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        except psutil.NoSuchProcess:
            out[name] = 0.0
    return out


def run_once(
    src: int,
    dst_in: int,
    sink_port: int,
    mbits: float,
    seconds: float,
    others: dict[str, int],
    drops: Callable[[], dict[str, int]] = dict,
) -> str:
    """One paced run; its figures as a line (with the bridges' drops, by why)."""
    dropped = drops()
    rx = _child("--sink", sink_port, 1.0)
    assert rx.stdout is not None and rx.stdout.readline().strip() == "ready"
    before = _cpu(others)
    tx = _child("--send", src, dst_in, mbits, seconds)
    sent = json.loads(tx.communicate(timeout=seconds + 30)[0])
    got = json.loads(rx.communicate(timeout=60)[0])
    used = {k: v - before[k] for k, v in _cpu(others).items()}
    used.update(sender=sent["cpu"], sink=got["cpu"])
    rate = got["bytes"] * 8 / seconds / 1e6
    loss = 1 - got["packets"] / sent["sent"] if sent["sent"] else 0.0
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in used.items())
    offered = f"{mbits:4.0f}" if mbits else " max"
    lost = {k: v - dropped.get(k, 0) for k, v in drops().items() if v - dropped.get(k, 0)}
    where = f"; drops {lost}" if lost else ""
    return (
        f"  offered {offered} Mbit/s: delivered {rate:6.1f} Mbit/s, "
        f"{got['packets'] / seconds:8.0f} packets/s, loss {loss:6.1%}; CPU s: {cpu}{where}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--send", nargs=4, type=float)
    parser.add_argument("--sink", nargs=2, type=float)
    args = parser.parse_args()
    if args.send:
        send(int(args.send[0]), int(args.send[1]), args.send[2], args.send[3])
        return
    if args.sink:
        sink(int(args.sink[0]), args.sink[1])
        return
    print(f"datagrams of {SIZE} bytes, {args.seconds:g} s per run")
    print("plain loopback UDP pair (sender -> sink):")
    for mbits in RATES:
        print(run_once(_free_port(), (p := _free_port()), p, mbits, args.seconds, {}))
    relayed(args.seconds)


def relayed(seconds: float) -> None:
    runner = SystemRunner()
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_local_platform(
            Path(tmp) / "platform", relay_port=0, signups_per_hour=TEST_SIGNUPS_PER_HOUR
        ) as platform,
    ):
        api = Api(platform.url)
        owner = api.user()
        pool = api.pool(owner)
        hub = api.hub(owner, pool)
        worker = api.join(api.as_(owner.credential), owner, pool)
        relay_pid = next(c.pid for c in psutil.Process(platform.pid).children())
        spoke_wg, hub_wg = _free_port(), _free_port()
        configs = {
            "hub": BridgeConfig(platform.relay, hub["device_id"], hub["credential"], hub_wg, (),
                                on_demand=True),
            "spoke": BridgeConfig(platform.relay, worker["device"]["id"], worker["credential"],
                                  spoke_wg, (hub["address"],)),
        }  # fmt: skip
        pids: dict[str, int] = {}
        try:
            for name, cfg in configs.items():
                write_text(Path(tmp) / f"{name}.json", cfg.to_json(), secret=True)
                pids[f"{name} bridge"] = start_bridge(
                    runner, Path(tmp) / f"{name}.json", Path(tmp) / f"{name}.sock", f"bench-{name}"
                )
            for name in configs:
                wait_for(lambda n=name: (s := read_status(Path(tmp) / f"{n}.sock")) and s.connected,
                         what=f"the {name} bridge to connect")  # fmt: skip
            status = read_status(Path(tmp) / "spoke.sock")
            assert status is not None
            into = status.ports[hub["address"]]
            print("relayed (sender -> spoke bridge -> relay -> hub bridge -> sink):")

            def drops() -> dict[str, int]:
                at = udp_drops({"spoke bridge": into, "sink": hub_wg})
                out = {f"kernel at {k}": v for k, v in at.items()}
                for name in configs:
                    s = read_status(Path(tmp) / f"{name}.sock")
                    out.update({f"{name} {k}": v for k, v in (s.dropped if s else {}).items()})
                return out

            for mbits in RATES:
                others = {**pids, "relay": relay_pid}
                print(run_once(spoke_wg, into, hub_wg, mbits, seconds, others, drops))
        finally:
            for name, pid in pids.items():
                stop_bridge(runner, pid, f"bench-{name.split()[0]}")
            platform.stop()
            print(*(line for line in platform.log().splitlines() if "relay stopped" in line))


if __name__ == "__main__":
    main()
