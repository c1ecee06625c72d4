"""Smoke test of the BUILT bundle: its executables run on their own (no source tree, no venv),
the console one drives a real agent it started itself, the tray stays up offscreen, and the
keyring backends made it into the bundle (a real Secret Service stores the login)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import unique_email
from tests.support.secret_service import secret_service
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
PREFIX = "kpb"  # names of anything the bundled agent would create


def clean_env(**extra: str) -> dict[str, str]:
    """An environment without this venv: the bundle must not need it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".venv" not in p)
    env.pop("KALAVAI_LIKE_HOME", None)
    return {**env, **extra}


def run(
    exe: Path, *args: str, env: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=120,
        env=env or clean_env(), cwd="/", check=False, **kw,
    )  # fmt: skip


def test_both_executables_print_their_version(bundle: Path) -> None:
    from kalavai_like import __version__

    assert run(bundle / "kalavai-like", "--version").stdout.strip() == f"kalavai-like {__version__}"
    tray = run(bundle / "kalavai-like-tray", "--version")
    assert tray.stdout.strip() == f"kalavai-like-tray {__version__}", tray.stderr


def test_the_bundle_carries_assets_qt_plugins_and_no_platform_server(bundle: Path) -> None:
    internal = bundle / "_internal"
    assert (internal / "assets" / "icons" / "app.svg").is_file()
    # podman reads the workers' seccomp profile from a real file inside the bundle.
    assert (internal / "kalavai_like" / "container" / "seccomp.json").is_file()
    assert (internal / "kalavai_like" / "container" / "dask_guard.py").is_file()
    assert (internal / "kalavai_like" / "container" / "dask_finish.py").is_file()
    plugins = internal / "PySide6" / "Qt" / "plugins"
    for plugin in ("platforms/libqxcb.so", "platforms/libqwayland.so",
                   "platforms/libqoffscreen.so", "iconengines/libqsvgicon.so",
                   "imageformats/libqsvg.so"):  # fmt: skip
        assert (plugins / plugin).is_file(), plugin
    assert not (internal / "fastapi").exists() and not (internal / "sqlalchemy").exists()


def test_console_binary_reads_a_real_agents_status(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    exe = bundle / "kalavai-like"
    log = open(tmp_path / "agent.out", "wb")
    agent = subprocess.Popen(
        [str(exe), "--home", str(home), "agent", "--prefix", PREFIX],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=clean_env(), cwd="/",
        start_new_session=True,
    )  # fmt: skip
    log.close()
    try:

        def status() -> dict | None:
            assert agent.poll() is None, (tmp_path / "agent.out").read_text()
            out = run(exe, "--home", str(home), "pool", "status", "--json")
            return json.loads(out.stdout) if out.returncode == 0 else None

        st = wait_for(status, 60, "the bundled agent's LocalAPI")
        assert st["state"] == "idle" and st["worker"] is None
        assert st["agent_pid"] == agent.pid
        # an error from the agent comes back as a message and an exit code, no traceback
        out = run(exe, "--home", str(home), "pool", "pause")
        assert out.returncode != 0 and "Not in a pool" in out.stderr + out.stdout
        assert "Traceback" not in out.stderr
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(20)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(10)
    assert agent.returncode == 0, (tmp_path / "agent.out").read_text()


def test_tray_runs_offscreen_for_ten_seconds(bundle: Path, tmp_path: Path) -> None:
    env = clean_env(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    tray = subprocess.Popen(
        [str(bundle / "kalavai-like-tray"), "--home", str(tmp_path / "home"), "--window"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/",
    )  # fmt: skip
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            tray.wait(10)  # still running after 10 s: this is the assertion
    finally:
        tray.terminate()
        _, err = tray.communicate(timeout=20)
    text = err.decode(errors="replace")
    assert "Traceback" not in text and "Missing tray asset" not in text, text
    assert "Could not load the Qt platform plugin" not in text, text


@pytest.mark.keyring
def test_bundled_cli_keeps_the_login_in_the_secret_service(
    bundle: Path, tmp_path: Path, local_platform
) -> None:
    email = unique_email("bundle")
    with secret_service(tmp_path) as env:
        env = {**clean_env(), **env}
        exe, home = bundle / "kalavai-like", str(tmp_path / "kl")
        out = run(exe, "--home", home, "signup", "--platform", local_platform.url,
                  "--email", email, "--password-stdin", env=env, input="password1\n")  # fmt: skip
        assert out.returncode == 0, out.stderr
        me = run(exe, "--home", home, "whoami", "--json", env=env)
        assert me.returncode == 0, me.stderr
    info = json.loads(me.stdout)
    assert info["email"] == email
    assert info["credential"] == "keyring (SecretService)"
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and b"klu_" in p.read_bytes()]
    assert leaks == []


def test_no_venv_python_is_used(bundle: Path) -> None:
    # The executables are ELF programs with their own interpreter, not scripts for ours.
    head = (bundle / "kalavai-like").read_bytes()[:4]
    assert head == b"\x7fELF"
    assert sys.executable not in (bundle / "kalavai-like").read_bytes().decode("latin-1")
