"""The local pool simulator: N simulated hosts on one machine around one real platform.

Each simulated host is a network namespace `<prefix>-<host>` with its own agent process (run
with `nsenter --net`), its own `--home` and its own overlay name prefix `<prefix><n>`. Hosts
hang off a bridge `<prefix>br` in the root namespace on 198.18.<k>.0/24 (RFC 2544 benchmark
space: never a real LAN, never a pool subnet); the platform listens on the bridge's address,
so every host reaches it and nothing else. Hosts get no default route: no packet can leave.

Everything it makes carries the prefix and is removed by name or PID in `close()`: agents,
containers, namespaces, interfaces, wireguard-go processes and the platform.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kalavai_like.devtools import system
from kalavai_like.errors import AgentUnavailable, KalavaiError, SystemProblem

log = logging.getLogger(__name__)
PASSWORD = "demo-password-1"  # noqa: S105 (throwaway accounts on a throwaway platform)


@dataclass
class SimHost:
    """One simulated host: namespace, address, home, overlay prefix and agent process."""

    short: str
    index: int
    netns: str
    address: str
    home: Path
    node_prefix: str
    email: str
    agent: subprocess.Popen[bytes] | None = None
    pid: int | None = None  # the agent's, when loaded from a saved state

    @property
    def socket(self) -> Path:
        return self.home / "run" / "agent.sock"


@dataclass
class Simulator:
    """See the module docstring. Use as a context manager, or call `close()`."""

    prefix: str
    base_dir: Path
    octet: int = 0
    hosts: dict[str, SimHost] = field(default_factory=dict)
    platform: Any = None
    agent_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    platform_pid: int | None = None
    platform_url: str = ""
    relay_port: int = 0  # the relay's TCP port on the bridge (0: no relay)
    relay: subprocess.Popen[bytes] | None = None
    relay_pid: int | None = None  # when loaded from a saved state
    agent_settings: dict[str, float] = field(
        default_factory=lambda: {"sample_interval": 2.0, "heartbeat_interval": 3.0}
    )

    def __post_init__(self) -> None:
        if not self.octet:
            self.octet = 10 + zlib.crc32(self.prefix.encode()) % 240
        self.bridge = f"{self.prefix}br"
        self.gateway = f"198.18.{self.octet}.1"

    # ---- network --------------------------------------------------------------------------

    def start_network(self) -> None:
        """Create the bridge in the root namespace (removing a stale one of ours first)."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        system.ip("link", "del", self.bridge, check=False)
        self.octet = system.free_octet(self.octet)  # another simulator may hold the derived one
        self.gateway = f"198.18.{self.octet}.1"
        system.ip("link", "add", self.bridge, "type", "bridge")
        system.ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        system.ip("link", "set", self.bridge, "up")

    def add_host(self, short: str) -> SimHost:
        """A new simulated host namespace on the bridge, with its own home."""
        index = len(self.hosts) + 1
        ns = f"{self.prefix}-{short}"
        veth = f"{self.prefix}v{index}"
        system.ip("netns", "del", ns, check=False)
        system.ip("link", "del", veth, check=False)
        system.ip("netns", "add", ns)
        system.ip("link", "add", veth, "type", "veth", "peer", "name", "uplink", "netns", ns)
        system.ip("link", "set", veth, "master", self.bridge, "up")
        address = f"198.18.{self.octet}.{index + 1}"
        system.ip("-n", ns, "link", "set", "lo", "up")
        system.ip("-n", ns, "addr", "add", f"{address}/24", "dev", "uplink")
        system.ip("-n", ns, "link", "set", "uplink", "up")
        home = self.base_dir / short
        shutil.rmtree(home, ignore_errors=True)  # a fresh host: no state of an earlier run
        home.mkdir(parents=True)
        host = SimHost(
            short, index, ns, address, home, f"{self.prefix}{index}",
            f"{short}@{self.prefix}.example",
        )  # fmt: skip
        self.hosts[short] = host
        return host

    # ---- platform -------------------------------------------------------------------------

    def start_platform(self, relay: bool = False) -> str:
        """The real platform (SQLite) on the bridge address, with `relay serve` beside it when
        `relay`; returns its URL."""
        from kalavai_like.platform.local import start_local_platform

        shutil.rmtree(self.base_dir / "platform", ignore_errors=True)
        settings: dict[str, object] = {}
        if relay:
            self.relay_port = system.free_port(self.gateway)
            settings["relay_addresses"] = f"{self.gateway}:{self.relay_port}"
        self.platform = start_local_platform(
            self.base_dir / "platform", host=self.gateway, port=0, address_holdback=0,
            settings=settings,
        )  # fmt: skip
        if relay:
            self.start_relay()
        for host in self.hosts.values():
            self._write_settings(host)
        return str(self.platform.url)

    def start_relay(self, timeout: float = 20.0) -> int:
        """`kalavai-like relay serve` on the bridge's address over the platform's database (a
        process of its own, so a test can kill and restart it); returns its PID."""
        argv = [sys.executable, "-m", "kalavai_like", "relay", "serve", "--host", self.gateway,
                "--port", str(self.relay_port), "--data-dir", str(self.base_dir / "platform"),
                "--recheck", "1"]  # fmt: skip
        out = open(self.base_dir / "relay.out", "ab")
        self.relay = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                      start_new_session=True)  # fmt: skip
        out.close()
        deadline = time.monotonic() + timeout
        while self.relay.poll() is None and time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.gateway, self.relay_port), timeout=1),
            ):
                return self.relay.pid
            time.sleep(0.05)
        tail = (self.base_dir / "relay.out").read_text(errors="replace")[-2000:]
        raise SystemProblem("The relay did not start", tail)

    def stop_relay(self, sig: int = signal.SIGTERM) -> None:
        """Stop the relay this simulator started (by its PID)."""
        if self.relay is not None and self.relay.poll() is None:
            self.relay.send_signal(sig)
            self.relay.wait(10)
        elif self.relay_pid and system.cmdline_has(self.relay_pid, "relay"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.relay_pid, sig)
            system.wait_gone(self.relay_pid, 10)

    def _write_settings(self, host: SimHost) -> None:
        conf = host.home / "config"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "settings.toml").write_text(
            'keystore = "file"\n\n[platform]\n'
            f'url = "{self.platform.url}"\n'
            "\n[agent]\n" + "".join(f"{k} = {v}\n" for k, v in self.agent_settings.items())
        )

    # ---- agents and CLI -------------------------------------------------------------------

    def _in_host(self, host: SimHost, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{host.netns}", "--", *argv]

    def start_agent(self, host: SimHost, timeout: float = 30.0) -> int:
        """Start the host's agent and wait until its LocalAPI answers; returns its PID."""
        from kalavai_like.client.local import NodeClient

        argv = [sys.executable, "-m", "kalavai_like", "--home", str(host.home), "agent",
                "--prefix", host.node_prefix, *self.agent_args]  # fmt: skip
        out = open(host.home / "agent.out", "ab")
        host.agent = subprocess.Popen(
            self._in_host(host, argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True, env={**os.environ, **self.env},
        )  # fmt: skip
        out.close()
        client = NodeClient(host.socket)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if host.agent.poll() is not None:
                break
            try:
                client.ping()
                return host.agent.pid
            except AgentUnavailable:
                time.sleep(0.05)
        tail = (host.home / "agent.out").read_text(errors="replace")[-2000:]
        raise SystemProblem(f"Agent of {host.short} did not start", tail)

    def kill_agent(self, host: SimHost, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop (or with SIGKILL, kill -9) the host's agent and wait for it."""
        if host.agent is None:
            if host.pid is not None and system.cmdline_has(host.pid, str(host.home)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(host.pid, sig)
                system.wait_gone(host.pid, timeout)
            host.pid = None
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(host.agent.pid, sig)
        try:
            host.agent.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(host.agent.pid, signal.SIGKILL)
            host.agent.wait(timeout)
        host.agent = None

    def cli(
        self, host: SimHost, *args: str, input: str | None = None, check: bool = True,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run `kalavai-like --home HOME ARGS` inside the host."""
        argv = [sys.executable, "-m", "kalavai_like", "--home", str(host.home), *args]
        proc = subprocess.run(
            self._in_host(host, argv), input=input, capture_output=True, text=True,
            timeout=timeout, check=False, env={**os.environ, **self.env, "COLUMNS": "200"},
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise KalavaiError(
                f"`kalavai-like {' '.join(args[:2])}` failed on {host.short}",
                (proc.stderr or proc.stdout).strip(),
            )
        return proc

    def cli_json(self, host: SimHost, *args: str, input: str | None = None) -> Any:
        return json.loads(self.cli(host, *args, "--json", input=input).stdout)

    def signup(self, host: SimHost) -> None:
        self.cli(host, "signup", "--email", host.email, "--password-stdin", input=PASSWORD + "\n")

    def client(self, host: SimHost) -> Any:
        from kalavai_like.client.local import NodeClient

        return NodeClient(host.socket)

    # ---- teardown -------------------------------------------------------------------------

    def leftovers(self) -> list[str]:
        """Anything of ours still on the machine (empty after `close()`)."""
        found = []
        for host in self.hosts.values():
            p = host.node_prefix
            found += [f"netns {n}" for n in system.listdir("/run/netns") if n.startswith(f"{p}-")]
            found += [
                f"socket {s}" for s in system.listdir("/var/run/wireguard") if s.startswith(f"{p}-")
            ]
            found += [f"container {c}" for c in system.containers(p)]
            if host.agent is not None and host.agent.poll() is None:
                found.append(f"agent {host.agent.pid}")
            if host.pid is not None and system.cmdline_has(host.pid, str(host.home)):
                found.append(f"agent {host.pid}")
        found += [
            f"netns {n}" for n in system.listdir("/run/netns") if n.startswith(f"{self.prefix}-")
        ]
        if system.ip("link", "show", self.bridge, check=False).returncode == 0:
            found.append(f"bridge {self.bridge}")
        if self.platform is not None and self.platform.process.poll() is None:
            found.append(f"platform {self.platform.pid}")
        if self.relay is not None and self.relay.poll() is None:
            found.append(f"relay {self.relay.pid}")
        return found

    def close(self) -> None:
        """Remove everything, by name and PID. Safe to call twice and after a failure."""
        from kalavai_like.net import Overlay

        for host in self.hosts.values():
            with contextlib.suppress(Exception):
                self.kill_agent(host, signal.SIGTERM, timeout=10)
        overlay = Overlay()
        failed: list[BaseException] = []
        # Every step runs even if an earlier one failed; the first failure is raised at the end.
        for host in self.hosts.values():
            rm = [
                partial(system.podman, "rm", "-f", "-t", "0", n)
                for n in system.containers(host.node_prefix)
            ]
            steps: list[Callable[[], object]] = [
                *rm,
                partial(overlay.cleanup, host.node_prefix),
                partial(system.ip, "netns", "del", host.netns, check=False),
                partial(system.ip, "link", "del", f"{self.prefix}v{host.index}", check=False),
            ]
            for step in steps:
                try:
                    step()
                except Exception as exc:  # keep tearing down; the first is raised below
                    failed.append(exc)
        system.ip("link", "del", self.bridge, check=False)
        self.stop_relay()
        if self.platform is not None:
            self.platform.stop()
        elif self.platform_pid and system.cmdline_has(self.platform_pid, "platform"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.platform_pid, signal.SIGTERM)
            system.wait_gone(self.platform_pid, 10)
        shutil.rmtree(self.base_dir, ignore_errors=True)  # homes, logs, the platform's data
        if failed:
            raise failed[0]

    def save(self) -> None:
        """Record what runs, so `load()` in another process can tear it down."""
        state = {
            "prefix": self.prefix, "octet": self.octet,
            "platform_pid": self.platform.pid if self.platform else None,
            "platform_url": self.platform.url if self.platform else "",
            "relay_pid": self.relay.pid if self.relay else None,
            "hosts": [
                {"short": h.short, "index": h.index, "netns": h.netns, "address": h.address,
                 "home": str(h.home), "node_prefix": h.node_prefix, "email": h.email,
                 "pid": h.agent.pid if h.agent else h.pid}
                for h in self.hosts.values()
            ],
        }  # fmt: skip
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "simulator.json").write_text(json.dumps(state))

    @classmethod
    def load(cls, base_dir: Path) -> Simulator | None:
        """The simulator recorded in `base_dir`, None when there is none."""
        try:
            state = json.loads((base_dir / "simulator.json").read_text())
        except (OSError, ValueError):
            return None
        sim = cls(state["prefix"], base_dir, octet=state["octet"])
        sim.platform_pid = state.get("platform_pid")
        sim.platform_url = state.get("platform_url", "")
        sim.relay_pid = state.get("relay_pid")
        for h in state["hosts"]:
            host = SimHost(**{**h, "home": Path(h["home"])})
            sim.hosts[host.short] = host
        return sim

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ready() -> Callable[[], bool]:
    """Whether this machine can run the simulator (root, nsenter, ip, podman, wireguard-go)."""

    def check() -> bool:
        return os.geteuid() == 0 and all(
            shutil.which(t) for t in ("nsenter", "ip", "podman", "wireguard-go", "wg")
        )

    return check
