"""The sign-up and log-in forms on the real platform, without a browser: what each refusal
says and what success does (the browser tests beside it cover the pages themselves)."""

from __future__ import annotations

import re

import httpx

from tests.support.platform_api import Api, unique


def _form(api: Api, path: str) -> tuple[httpx.Client, str]:
    """A fresh browser-like client holding the form's pre-session cookie, and its CSRF value."""
    http = httpx.Client(base_url=api.url, timeout=30, headers={"Origin": api.url})
    page = http.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and match, page.text[:300]
    return http, match.group(1)


def test_sign_up_form_refusals_and_success(api: Api) -> None:
    http, csrf = _form(api, "/signup")
    email = f"{unique('form')}@example.org"
    fields = {"csrf": csrf, "email": email, "password": "long enough", "password2": "long enough"}
    r = http.post("/signup", data={**fields, "email": "not an email"})
    assert r.status_code == 400 and "does not look like an email address" in r.text
    r = http.post("/signup", data={**fields, "password": "short", "password2": "short"})
    assert r.status_code == 400 and "at least 8 characters" in r.text
    r = http.post("/signup", data={**fields, "password2": "something else"})
    assert r.status_code == 400 and "The two passwords differ." in r.text
    r = http.post("/signup", data=fields)
    assert r.status_code == 303 and r.headers["location"] == "/pools"
    http, csrf = _form(api, "/signup")
    r = http.post("/signup", data={**fields, "csrf": csrf})
    assert r.status_code == 409 and "exists" in r.text


def test_log_in_form_refusals_and_success(api: Api) -> None:
    user = api.user()
    http, csrf = _form(api, "/login")
    r = http.post("/login", data={"csrf": csrf, "email": user.email, "password": ""})
    assert r.status_code == 400 and "Give your email and password." in r.text
    r = http.post("/login", data={"csrf": "forged", "email": user.email, "password": "x"})
    assert r.status_code == 403
    fields = {"csrf": csrf, "email": user.email, "password": user.password, "next": "/keys"}
    r = http.post("/login", data=fields)
    assert r.status_code == 303 and r.headers["location"] == "/keys"
