"""Importing the CLI loads no GUI and none of the heavy libraries a command may need later."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "PySide6",
    "requests",
    "urllib3",
    "keyring",
    "secretstorage",
    "rich",
    "rich.table",
    "fastapi",
    "starlette",
    "pydantic",
    "sqlalchemy",
    "uvicorn",
    "alembic",
    "pyroute2",
    "psutil",
    "pynvml",
    "tomli_w",
    "platformdirs",
]


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    return [m for m in HEAVY if m in modules]


def test_importing_the_cli_loads_nothing_heavy():
    assert loaded_after("import kalavai_like.cli.main") == []


def test_the_client_core_imports_its_libraries_only_when_used():
    code = (
        "import kalavai_like.client.account, kalavai_like.client.platform, "
        "kalavai_like.home.keystore"
    )
    assert loaded_after(code) == []
