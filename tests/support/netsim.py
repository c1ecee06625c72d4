"""Simulated hosts for overlay tests: namespaces on one machine, all named `kt4...`.

Topology: router namespace `kt4-rt` with a bridge (198.18.0.1/24) that every simulated host
namespace `kt4-<h>` joins (198.18.0.<n>/24, default route via the router). The router also
holds 203.0.113.10 (plays "the internet") and 192.168.77.10 (plays "the volunteer's LAN"),
so a failed isolation still keeps every packet inside namespaces these tests created.
Each simulated host runs `hostctl` (a stand-in agent) with its own overlay prefix.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kalavai_like import errors
from kalavai_like.net import BackendInfo, HubStatus, Peer, PeerStatus, SpokeStatus
from kalavai_like.net.cleanup import Leftovers

BRIDGE = "kt4br"
INTERNET = "203.0.113.10"
LAN = "192.168.77.10"
LAN6 = "2001:db8:198::"  # the simulated LAN's IPv6 prefix (documentation space): host n is ::n
ROOT = Path(__file__).resolve().parents[2]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def netns_exists(ns: str) -> bool:
    return os.path.exists(f"/run/netns/{ns}")


def ping(ns: str, addr: str, count: int = 1, wait: float = 2.0) -> bool:
    """One ping from inside `ns` (IPv4 or IPv6); True when a reply came back."""
    res = subprocess.run(
        ["ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", str(count), "-W", str(wait), addr],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return res.returncode == 0


def eventually_pings(ns: str, addr: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(ns, addr):
            return True
    return False


class Network:
    """The router namespace and its bridge; hosts are added with `add_host`.

    `tag` keeps namespaces of different test modules apart (`kt4-<tag>...`).
    """

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.router = f"kt4-{tag}rt"
        self.hosts: list[str] = []

    def start(self) -> None:
        sh("ip", "netns", "add", self.router)
        r = ["ip", "-n", self.router]
        sh(*r, "link", "set", "lo", "up")
        sh(*r, "addr", "add", f"{INTERNET}/32", "dev", "lo")
        sh(*r, "addr", "add", f"{LAN}/32", "dev", "lo")
        sh(*r, "link", "add", BRIDGE, "type", "bridge")
        sh(*r, "addr", "add", "198.18.0.1/24", "dev", BRIDGE)
        sh(*r, "addr", "add", f"{LAN6}1/64", "dev", BRIDGE, "nodad")
        sh(*r, "link", "set", BRIDGE, "up")

    def add_host(self, short: str, index: int) -> str:
        ns = f"kt4-{self.tag}{short}"
        sh("ip", "netns", "add", ns)
        self.hosts.append(ns)
        r = ["ip", "-n", self.router]
        sh(*r, "link", "add", f"kt4r{short}", "type", "veth", "peer", "name", "uplink", "netns", ns)
        sh(*r, "link", "set", f"kt4r{short}", "master", BRIDGE, "up")
        h = ["ip", "-n", ns]
        sh(*h, "link", "set", "lo", "up")
        sh(*h, "addr", "add", f"198.18.0.{index}/24", "dev", "uplink")
        sh(*h, "addr", "add", f"{LAN6}{index}/64", "dev", "uplink", "nodad")
        sh(*h, "link", "set", "uplink", "up")
        sh(*h, "route", "add", "default", "via", "198.18.0.1")
        return ns

    def stop(self) -> None:
        for ns in [*self.hosts, self.router]:
            if netns_exists(ns):
                sh("ip", "netns", "del", ns, check=False)
        self.hosts.clear()


_ERRORS = {
    name: getattr(errors, name)
    for name in ("InvalidInput", "Conflict", "SystemProblem", "NotFound", "KalavaiError")
}


class SimHost:
    """A simulated host namespace with a stand-in agent that owns an `Overlay`.

    Methods mirror `OverlayAPI` and return the same dataclasses, so contract tests can run
    the same assertions on this and on `FakeOverlay`.
    """

    def __init__(self, netns: str, prefix: str) -> None:
        self.netns = netns
        self.prefix = prefix
        self.proc: subprocess.Popen[str] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}", "--",
             sys.executable, "-m", "tests.support.hostctl"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def kill(self) -> None:
        """kill -9 the stand-in agent (its wireguard-go processes keep running)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def call(self, op: str, **args: Any) -> Any:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"stand-in agent in {self.netns} died")
        reply = json.loads(line)
        if reply["ok"]:
            return reply["result"]
        err = reply["error"]
        cls = _ERRORS.get(err["kind"])
        if cls is None:
            raise AssertionError(f"agent crashed: {err}")
        raise cls(err["title"], err["message"])

    # OverlayAPI over the wire
    def up_spoke(self, cfg: Any, handshake_timeout: float = 10.0) -> SpokeStatus:
        return SpokeStatus(
            **self.call("up_spoke", cfg=_cfg(cfg), handshake_timeout=handshake_timeout)
        )

    def ensure_spoke(self, cfg: Any, handshake_timeout: float = 10.0) -> SpokeStatus:
        return SpokeStatus(
            **self.call("ensure_spoke", cfg=_cfg(cfg), handshake_timeout=handshake_timeout)
        )

    def down_spoke(self, prefix: str, name: str) -> None:
        self.call("down_spoke", prefix=prefix, name=name)

    def spoke_status(self, prefix: str, name: str) -> SpokeStatus | None:
        d = self.call("spoke_status", prefix=prefix, name=name)
        return SpokeStatus(**d) if d else None

    def up_hub(self, cfg: Any) -> HubStatus:
        return _hub(self.call("up_hub", cfg=_cfg(cfg)))

    def ensure_hub(self, cfg: Any, peers: list[Peer] | None = None) -> HubStatus:
        plist = [_cfg(p) for p in peers] if peers is not None else None
        return _hub(self.call("ensure_hub", cfg=_cfg(cfg), peers=plist))

    def set_peers(self, prefix: str, name: str, peers: list[Peer]) -> None:
        self.call("set_peers", prefix=prefix, name=name, peers=[_cfg(p) for p in peers])

    def down_hub(self, prefix: str, name: str) -> None:
        self.call("down_hub", prefix=prefix, name=name)

    def hub_status(self, prefix: str, name: str) -> HubStatus | None:
        d = self.call("hub_status", prefix=prefix, name=name)
        return _hub(d) if d else None

    def cleanup(self, prefix: str) -> Leftovers:
        return Leftovers(**self.call("cleanup", prefix=prefix))

    def check_subnet_free(self, subnet: str) -> None:
        self.call("check_subnet_free", subnet=subnet)

    def probe_backend(self) -> BackendInfo:
        return BackendInfo(**self.call("probe_backend"))


