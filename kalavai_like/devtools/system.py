"""What the simulator asks of the machine: `ip`, podman, free addresses and ports, and checks
of processes by PID (it never stops a process it cannot name as its own)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from kalavai_like.errors import SystemProblem


def ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise SystemProblem(f"ip {' '.join(argv[:3])} failed", proc.stderr.strip())
    return proc


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def free_octet(preferred: int) -> int:
    """The first k from `preferred` on whose 198.18.k.0/24 no interface here has an address."""
    out = ip("-4", "-o", "addr", "show", check=False).stdout
    used = {int(m) for m in re.findall(r"inet 198\.18\.(\d+)\.", out)}
    for step in range(240):
        k = 10 + (preferred - 10 + step) % 240
        if k not in used:
            return k
    raise SystemProblem("No free simulator subnet", "Every 198.18.k.0/24 is in use here.")


def cmdline_has(pid: int, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    from kalavai_like.container.config import RuntimeConfig

    rc = RuntimeConfig.detect("podman", probe=False)
    return subprocess.run(
        rc.command(*args), capture_output=True, text=True, timeout=60, check=False,
        env=rc.environ(),
    )  # fmt: skip


def containers(node_prefix: str) -> list[str]:
    proc = podman("ps", "-a", "--format", "{{.Names}}", "--filter", f"name=^{node_prefix}-")
    return [n for n in proc.stdout.split() if n.startswith(f"{node_prefix}-")]
