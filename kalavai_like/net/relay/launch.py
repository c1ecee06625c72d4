"""Starting, finding, reading and stopping bridge processes (for the agent).

    cfg = BridgeConfig(relay, device_id, credential, wireguard_port, peers=(hub_address,))
    write_text(config_path, cfg.to_json(), secret=True)   # kalavai_like.home.files: 0600
    pid = start_bridge(runner, config_path, status_path, label="kl1-pool")
    status = read_status(status_path)      # None: no bridge answers
    port = status.ports[hub_address]       # point WireGuard's peer at 127.0.0.1:port
    stop_bridge(runner, pid, "kl1-pool")

A bridge is found again after an agent restart by its label (`find_bridges`), as wireguard-go
is by its interface name.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalavai_like.errors import SystemProblem
from kalavai_like.net.relay.bridge import BridgeConfig
from kalavai_like.net.runner import CommandRunner
from kalavai_like.net.wireguard import _cmdline as cmdline
from kalavai_like.net.wireguard import pid_alive, stop_pid

MODULE = "kalavai_like.net.relay.bridge"

__all__ = [
    "BridgeConfig",
    "BridgeStatus",
    "find_bridges",
    "read_status",
    "spawn_bridge",
    "start_bridge",
    "stop_bridge",
]


@dataclass(frozen=True)
class BridgeStatus:
    """What a running bridge reports. `state`: connecting, connected, waiting (to reconnect),
    refused (the relay turned this device away: `reason` left, unknown_device or
    bad_credential; only the platform can lift it) or stopped. `ports`: the local UDP port
    that carries each peer (overlay address -> port)."""

    pid: int
    label: str
    relay: str
    state: str
    connected: bool
    error: str | None
    reason: str | None
    permanent: bool
    address: str | None
    hub: str | None
    ports: dict[str, int]
    connects: int
    since: float | None = None
    retry_at: float | None = None
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BridgeStatus:
        peers: dict[str, dict[str, int]] = raw.get("peers", {})
        return cls(
            pid=int(raw["pid"]), label=str(raw.get("label", "")), relay=str(raw["relay"]),
            state=str(raw["state"]), connected=bool(raw["connected"]), error=raw.get("error"),
            reason=raw.get("reason"), permanent=bool(raw.get("permanent")),
            address=raw.get("address"), hub=raw.get("hub"),
            ports={a: int(p["port"]) for a, p in peers.items()},
            connects=int(raw.get("connects", 0)), since=raw.get("since"),
            retry_at=raw.get("retry_at"), counters=peers, dropped=raw.get("dropped", {}),
        )  # fmt: skip


def read_status(path: Path, timeout: float = 2.0) -> BridgeStatus | None:
    """The status of the bridge answering on `path`, or None when none answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            data = bytearray()
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            return None
    try:
        return BridgeStatus.from_dict(json.loads(data))
    except (ValueError, KeyError, TypeError):
        return None


def _env() -> dict[str, str]:
    # Only what Python needs: nothing of the agent's environment (an account key, say).
    keep = ("PATH", "PYTHONPATH", "LANG", "LC_ALL")
    return {k: os.environ[k] for k in keep if k in os.environ}


def spawn_bridge(runner: CommandRunner, config: Path, status: Path, label: str) -> int:
    """Start a bridge in the host namespace; its PID at once (see `start_bridge`)."""
    argv = [sys.executable, "-m", MODULE, "--config", str(config), "--status", str(status)]
    return runner.spawn([*argv, "--label", label], env=_env())


def start_bridge(
    runner: CommandRunner, config: Path, status: Path, label: str, timeout: float = 10.0
) -> int:
    """Start a bridge in the host namespace; its PID once its status socket answers (its UDP
    ports are open then; it may still be connecting to the relay).

    Raises:
        SystemProblem: the bridge exited (a bad config, say) or never answered.
    """
    pid = spawn_bridge(runner, config, status, label)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_status(status, timeout=0.5) is not None:
            return pid
        runner.reap()
        if not pid_alive(pid):
            raise SystemProblem(
                "Relay bridge did not start",
                f"the bridge for {label} exited at once: check its config {config}",
            )
        time.sleep(0.02)
    stop_bridge(runner, pid, label)
    raise SystemProblem("Relay bridge did not start", f"no status from {status} in {timeout:g} s")


def _label(argv: list[str]) -> str | None:
    if MODULE not in argv or "--label" not in argv[:-1]:
        return None
    return argv[argv.index("--label") + 1]


def find_bridges(match: Callable[[str], bool]) -> dict[str, int]:
    """Live bridge processes whose label satisfies `match`, by label."""
    found: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            label = _label(cmdline(int(entry)))
            if label is not None and match(label) and pid_alive(int(entry)):
                found[label] = int(entry)
    return found


def stop_bridge(runner: CommandRunner, pid: int, label: str, timeout: float = 3.0) -> None:
    """Stop the bridge with this PID if it carries `label` (SIGTERM, then SIGKILL)."""
    if _label(cmdline(pid)) == label:
        stop_pid(runner, pid, timeout)
