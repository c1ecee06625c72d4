"""Backups and upgrades of a platform, with the commands docs/DEPLOY.md gives: a live SQLite
database copied with `sqlite3 .backup` and a live PostgreSQL one with `pg_dump`, each restored
into a new platform that serves the same account and pool; and an old database migrated on
start, its revision read with DEPLOY.md's query."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from kalavai_like.platform.db import Database, alembic_config
from kalavai_like.platform.local import start_local_platform
from tests.support import REPO
from tests.support.platform_api import TEST_SIGNUPS_PER_HOUR, Api

DEPLOY = (REPO / "docs" / "DEPLOY.md").read_text()
REVISION = "SELECT version_num FROM alembic_version"


def test_deploy_md_gives_these_commands() -> None:
    for command_text in ("sqlite3 ", ".backup ", "pg_dump --format=custom", "pg_restore --no-owner",
                         f"'{REVISION}'"):  # fmt: skip
        assert command_text in DEPLOY, command_text


def serves_the_same_account(url: str, email: str, password: str, pool: str) -> None:
    api = Api(url)
    user = api.log_in(email, password)
    assert pool in [p["name"] for p in user.get("/api/v1/pools", params={"scope": "mine"}).json()]


def an_account_and_a_pool(url: str) -> tuple[str, str, str]:
    api = Api(url)
    user = api.user()
    return user.email, user.password, api.pool(user)["name"]


def test_a_live_sqlite_platform_is_backed_up_and_restored(tmp_path: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.fail("sqlite3 is missing: run scripts/setup (it installs it)")
    with start_local_platform(tmp_path / "live", signups_per_hour=TEST_SIGNUPS_PER_HOUR) as live:
        email, password, pool = an_account_and_a_pool(live.url)
        backup = tmp_path / "backup.sqlite3"
        database = live.data_dir / "platform.sqlite3"
        out = subprocess.run(["sqlite3", str(database), f".backup '{backup}'"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        Api(live.url).user()  # the live one goes on serving and changing
    restored = tmp_path / "restored"
    restored.mkdir(mode=0o700)
    shutil.copyfile(backup, restored / "platform.sqlite3")
    with start_local_platform(restored) as copy:
        serves_the_same_account(copy.url, email, password, pool)
    assert os.stat(restored / "platform.sqlite3").st_mode & 0o777 == 0o600


@pytest.mark.postgres
def test_a_live_postgresql_platform_is_dumped_and_restored(
    tmp_path: Path, make_postgres_url: Callable[[], str]
) -> None:
    source, target = make_postgres_url(), make_postgres_url()
    with start_local_platform(tmp_path / "live", database_url=source) as live:
        email, password, pool = an_account_and_a_pool(live.url)
        dump = tmp_path / "platform.dump"
        out = subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", *where(source)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
    out = subprocess.run(
        ["pg_restore", "--no-owner", *where(target)[:2], f"--dbname={where(target)[2]}", str(dump)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    with start_local_platform(tmp_path / "restored", database_url=target) as copy:
        serves_the_same_account(copy.url, email, password, pool)


def where(url: str) -> list[str]:
    """`-h SOCKET_DIR DBNAME` of a test database's URL."""
    parts = urlsplit(url)
    return ["-h", parse_qs(parts.query)["host"][0], parts.path.lstrip("/")]


def test_an_old_database_is_migrated_on_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    database = data / "platform.sqlite3"
    db = Database(f"sqlite:///{database}")
    with db.engine.begin() as conn:  # a database left by an older version
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        assert conn.execute(text(REVISION)).scalar() == "0004"
    db.dispose()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head != "0004"
    with start_local_platform(data):
        out = subprocess.run(["sqlite3", str(database), REVISION], capture_output=True, text=True)
    assert out.stdout.strip() == head
