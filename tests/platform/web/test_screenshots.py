"""Screenshots of every page at 1280x800 with realistic data.

    KALAVAI_LIKE_SCREENSHOTS=docs/screenshots pytest tests/web/test_screenshots.py

writes docs/screenshots/web-*.png (shown in the README); without the variable they go to the
test's temporary directory. The test also checks each page renders with its data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform_api import Api, wg_key
from tests.support.web import PASSWORD, heartbeat, nav, screenshot_dir, seed_history

pytestmark = pytest.mark.chromium


def _community(api: Api, sql: Any) -> tuple[Any, dict[str, Any]]:
    """A few pools with workers and credit, and the volunteer whose pages we show."""
    ana = api.user("ana.lopez@example.org", PASSWORD, "Ana López")
    protein = api.pool(ana, name="protein-folding", public=True, template="dask")
    sql("UPDATE pools SET trusted = true WHERE id = :p", {"p": protein["id"]})  # the operator's
    api.pool(ana, name="render-farm", public=True, template="generic")
    api.pool(
        api.user("lab@example.org", PASSWORD, "Climate Lab"), name="climate-ensemble", public=True
    )
    me = api.user("sam.volunteer@example.org", PASSWORD, "Sam")
    mine = api.pool(me, name="sams-homelab", public=False)
    devices = []
    for who, pool, name, cores in [
        (me, protein, "desktop", 8),
        (me, mine, "nas", 4),
        (me, protein, "old-laptop", 2),
        (api.user("kim@example.org", PASSWORD, "Kim"), protein, "kim-pc", 16),
        (api.user("lee@example.org", PASSWORD, "Lee"), protein, "lee-mac", 8),
        (ana, mine, "ana-server", 32),
    ]:
        owner = ana if pool is protein else me
        joined = api.join(api.as_(who.credential), owner, pool, name=name, cores=cores,
                          memory_bytes=cores * 2**30, public_key=wg_key())  # fmt: skip
        devices.append((who, joined))
    for n, (who, joined) in enumerate(devices):
        seed_history(sql, joined["device"], who.id, 29 - 4 * n)
        counters = {"cpu_seconds": 10.0 * (n + 1), "ram_gb_seconds": 20.0 * (n + 1)}
        heartbeat(api, joined["credential"], 1, "running", counters=counters)
    heartbeat(api, devices[2][1]["credential"], 2, "paused", reason="Paused: on battery")
    api.as_(me.credential).post("/api/v1/account-keys", json={"name": "rack-node-07"})
    api.token(me, mine, uses=5, expires_in=86400)
    return me, mine


def test_screenshots_of_every_page(
    api: Api,
    new_context: Callable[[], Any],
    platform_sql: Any,
    tmp_path: Path,
) -> None:
    out = screenshot_dir(tmp_path)
    me, mine = _community(api, platform_sql)
    page = new_context().new_page()

    def shot(name: str) -> None:
        page.screenshot(path=str(out / f"web-{name}.png"))
        assert (out / f"web-{name}.png").stat().st_size > 10_000

    page.goto("/signup")
    shot("signup")
    page.goto("/login")
    page.get_by_label("Email").fill(me.email)
    shot("login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/pools")
    assert page.get_by_role("row").count() >= 4
    shot("pools")
    page.get_by_role("row").filter(has_text="protein-folding").get_by_role("button").click()
    page.get_by_role("button", name="Copy").click()
    page.wait_for_function("document.querySelector('button.copy').textContent === 'Copied'")
    shot("join")
    nav(page, "My devices")
    assert page.locator("article.device").count() == 4  # three workers and my pool's hub
    assert page.locator("article.device").filter(has_text="The pool's hub").count() == 1
    shot("devices")
    nav(page, "My contributions")
    page.wait_for_selector("#daily-chart[data-rendered=true] canvas")
    shot("contributions")
    nav(page, "Leaderboard")
    shot("leaderboard")
    page.goto(f"/pools/{mine['id']}/owner")
    page.get_by_label("Uses").fill("10")
    page.get_by_role("button", name="Create token").click()
    shot("owner")
    nav(page, "Account keys")
    shot("keys")
