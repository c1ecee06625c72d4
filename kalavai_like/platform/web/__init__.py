"""The platform's web pages: sign-up and log-in, community pools with Join, a pool's create form
and public page, my devices and contributions, the leaderboard, the pool owner's page, account
keys and the operator's page.

Server-rendered (Jinja2, autoescaped), no build step; pages work without JavaScript except
the contributions chart (uPlot, vendored in static/vendor) and the copy button.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    """Add the pages and their static files (/static) to the platform app."""
    from kalavai_like.platform.web import (
        accounts,
        credit,
        devices,
        operator,
        owner_tools,
        pool_pages,
        pools,
        settings_pages,
    )

    # pool_pages before pools: its /pools/new must win over /pools/{pool} routes.
    pages = (accounts, settings_pages, pool_pages, pools, devices, credit, operator, owner_tools)
    for module in pages:
        app.include_router(module.router)
    static = Path(str(resources.files("kalavai_like.platform.web") / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")
