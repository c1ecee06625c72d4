"""`kalavai-like platform serve`: bad options are refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def serve(
    data_dir: Path, port: str, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`kalavai-like platform serve --port PORT --data-dir DATA_DIR`, as a person runs it."""
    argv = ["platform", "serve", "--port", port, "--data-dir", str(data_dir), *extra]
    return subprocess.run(
        [sys.executable, "-m", "kalavai_like", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_bad_port_is_refused(port: str, tmp_path: Path) -> None:
    r = serve(tmp_path, port)
    assert r.returncode == 2
    assert "Bad port" in r.stderr and "1-65535" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("knob", "said"),
    [
        ("pool_prefix=31", "pool_prefix must be from 8"),
        ("pool_space=10.0.0.0/33", "not an IPv4 network"),
        ("max_pools_per_user=0", "max_pools_per_user must be 1 or more"),
        ("max-devices-per-user=many", "takes a number"),
        ("no_such_knob=1", "token_mints_per_hour"),
        ("max_weight_factor=0.5", "max_weight_factor must be 1 to 1000"),
        ("max_device_cores=5000", "max_device_cores must be 1 to 4096"),
        ("relay_addresses=relay.example.org", "is not host:port"),
    ],
)
def test_bad_setting_is_refused(knob: str, said: str, tmp_path: Path) -> None:
    r = serve(tmp_path, "0", extra=("--set", knob))
    assert r.returncode == 2
    assert "Bad --set" in r.stderr and said in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("option", "title"),
    [
        ("--signups-per-hour=0", "Bad sign-up limit"),
        ("--session-idle-days=0", "Bad session lifetime"),
    ],
)
def test_bad_limits_are_refused(option: str, title: str, tmp_path: Path) -> None:
    argv = ["platform", "serve", "--port", "0", "--data-dir", str(tmp_path), option]
    r = subprocess.run(
        [sys.executable, "-m", "kalavai_like", *argv], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert title in r.stderr and "Traceback" not in r.stderr


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    r = serve(
        tmp_path,
        "0",
        env={
            "KALAVAI_LIKE_DATABASE_URL": "postgresql://root@/nodb?host=/nonexistent",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert r.returncode == 4
    assert "Database unavailable" in r.stderr
    assert "Traceback" not in r.stderr


def _serve_until_ready(argv: list[str], env: dict[str, str]) -> str:
    """Run `platform serve` until it says where it serves; that line (then stop it)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kalavai_like", *argv, "platform", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "serving at http://127.0.0.1:" in line, proc.stderr.read() if proc.stderr else ""
    return line


@pytest.mark.parametrize("how", ["--home", "KALAVAI_LIKE_HOME"])
def test_each_home_has_its_own_database(how: str, tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
    env["HOME"] = str(tmp_path / "user")  # the OS's places, were the home ignored
    for name in ("one", "two"):
        home = tmp_path / name
        if how == "--home":
            _serve_until_ready(["--home", str(home)], env)
        else:
            _serve_until_ready([], {**env, "KALAVAI_LIKE_HOME": str(home)})
        assert (home / "data" / "platform" / "platform.sqlite3").is_file()
    assert not (tmp_path / "user").exists()


def test_data_dir_wins_over_the_home(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
    data = tmp_path / "elsewhere"
    _serve_until_ready(
        ["--home", str(tmp_path / "home")], {**env, "KALAVAI_LIKE_PLATFORM_DATA_DIR": str(data)}
    )
    assert (data / "platform.sqlite3").is_file()
    assert not (tmp_path / "home" / "data").exists()


def test_an_access_log_never_shows_a_reset_links_token(tmp_path: Path) -> None:
    """With `--log-level info` uvicorn logs each request line; a reset link's token is hidden."""
    import re

    import requests

    argv = ["platform", "serve", "--port", "0", "--data-dir", str(tmp_path), "--log-level", "info"]
    out = tmp_path / "out.log"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kalavai_like", *argv], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        from tests.support.waiting import wait_for

        url = wait_for(
            lambda: (m := re.search(r"serving at (\S+)", out.read_text())) and m.group(1),
            what="the platform to serve",
        )
        wait_for(lambda: _answers(f"{url}/healthz"), what="the platform to answer")
        secret = "rst_" + "a1b2c3d4" * 4
        assert requests.get(f"{url}/reset?token={secret}", timeout=10).status_code == 200
        wait_for(lambda: "GET /reset?token=" in out.read_text(), what="the access log line")
    finally:
        proc.terminate()
        proc.wait(30)
    text = out.read_text()
    assert "GET /reset?token=[hidden]" in text
    assert secret not in text


def _answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).ok
    except requests.ConnectionError:
        return False
