"""A new volunteer signs up on the web page, opens Community pools, clicks Join and copies the
join command; the copied token is a valid single-use token that enrols a device."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any

import pytest

from kalavai_like import tokens
from kalavai_like.platform.local import LocalPlatform
from tests.support.platform_api import Api, unique, wg_key
from tests.support.web import PASSWORD, click_join_and_copy, nav, sign_up

pytestmark = pytest.mark.chromium


def test_signup_join_copy_redeems_once(
    api: Api, web_platform: LocalPlatform, new_context: Callable[[], Any]
) -> None:
    owner = api.user()
    pool = api.pool(owner, public=True, name=unique("community"))
    page = new_context().new_page()
    email = f"{unique('newbie')}@example.org"

    sign_up(page, email)
    listed = page.get_by_role("row").filter(has_text=pool["name"])
    assert "dask" in listed.inner_text()
    assert page.get_by_text("kalavai-like-tray", exact=True).is_visible()
    assert page.get_by_text("Join a pool…").first.is_visible()

    command = click_join_and_copy(page, pool["name"])
    argv = shlex.split(command)
    assert argv[:3] == ["kalavai-like", "pool", "join"] and len(argv) == 4
    parsed = tokens.validate(argv[3], now=time.time(), platform=web_platform.public_url)
    assert parsed.pool_id == pool["id"] and parsed.tier == tokens.WORKER
    assert page.get_by_text("kalavai-like-tray", exact=True).is_visible()

    # The token enrols the new user's device once (the API's own redeem), and only once.
    me = api.http.post("/api/v1/sessions", json={"email": email, "password": PASSWORD}).json()
    volunteer = api.as_(me["token"])
    joined = api.redeem(volunteer, argv[3], name="laptop")
    assert joined.status_code == 201, joined.text
    assert joined.json()["pool"]["id"] == pool["id"]
    again = api.redeem(volunteer, argv[3], name="laptop2", public_key=wg_key())
    assert again.status_code == 410 and again.json()["error"]["reason"] == "used_up"

    nav(page, "My devices")
    card = page.locator("article.device").filter(has_text="laptop")
    assert card.get_by_text(pool["name"]).is_visible()
    assert card.locator("[data-state]").get_attribute("data-state") == "joining"


def test_each_join_mints_a_fresh_token(api: Api, new_context: Callable[[], Any]) -> None:
    owner = api.user()
    pool = api.pool(owner, public=True)
    page = new_context().new_page()
    sign_up(page, f"{unique('twice')}@example.org")
    first = click_join_and_copy(page, pool["name"])
    second = click_join_and_copy(page, pool["name"])
    assert first != second
    r = api.as_(owner.credential).get(f"/api/v1/pools/{pool['id']}/tokens")
    assert [(t["uses"], t["used"]) for t in r.json()] == [(1, 0), (1, 0)]


def test_a_pool_not_running_offers_no_join_and_join_offers_open_in_app(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    owner = api.user()
    idle = api.pool(owner, public=True, running=False, name=unique("idle"))
    started = api.pool(owner, public=True, name=unique("started"))
    _user, page = logged_in()
    nav(page, "Community pools")
    row = page.get_by_role("row").filter(has_text=idle["name"])
    assert "Not running yet" in row.inner_text()
    assert row.get_by_role("button", name="Join").count() == 0

    command = click_join_and_copy(page, started["name"])
    link = page.get_by_role("link", name="Open in app")
    href = link.get_attribute("href") or ""
    assert href.startswith("kalavai-like://join?") and f"pool={started['id']}" in href
    assert command.split()[-1] not in href  # the token stays in the command, not the link


def test_private_pools_cannot_be_joined_from_the_page(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    owner = api.user()
    hidden = api.pool(owner, public=False)
    _user, page = logged_in()
    assert page.get_by_role("row").filter(has_text=hidden["name"]).count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    r = page.request.post(f"/pools/{hidden['id']}/join", form={"csrf": csrf})
    assert r.status == 404
    tokens_made = api.as_(owner.credential).get(f"/api/v1/pools/{hidden['id']}/tokens").json()
    assert tokens_made == []
