"""The community page and the Join page, fetched as a browser does: a pool that is not
running says so instead of offering Join, and the Join page's "Open in app" link names the
platform and the pool, never the token (which only the command to copy carries)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from kalavai_like import tokens
from kalavai_like.client import links
from kalavai_like.platform.local import LocalPlatform
from tests.platform.test_operator_pages import browser, csrf
from tests.support.platform_api import Api


def _row(page: str, name: str) -> str:
    return page.split(name, 1)[1].split("</tr>")[0]


def test_a_pool_that_is_not_running_offers_no_join(api: Api, platform: LocalPlatform) -> None:
    owner = api.user()
    idle, started = api.pool(owner, public=True, running=False), api.pool(owner, public=True)
    with browser(platform, api.user()) as page:
        listed = page.get("/pools").text
        assert "Not running yet" in _row(listed, idle["name"])
        assert f"/pools/{idle['id']}/join" not in listed
        assert f"/pools/{started['id']}/join" in _row(listed, started["name"])
        forged = page.post(f"/pools/{idle['id']}/join", data={"csrf": csrf(listed)})
        assert forged.status_code == 409 and "not running yet" in forged.text
    assert owner.get(f"/api/v1/pools/{idle['id']}/tokens").json() == []
    with browser(platform, owner) as page:
        mine = page.get("/pools").text.split("Your pools", 1)[1]
        assert "not running yet" in mine.split(idle["name"], 1)[1].split("</li>")[0]
        assert "not running yet" not in mine.split(started["name"], 1)[1].split("</li>")[0]


def test_join_offers_open_in_app_without_the_token(api: Api, platform: LocalPlatform) -> None:
    owner = api.user()
    pool = api.pool(owner, public=True)
    with browser(platform, api.user()) as page:
        listed = page.get("/pools").text
        joined = page.post(f"/pools/{pool['id']}/join", data={"csrf": csrf(listed)}).text
    command = html.unescape(re.search(r'id="join-command">([^<]+)<', joined).group(1))
    token = command.split()[-1]
    href = html.unescape(re.search(r'id="open-in-app" href="([^"]+)"', joined).group(1))
    assert href.startswith("kalavai-like://join?") and token not in href
    assert "kl1_" not in href and "token" not in parse_qs(urlsplit(href).query)
    link = links.parse(href)  # what the app reads back
    minted_for = tokens.parse(token).platform.rstrip("/")
    assert (link.platform, link.pool_id, link.pool_name) == (minted_for, pool["id"], pool["name"])
