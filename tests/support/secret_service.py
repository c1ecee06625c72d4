"""A private, unlocked Secret Service (gnome-keyring) on a private D-Bus session bus.

`secret_service(tmp)` starts `dbus-daemon --session` and `gnome-keyring-daemon --unlock`
with HOME, XDG_DATA_HOME and XDG_RUNTIME_DIR under `tmp`, waits until the keyring owns its
bus name, yields the environment to use, and stops both processes (by PID) afterwards.
`as_keyring` makes it the `keyring` library's backend in this process for a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.processes import stop

NEEDED = ("dbus-daemon", "dbus-send", "gnome-keyring-daemon", "dbus-run-session")


def require() -> None:
    missing = [name for name in NEEDED if shutil.which(name) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup (gnome-keyring, dbus-x11)")


def _owned(env: dict[str, str]) -> bool:
    result = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.returncode == 0 and "boolean true" in result.stdout


def isolated_env(tmp: Path) -> dict[str, str]:
    """An environment whose HOME and XDG dirs live under `tmp` (keyring files land there)."""
    for sub in ("home", "data", "runtime"):
        (tmp / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {
        **os.environ,
        "HOME": str(tmp / "home"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_RUNTIME_DIR": str(tmp / "runtime"),
    }
    for name in (
        "DBUS_SESSION_BUS_ADDRESS",
        "PYTHON_KEYRING_BACKEND",
        "KALAVAI_LIKE_API_TOKEN",
        "KALAVAI_LIKE_HOME",
    ):
        env.pop(name, None)
    return env


@contextmanager
def secret_service(tmp: Path) -> Iterator[dict[str, str]]:
    require()
    env = isolated_env(tmp)
    bus = keyring_daemon = None
    try:
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        assert address, "dbus-daemon printed no address"
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        keyring_daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert keyring_daemon.stdin is not None
        keyring_daemon.stdin.write(b"pw")
        keyring_daemon.stdin.close()
        deadline = time.monotonic() + 20
        while not _owned(env):
            assert keyring_daemon.poll() is None, "gnome-keyring-daemon exited"
            assert time.monotonic() < deadline, "the Secret Service did not appear on the bus"
            time.sleep(0.05)
        yield env
    finally:
        stop(keyring_daemon)
        stop(bus)


@contextmanager
def as_keyring(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A private Secret Service under `tmp`, as this process's keyring backend (restored after)."""
    import keyring
    from keyring.backends import SecretService

    # keyring caches which backends are viable at first use in this process: let that happen
    # outside the private bus (or it would list a Secret Service that is gone after the test),
    # then pick the real Secret Service explicitly (its priority check raises if it is absent).
    # Detection itself is tested in a fresh process in tests/cli/test_keyring.py.
    previous = keyring.get_keyring()
    with secret_service(tmp) as env:
        for name in ("DBUS_SESSION_BUS_ADDRESS", "HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
            monkeypatch.setenv(name, env[name])
        monkeypatch.delenv("KALAVAI_LIKE_API_TOKEN", raising=False)
        assert SecretService.Keyring.priority > 0
        keyring.set_keyring(SecretService.Keyring())
        try:
            yield
        finally:
            keyring.set_keyring(previous)
