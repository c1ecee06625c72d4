"""The pool owner's page without a browser: join tokens with their label and id, a worker's
notices, Remove and Ban (and Unban) as forms with the CSRF value, which another account cannot
use; and the seed's hub in "My devices" as the pool's hub with its state."""

from __future__ import annotations

import re

import httpx

from tests.support.platform_api import Api, User, wg_key


def _web(api: Api, user: User) -> httpx.Client:
    """A browser-like client logged in to the web pages as `user`."""
    http = httpx.Client(base_url=api.url, timeout=30, headers={"Origin": api.url})
    csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
    assert csrf
    fields = {"csrf": csrf.group(1), "email": user.email, "password": user.password}
    assert http.post("/login", data=fields).status_code == 303
    return http


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and match, page.text[:300]
    return match.group(1)


def test_owner_page_labels_removes_bans_and_unbans(api: Api) -> None:
    owner, volunteer, stranger = api.user(), api.user(), api.user()
    pool = api.pool(owner, public=True)
    made = api.token(owner, pool, label="for Ana")
    red = api.join(volunteer, owner, pool, name="ana-box")
    device_id = red["device"]["id"]
    worked = {"seq": 1, "state": "running"}  # a worker that worked stays listed once removed
    assert api.as_(red["credential"]).post("/api/v1/device/heartbeat", json=worked).is_success
    web = _web(api, owner)
    page = web.get(f"/pools/{pool['id']}/owner")
    csrf = _csrf(page)
    assert "for Ana" in page.text and made["id"] in page.text
    assert f"/pools/{pool['id']}/devices/{device_id}/remove" in page.text
    assert f"/pools/{pool['id']}/bans/{volunteer.id}" in page.text

    # a token with a label from the form
    r = web.post(
        f"/pools/{pool['id']}/tokens",
        data={"csrf": csrf, "uses": "1", "expires_in": "3600", "label": "for Bo"},
    )
    assert r.status_code == 200 and "for Bo" in r.text
    r = web.post(
        f"/pools/{pool['id']}/tokens",
        data={"csrf": csrf, "uses": "1", "expires_in": "3600", "label": "x" * 65},
    )
    assert "a label is at most 64 printable characters" in r.text

    # another account, with its own session and CSRF value, cannot remove or ban
    other = _web(api, stranger)
    other_csrf = _csrf(other.get("/devices"))
    remove = f"/pools/{pool['id']}/devices/{device_id}/remove"
    assert other.post(remove, data={"csrf": other_csrf}).status_code == 403
    ban = f"/pools/{pool['id']}/bans/{volunteer.id}"
    assert other.post(ban, data={"csrf": other_csrf}).status_code == 403
    assert web.post(remove, data={"csrf": "forged"}).status_code == 403

    r = web.post(remove, data={"csrf": csrf})
    assert r.status_code == 303
    page = web.get(r.headers["location"])
    assert "Worker removed" in page.text and "removed by the pool&#39;s owner" in page.text
    beat = {"seq": 2, "state": "running"}
    assert (
        api.as_(red["credential"])
        .post("/api/v1/device/heartbeat", json=beat)
        .json()["desired_state"]
        == "removed"
    )

    assert web.post(ban, data={"csrf": csrf}).status_code == 303
    page = web.get(f"/pools/{pool['id']}/owner")
    assert f"/pools/{pool['id']}/bans/{volunteer.id}/unban" in page.text
    refused = api.redeem(volunteer, api.token(owner, pool)["token"])
    assert refused.json()["error"]["reason"] == "banned"
    assert web.post(f"{ban}/unban", data={"csrf": csrf}).status_code == 303
    assert "Nobody is banned" in web.get(f"/pools/{pool['id']}/owner").text
    assert api.redeem(volunteer, api.token(owner, pool)["token"], public_key=wg_key()).is_success


def test_owner_page_sets_the_webhook_and_shows_notices(api: Api, platform_sql) -> None:  # type: ignore[no-untyped-def]
    owner, volunteer = api.user(), api.user()
    pool = api.pool(owner)
    red = api.join(volunteer, owner, pool, name="quiet-box")
    platform_sql(
        "UPDATE devices SET created_at = created_at - 7200 WHERE id = :id",
        {"id": red["device"]["id"]},
    )
    web = _web(api, owner)
    page = web.get(f"/pools/{pool['id']}/owner")
    assert 'data-kind="worker_offline"' in page.text and "never sent a heartbeat" in page.text
    csrf = _csrf(page)
    hook = f"/pools/{pool['id']}/webhook"
    r = web.post(hook, data={"csrf": csrf, "url": "javascript:alert(1)"})
    assert "must be an http:// or https:// URL" in r.text
    r = web.post(hook, data={"csrf": csrf, "url": "https://hooks.example.org/p"})
    assert r.status_code == 303
    assert owner.get(f"/api/v1/pools/{pool['id']}/webhook").json()["url"] == (
        "https://hooks.example.org/p"
    )


def test_the_seeds_hub_shows_as_the_pools_hub_with_its_state(api: Api) -> None:
    owner = api.user()
    pool = api.pool(owner)
    hub = api.hub(owner, pool)
    web = _web(api, owner)
    card = web.get("/devices").text
    assert "The pool's hub" in card and 'data-state="not seen yet"' in card
    assert "Lends" not in card and "0 cores" not in card
    assert 'data-hub-state="not seen yet"' in web.get(f"/pools/{pool['id']}/owner").text

    r = api.as_(hub["credential"]).get("/api/v1/device/peers")  # what a running seed does
    assert r.status_code == 200
    assert 'data-state="running"' in web.get("/devices").text
    assert 'data-hub-state="running"' in web.get(f"/pools/{pool['id']}/owner").text
