"""The Operator page and the pools' trust on the pages, fetched as a browser does (session
cookie, same-origin forms with their CSRF token) from the real platform on both databases."""

from __future__ import annotations

import re

import httpx
import pytest

from kalavai_like.platform.local import LocalPlatform
from tests.support.operator import make_operator
from tests.support.platform_api import Api, User

SESSION_COOKIE = "kl_session"
TRUSTED = '<span class="tag ok">trusted</span>'


def browser(platform: LocalPlatform, user: User) -> httpx.Client:
    """A client holding `user`'s session cookie, sending forms from the platform's origin."""
    return httpx.Client(
        base_url=platform.url,
        cookies={SESSION_COOKIE: user.credential or ""},
        headers={"Origin": platform.url},
        timeout=30,
    )


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html[:500]
    return found.group(1)


@pytest.fixture
def operator(api: Api, platform: LocalPlatform) -> User:
    user = api.user()
    make_operator(platform, user.email)
    return user


def test_only_the_operator_sees_the_page_and_its_link(
    api: Api, platform: LocalPlatform, operator: User
) -> None:
    with browser(platform, api.user()) as other:
        assert 'href="/operator"' not in other.get("/pools").text
        r = other.get("/operator")
        assert r.status_code == 403 and "Only the platform&#39;s operator" in r.text
    with browser(platform, operator) as op:
        assert 'href="/operator"' in op.get("/pools").text
        assert op.get("/operator").status_code == 200


def test_the_operator_trusts_a_pool_and_suspends_a_user_from_the_page(
    api: Api, platform: LocalPlatform, operator: User
) -> None:
    owner = api.user()
    pool = api.pool(owner, public=True)
    generic = api.pool(owner, public=True, template="generic")
    with browser(platform, owner) as page:
        row = page.get("/pools").text.split(pool["name"], 1)[1].split("</tr>")[0]
        assert "not trusted" in row and TRUSTED not in row
        gen = page.get("/pools").text.split(generic["name"], 1)[1].split("</tr>")[0]
        assert "credit unverified (no witness)" in gen

    with browser(platform, operator) as op:
        html = op.get("/operator").text
        assert pool["name"] in html and owner.email in html
        action = f"/operator/pools/{pool['id']}/trust"
        assert op.post(action, data={"csrf": "0" * 64}).status_code == 403  # a forged form
        assert owner.get(f"/api/v1/pools/{pool['id']}").json()["trusted"] is False
        r = op.post(action, data={"csrf": csrf(html)}, follow_redirects=True)
        assert r.status_code == 200 and "Pool trusted" in r.text

        victim = api.user()
        r = op.post("/operator/users/suspend", data={"csrf": csrf(html), "email": victim.email},
                    follow_redirects=True)  # fmt: skip
        assert r.status_code == 200 and "User suspended" in r.text and victim.email in r.text
        r = op.post("/operator/users/suspend", data={"csrf": csrf(html), "email": "no@one.example"})
        assert r.status_code == 400 and "No account for no@one.example" in r.text

    assert victim.get("/api/v1/me").status_code == 403
    with browser(platform, owner) as page:
        pools = page.get("/pools").text
        assert TRUSTED in pools.split(pool["name"], 1)[1].split("</tr>")[0]
        assert TRUSTED not in pools.split(generic["name"], 1)[1].split("</tr>")[0]
        owner_page = page.get(f"/pools/{pool['id']}/owner").text
        assert TRUSTED in owner_page and "at most 256 cores" in owner_page
    with browser(platform, victim) as page:  # the suspended user's page session ends too
        r = page.get("/devices", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
