"""Fixtures that run the REAL platform server on loopback, on SQLite and on PostgreSQL.

tests/platform/web/conftest.py overrides `platform` with its own, so `api` and `platform_sql`
serve the page tests too. Other suites use `local_platform` (tests/conftest.py) or call
`kalavai_like.platform.local.start_local_platform` directly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.support.platform_api import TEST_SIGNUPS_PER_HOUR, Api

PG_HOST = "/var/run/postgresql"


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(f"host={PG_HOST} dbname=postgres", autocommit=True)


@pytest.fixture(scope="session")
def make_postgres_url() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases (unique names); all are dropped at the session's end."""
    made: list[str] = []

    def make() -> str:
        name = f"kl_test_{os.getpid()}_{secrets.token_hex(4)}"
        try:
            with _pg_admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except Exception as exc:
            pytest.fail(
                f"PostgreSQL is not available ({exc}); start it with scripts/test "
                "(pg_ctlcluster 15 main start) or deselect with -m 'not postgres'"
            )
        made.append(name)
        return f"postgresql+psycopg://root@/{name}?host={PG_HOST}"

    try:
        yield make
    finally:
        if made:
            with _pg_admin() as conn:
                for name in made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(make_postgres_url: Callable[[], str]) -> str:
    """One PostgreSQL database shared by this test session."""
    return make_postgres_url()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def platform(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LocalPlatform]:
    """One platform per backend for the session (tests make their own users and pools)."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    data_dir = tmp_path_factory.mktemp(f"platform-{backend}")
    with start_local_platform(
        data_dir, database_url=url, workers=1, signups_per_hour=TEST_SIGNUPS_PER_HOUR
    ) as server:
        yield server


@pytest.fixture
def api(platform: LocalPlatform) -> Api:
    return Api(platform.url)


@pytest.fixture
def platform_sql(platform: LocalPlatform) -> Iterator[Callable[[str, dict[str, object]], None]]:
    """Run a SQL statement on the platform's own database (to age a token, for example)."""
    from sqlalchemy import create_engine, text

    from kalavai_like.platform.settings import normalize_database_url

    url = platform.database_url or f"sqlite:///{platform.data_dir / 'platform.sqlite3'}"
    engine = create_engine(normalize_database_url(url))

    def run(sql: str, params: dict[str, object]) -> None:
        with engine.begin() as conn:
            conn.execute(text(sql), params)

    try:
        yield run
    finally:
        engine.dispose()


@pytest.fixture
def tuned_platform(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Api]]:
    """Starts platforms with their own settings (`--set`) on this test's backend; each gets a
    fresh database. Returns an Api on each."""
    started: list[LocalPlatform] = []

    def start(workers: int = 1, **settings: object) -> Api:
        url = request.getfixturevalue("make_postgres_url")() if backend == "postgres" else None
        server = start_local_platform(
            tmp_path / f"p{len(started)}", database_url=url, settings=settings, workers=workers
        )
        started.append(server)
        return Api(server.url)

    try:
        yield start
    finally:
        for server in started:
            server.stop()
