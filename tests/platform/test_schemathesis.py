"""Fuzz the served OpenAPI schema with schemathesis: no input may produce a 500."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kalavai_like.platform.local import LocalPlatform
from tests.support.platform_api import Api

pytestmark = pytest.mark.slow


def _st(platform: LocalPlatform, tmp_path: Path, credential: str, seconds: int, *extra: str) -> str:
    # The credential goes in a 0600 config file, not on the command line.
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'headers = {{ Authorization = "Bearer {credential}" }}\n')
    config.chmod(0o600)
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    args = [st, "--config-file", str(config), "run", f"{platform.url}/openapi.json"]
    args += ["--checks", "not_a_server_error", "--phases", "coverage,fuzzing", "-n", "6"]
    args += [
        "--max-time",
        str(seconds),
        "--generation-database",
        "none",
        "--no-color",
        "--seed",
        "1",
    ]
    args += ["--report-dir", str(tmp_path / "report"), *extra]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in platform.log()[-200_000:], platform.log()[-4000:]
    return result.stdout


def test_no_input_makes_a_server_error(platform: LocalPlatform, api: Api, tmp_path: Path) -> None:
    user = api.user()
    pool = api.pool(user)
    api.join(user, user, pool)  # some objects to find
    user_paths = "sessions|/api/v1/device(/|$)"  # log-out would end the run's own session
    _st(platform, tmp_path, user.credential or "", 25, "--exclude-path-regex", user_paths)
    hub = api.hub(user, pool)
    _st(platform, tmp_path, hub["credential"], 10, "--include-path-regex", "^/api/v1/device")
