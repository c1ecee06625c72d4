"""The platform's database holds emails and password hashes: its data directory is 0700 and
the SQLite files 0600, whatever state the directory was found in."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kalavai_like.platform.local import start_local_platform
from tests.support.platform_api import Api

DB = "platform.sqlite3"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _database_files(data: Path) -> dict[str, int]:
    return {p.name: _mode(p) for p in data.iterdir() if p.name.startswith(DB)}


def test_data_dir_and_database_are_private_even_in_an_existing_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)  # made beforehand, as `mkdir` makes it
    with start_local_platform(data) as server:
        Api(server.url).user()  # something written: the WAL and shared-memory files exist
        assert _mode(data) == 0o700
        assert _database_files(data) == {DB: 0o600, f"{DB}-wal": 0o600, f"{DB}-shm": 0o600}

    # Left readable by an older version (or a careless copy): fixed on the next start.
    os.chmod(data, 0o755)
    os.chmod(data / DB, 0o644)
    with start_local_platform(data) as server:
        Api(server.url).user()
        assert _mode(data) == 0o700
        assert _database_files(data) == {DB: 0o600, f"{DB}-wal": 0o600, f"{DB}-shm": 0o600}


def test_a_shared_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: everyone's
    r = subprocess.run(
        [sys.executable, "-m", "kalavai_like", "platform", "serve", "--port", "0",
         "--data-dir", str(shared)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 7
    assert "Data directory not private" in r.stderr and "is shared (sticky)" in r.stderr
    assert "--data-dir" in r.stderr and "Traceback" not in r.stderr
    assert _mode(shared) == 0o1777 and not (shared / DB).exists()


def test_a_failed_statement_never_quotes_the_values_it_was_given(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """The platform logs an unexpected database error whole: emails, password and credential
    hashes bound to the statement stay out of it (and out of the operator's journal)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from kalavai_like.platform.db import Database
    from kalavai_like.platform.settings import normalize_database_url

    if backend == "postgres":
        url = normalize_database_url(request.getfixturevalue("make_postgres_url")())
    else:
        url = f"sqlite:///{tmp_path / DB}"
    db = Database(url)
    try:
        with pytest.raises(DBAPIError) as info, db.write() as s:
            s.execute(text("SELECT email FROM no_such_table WHERE email = :e"), {"e": "o@x.org"})
    finally:
        db.dispose()
    assert "no_such_table" in str(info.value)  # the statement is still named
    assert "o@x.org" not in str(info.value)
