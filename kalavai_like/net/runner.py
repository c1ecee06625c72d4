"""The one place the overlay starts programs: `wg`, `wireguard-go` and `nft`.

`CommandRunner` is the protocol the rest of `net/` depends on, so tests inject recorded
outputs. `SystemRunner` runs the real binaries; a command meant for a membership namespace is
launched through `nsenter --net=...`, which enters the namespace and then execs the program
(so a spawned daemon's PID is the daemon's own). Secrets only ever travel on stdin.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kalavai_like.errors import SystemProblem

NETNS_DIR = "/run/netns"


@dataclass(frozen=True)
class Result:
    """Outcome of a finished command."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandRunner(Protocol):
    """Runs programs, optionally inside a named network namespace."""

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        netns: str | None = None,
        timeout: float = 15.0,
    ) -> Result: ...

    def spawn(
        self, argv: Sequence[str], *, netns: str | None = None, env: Mapping[str, str] | None = None
    ) -> int: ...

    def reap(self) -> None: ...


def _in_netns(argv: Sequence[str], netns: str | None) -> list[str]:
    if netns is None:
        return list(argv)
    return ["nsenter", f"--net={NETNS_DIR}/{netns}", "--", *argv]


class SystemRunner:
    """Runs the real programs. Children it spawns are reaped by `reap()`."""

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        netns: str | None = None,
        timeout: float = 15.0,
    ) -> Result:
        try:
            proc = subprocess.run(
                _in_netns(argv, netns),
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise SystemProblem(
                f"{argv[0]} is not installed",
                f"install it (Debian: {_PACKAGES.get(argv[0], argv[0])}) and try again",
            ) from None
        except subprocess.TimeoutExpired:
            raise SystemProblem(
                f"{argv[0]} did not finish",
                f"{argv[0]} {argv[1] if len(argv) > 1 else ''} took longer than {timeout:.0f} s",
            ) from None
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def spawn(
        self, argv: Sequence[str], *, netns: str | None = None, env: Mapping[str, str] | None = None
    ) -> int:
        try:
            proc = subprocess.Popen(
                _in_netns(argv, netns),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                # Its own process group survives a Ctrl-C aimed at the agent's terminal. Not a
                # new session: that would be a scheduler autogroup of its own, and the
                # tunnel would lose CPU to everything else under load.
                process_group=0,
            )
        except FileNotFoundError:
            raise SystemProblem(
                f"{argv[0]} is not installed",
                f"install it (Debian: {_PACKAGES.get(argv[0], argv[0])}) and try again",
            ) from None
        self._children[proc.pid] = proc
        return proc.pid

    def reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]


_PACKAGES = {
    "wg": "wireguard-tools",
    "wireguard-go": "wireguard-go",
    "nft": "nftables",
    "nsenter": "util-linux",
}
