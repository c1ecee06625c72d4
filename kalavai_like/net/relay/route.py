"""One membership's way through the relay: its bridge process, found again by the membership's
names as wireguard-go is by its interface, and the WireGuard endpoint that points into it.

A spoke's bridge carries the hub's overlay address; a hub's carries any device of its pool that
comes relayed (`on_demand`). Its 0600 config (it holds the device credential) and its status
socket live in the route's `run_dir`.
"""

from __future__ import annotations

import time
from pathlib import Path

from kalavai_like.errors import SystemProblem
from kalavai_like.home.files import write_text
from kalavai_like.net.config import Names, RelayRoute
from kalavai_like.net.relay.launch import (
    BridgeConfig,
    BridgeStatus,
    find_bridges,
    read_status,
    spawn_bridge,
    stop_bridge,
)
from kalavai_like.net.runner import CommandRunner
from kalavai_like.net.wireguard import _cmdline as cmdline
from kalavai_like.net.wireguard import pid_alive


def _files(names: Names, run_dir: str) -> tuple[Path, Path]:
    base = Path(run_dir) / f"relay-{names.stem}"
    return base.with_suffix(".json"), base.with_suffix(".sock")


def spawn(runner: CommandRunner, names: Names, route: RelayRoute, wireguard_port: int) -> int:
    """Start the membership's bridge toward WireGuard's `wireguard_port`; its PID at once (it
    opens its ports and connects while the caller goes on)."""
    spoke = bool(route.hub_address)
    cfg = BridgeConfig(
        route.relay, route.device_id, route.credential, wireguard_port,
        peers=(route.hub_address,) if spoke else (), on_demand=not spoke,
    )  # fmt: skip
    config, status = _files(names, route.run_dir)
    Path(route.run_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text(config, cfg.to_json(), secret=True)
    return spawn_bridge(runner, config, status, names.stem)


def local_endpoint(
    runner: CommandRunner, names: Names, route: RelayRoute, pid: int, timeout: float
) -> str:
    """`127.0.0.1:PORT` where the spoke's bridge takes the hub's datagrams, once it answers.

    Raises:
        SystemProblem: the bridge exited or did not answer within `timeout`.
    """
    _, status_path = _files(names, route.run_dir)
    deadline = time.monotonic() + timeout
    while True:
        st = read_status(status_path, timeout=0.5)
        if st is not None and route.hub_address in st.ports:
            return f"127.0.0.1:{st.ports[route.hub_address]}"
        runner.reap()
        if not pid_alive(pid) or time.monotonic() >= deadline:
            stop(runner, names)
            raise SystemProblem(
                "Relay bridge did not start",
                f"no answer from the bridge of {names.stem} within {timeout:g} s",
            )
        time.sleep(0.02)


def running(names: Names) -> int | None:
    """The PID of the membership's bridge, None when none runs."""
    return find_bridges(lambda label: label == names.stem).get(names.stem)


def status(names: Names) -> BridgeStatus | None:
    """What the membership's bridge says now; None when none runs or answers. (Its status
    socket is found from its command line, so a caller needs only the names.)"""
    pid = running(names)
    files = _argv_files(cmdline(pid)) if pid is not None else []
    return read_status(files[-1], timeout=1.0) if len(files) == 2 else None


def _argv_files(argv: list[str]) -> list[Path]:
    return [Path(argv[argv.index(f) + 1]) for f in ("--config", "--status") if f in argv[:-1]]


def stop(runner: CommandRunner, names: Names, run_dir: str | None = None) -> None:
    """Stop the membership's bridge and remove its config (it holds the credential) and
    socket: those its command line names, and those under `run_dir`. Idempotent."""
    pid = running(names)
    files = _argv_files(cmdline(pid)) if pid is not None else []
    if pid is not None:
        stop_bridge(runner, pid, names.stem)
    if run_dir is not None:
        files += _files(names, run_dir)
    for path in files:
        path.unlink(missing_ok=True)
