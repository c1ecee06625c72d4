"""The real `kalavai-like` command run in a home of its own, and unique account emails."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


def base_env(tmp: Path) -> dict[str, str]:
    """A clean environment: no keyring (unless a test brings one), no inherited token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["HOME"] = str(tmp / "userhome")
    env["COLUMNS"] = "200"
    return env


@dataclass
class Cli:
    """The real `kalavai-like` command, run in its own home."""

    home: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kalavai_like", "--home", str(self.home), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=120,
        )

    def settings(self, text: str) -> None:
        (self.home / "config").mkdir(parents=True, exist_ok=True)
        (self.home / "config" / "settings.toml").write_text(text)


def make_cli(tmp: Path, name: str = "home", settings: str = 'keystore = "file"\n') -> Cli:
    cli = Cli(tmp / name, base_env(tmp))
    cli.settings(settings)
    return cli


def signed_up(cli: Cli, url: str, tag: str) -> str:
    """Sign a new account up (and log it in) through the CLI; its email."""
    email = unique_email(tag)
    r = cli("signup", "--platform", url, "--email", email, "--password-stdin", input="password1\n")
    assert r.returncode == 0, r.stderr
    assert f"Logged in as {email}" in r.stderr
    return email
