"""The bridge process as the agent drives it: config, start, status, finding and stopping it
(no relay needed: one that does not answer is a state the bridge reports)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kalavai_like.errors import InvalidInput, SystemProblem
from kalavai_like.home.files import write_text
from kalavai_like.net.relay.bridge import Backoff, BridgeConfig
from kalavai_like.net.relay.launch import find_bridges, read_status, start_bridge, stop_bridge
from kalavai_like.net.runner import SystemRunner
from kalavai_like.net.wireguard import pid_alive
from tests.support.waiting import wait_for

CREDENTIAL = "kld_" + "s" * 43


def closed_port() -> int:
    """A loopback TCP port nobody listens on (bound, never listening)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(relay_port: int) -> BridgeConfig:
    return BridgeConfig(f"127.0.0.1:{relay_port}", "ab" * 16, CREDENTIAL, 51820, ("10.9.0.1",))


def test_a_bridge_with_no_relay_says_so_and_keeps_trying(tmp_path: Path) -> None:
    runner = SystemRunner()
    write_text(tmp_path / "b.json", config(closed_port()).to_json(), secret=True)
    pid = start_bridge(runner, tmp_path / "b.json", tmp_path / "b.sock", "kt-relay-a")
    try:
        status = wait_for(
            lambda: (s := read_status(tmp_path / "b.sock")) and s.connects == 0 and s.error and s,
            what="the bridge to report the relay unreachable",
        )
        assert status.state in ("waiting", "connecting")
        assert "cannot reach the relay" in status.error
        assert list(status.ports) == ["10.9.0.1"]  # its UDP socket is open at once
        assert stat.S_IMODE(os.stat(tmp_path / "b.sock").st_mode) == 0o600
        assert find_bridges(lambda label: label.startswith("kt-relay-")) == {"kt-relay-a": pid}
        assert CREDENTIAL not in Path(f"/proc/{pid}/cmdline").read_text()
    finally:
        stop_bridge(runner, pid, "kt-relay-a")
    assert not pid_alive(pid)
    assert read_status(tmp_path / "b.sock") is None


def test_a_config_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(config(closed_port()).to_json())
    path.chmod(0o644)
    with pytest.raises(SystemProblem, match="exited at once"):
        start_bridge(SystemRunner(), path, tmp_path / "b.sock", "kt-relay-b")
    run = subprocess.run(
        [sys.executable, "-m", "kalavai_like.net.relay.bridge", "--config", str(path),
         "--status", str(tmp_path / "b.sock")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert "chmod 600" in run.stderr


def test_a_config_on_stdin_is_read(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kalavai_like.net.relay.bridge", "--config", "-",
         "--status", str(tmp_path / "b.sock"), "--label", "kt-relay-c"],
        stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdin is not None
        proc.stdin.write(config(closed_port()).to_json().encode())
        proc.stdin.close()
        status = wait_for(lambda: read_status(tmp_path / "b.sock"), what="the bridge's status")
        assert status.label == "kt-relay-c"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    "field",
    [
        {"relay": "no-port"},
        {"device_id": "not hex"},
        {"wireguard_port": 0},
        {"peers": ("fd00::1",)},
        {"credential": ""},
    ],
)
def test_a_bad_config_is_refused_with_its_field(field: dict[str, object]) -> None:
    raw = {**config(1).__dict__, **field}
    with pytest.raises(InvalidInput):
        BridgeConfig(**raw)  # type: ignore[arg-type]


def test_a_configs_repr_never_shows_the_device_credential() -> None:
    cfg = config(51821)
    assert "ab" * 16 in repr(cfg) and CREDENTIAL not in repr(cfg)
    assert BridgeConfig.from_json(cfg.to_json()).credential == CREDENTIAL


def test_backoff_grows_to_its_cap_and_longer_after_a_refusal() -> None:
    backoff = Backoff(initial=1.0, cap=8.0, refused_cap=60.0)
    delays = [backoff.next(refused=False) for _ in range(6)]
    assert 0.8 <= delays[0] <= 1.2 and 6.4 <= delays[-1] <= 9.6
    assert 48 <= backoff.next(refused=True) <= 72
    backoff.reset()
    assert backoff.next(refused=False) <= 1.2