def _cfg(obj: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(obj)


def _hub(d: dict[str, Any]) -> HubStatus:
    peers = tuple(PeerStatus(**{**p, "allowed_ips": tuple(p["allowed_ips"])}) for p in d["peers"])
    return HubStatus(**{**d, "peers": peers})


@contextlib.contextmanager
def network(tag: str) -> Iterator[Network]:
    net = Network(tag)
    try:
        net.start()
        yield net
    finally:
        net.stop()


def leftovers(prefix: str) -> list[str]:
    """Anything on the machine still carrying `prefix-` (namespaces, sockets, processes)."""
    found = [f"netns {n}" for n in os.listdir("/run/netns") if n.startswith(f"{prefix}-")] \
        if os.path.isdir("/run/netns") else []  # fmt: skip
    if os.path.isdir("/var/run/wireguard"):
        found += [
            f"socket {s}" for s in os.listdir("/var/run/wireguard") if s.startswith(f"{prefix}-")
        ]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                argv
                and argv[0].endswith(b"wireguard-go")
                and any(a.startswith(f"{prefix}-".encode()) for a in argv[1:])
            ):
                found.append(f"wireguard-go pid {pid}")
    return found


def links(ns: str) -> list[str]:
    """Interface names in `ns`."""
    out = sh("ip", "-n", ns, "-o", "link", "show").stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def nft_tables(ns: str) -> list[str]:
    out = sh("ip", "netns", "exec", ns, "nft", "list", "tables").stdout
    return [line.split()[-1] for line in out.splitlines() if line.startswith("table")]


def ipv4_of(ns: str, ifname: str) -> str:
    out = sh("ip", "-n", ns, "-4", "-o", "addr", "show", "dev", ifname).stdout
    return out.split()[3].split("/")[0]


def spawn_pings(ns: str, addr: str, count: int, interval: float = 0.05) -> subprocess.Popen[str]:
    """A background ping run from `ns`; its summary tells how many replies came back."""
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, "ping", "-n", "-q", "-i", str(interval), "-c", str(count),
         "-W", "5", addr],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def received(proc: subprocess.Popen[str]) -> tuple[int, int]:
    """(transmitted, received) from a finished ping's summary."""
    out, _ = proc.communicate(timeout=60)
    for line in out.splitlines():
        if "packets transmitted" in line:
            words = line.replace(",", "").split()
            return int(words[0]), int(words[3])
    raise AssertionError(f"no ping summary in {out!r}")
