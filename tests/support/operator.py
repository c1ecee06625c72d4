"""The platform's operator in tests: `kalavai-like platform operator ...` run on the server's
own database, as the person who runs the platform does."""

from __future__ import annotations

import os
import subprocess
import sys

from kalavai_like.platform.local import LocalPlatform


def server_cli(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    """`kalavai-like platform operator ARGS` on `platform`'s database (SQLite in its data
    directory, or its PostgreSQL URL in the environment, as `platform serve` takes it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KALAVAI_LIKE_")}
    if platform.database_url:
        env["KALAVAI_LIKE_DATABASE_URL"] = platform.database_url
    argv = ["platform", "operator", *args, "--data-dir", str(platform.data_dir)]
    return subprocess.run(
        [sys.executable, "-m", "kalavai_like", *argv],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def make_operator(platform: LocalPlatform, email: str) -> None:
    """Give the account `email` the operator role (asserting the command succeeds)."""
    r = server_cli(platform, "add", email)
    assert r.returncode == 0, r.stderr
