"""The FastAPI application: settings, database, migrations, routers and error handlers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import text

from kalavai_like import __version__
from kalavai_like.platform import heartbeat_store, ipam, ledger, problems, web
from kalavai_like.platform.db import Database
from kalavai_like.platform.heartbeat_route import HeartbeatRoute
from kalavai_like.platform.limits import RequestLimits
from kalavai_like.platform.notices import Notifier
from kalavai_like.platform.peers import PeerWatch
from kalavai_like.platform.schemas import ErrorOut, Health
from kalavai_like.platform.settings import PlatformSettings

SETTINGS_ENV = "KALAVAI_LIKE_PLATFORM_SETTINGS"


# A password-reset link carries its token in the query: an access log (`--log-level info`)
# shows the request without it.
_QUERY_SECRET = re.compile(r"([?&]token=)[^&#\s]*")


class _HideQuerySecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY_SECRET.sub(r"\1[hidden]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def _hide_query_secrets(logger: logging.Logger) -> None:
    if not any(isinstance(f, _HideQuerySecrets) for f in logger.filters):
        logger.addFilter(_HideQuerySecrets())


# The statuses every endpoint may answer with an ErrorOut (the OpenAPI schema says so).
ERROR_CODES = (400, 401, 403, 404, 409, 410, 413, 422, 429, 431, 503)


def create_app(cfg: PlatformSettings, *, migrate: bool = True) -> FastAPI:
    """Build the app. With `migrate`, the schema is upgraded to head at start-up."""
    from kalavai_like.platform.api import (
        accounts,
        credit,
        device,
        devices,
        lifecycle,
        operator,
        owners,
        pools,
        profile,
        resets,
    )

    db = Database(cfg.resolved_database_url)
    _hide_query_secrets(logging.getLogger("uvicorn.access"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(prepare, db)
        app.state.peers.bind(asyncio.get_running_loop())
        notifier.start()
        yield
        await asyncio.to_thread(notifier.stop)
        if store is not None:
            await store.close()
        db.dispose()

    app = FastAPI(
        title="kalavai-like platform",
        version=__version__,
        lifespan=lifespan,
        responses={code: {"model": ErrorOut} for code in ERROR_CODES},
    )
    app.state.db = db
    app.state.settings = cfg
    app.state.peers = PeerWatch()
    problems.install(app)
    store = heartbeat_store.store_for(db, ledger.Rules.of(cfg))
    if store is not None:  # the hot path skips FastAPI's router
        app.add_middleware(HeartbeatRoute, store=store)
    web.install(app)
    notifier = Notifier(db, cfg)  # the owners' webhooks, off every request's path
    routers = (accounts, profile, resets, pools, lifecycle, devices, device, credit, operator,
               owners)  # fmt: skip
    for module in routers:
        app.include_router(module.router)
    # Added last, so outermost: no route, the heartbeat's lean path included, reads more.
    app.add_middleware(RequestLimits, max_body=cfg.max_body_bytes, max_depth=cfg.max_json_depth)

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        with db.read() as s:
            s.execute(text("SELECT 1"))
        return Health(ok=True, version=__version__, database=db.dialect)  # type: ignore[arg-type]

    return app


def prepare(db: Database) -> None:
    """Migrate the schema and make the platform's one-time values (its ULA prefix)."""
    db.migrate()
    with db.write() as s:
        ipam.ula_prefix(s)


def settings_to_env(cfg: PlatformSettings) -> str:
    """Every setting, for the worker processes (they must enforce the same limits)."""
    return json.dumps({**dataclasses.asdict(cfg), "data_dir": str(cfg.data_dir)})


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings come from the environment, migrations are done."""
    raw = json.loads(os.environ[SETTINGS_ENV])
    raw["data_dir"] = Path(raw["data_dir"])
    return create_app(PlatformSettings(**raw), migrate=False)
