"""The account settings pages on the real platform, without a browser: display name at
sign-up and on the Account page, deleting the account, and the password reset by email
(against a local SMTP server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kalavai_like.platform.local import start_local_platform
from tests.support.platform_api import TEST_SIGNUPS_PER_HOUR, Api, User, unique
from tests.support.smtp import Inbox, local_smtp
from tests.support.waiting import wait_for

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _form(url: str, path: str) -> tuple[httpx.Client, str]:
    http = httpx.Client(base_url=url, timeout=30, headers={"Origin": url})
    page = http.get(path)
    match = CSRF.search(page.text)
    assert page.status_code == 200 and match, page.text[:300]
    return http, match.group(1)


def _logged_in(api: Api, user: User) -> tuple[httpx.Client, str]:
    http, csrf = _form(api.url, "/login")
    fields = {"csrf": csrf, "email": user.email, "password": user.password, "next": "/account"}
    assert http.post("/login", data=fields).status_code == 303
    page = http.get("/account")
    match = CSRF.search(page.text)
    assert page.status_code == 200 and match
    return http, match.group(1)


def test_sign_up_form_takes_a_display_name(api: Api) -> None:
    http, csrf = _form(api.url, "/signup")
    email = f"{unique('form')}@example.org"
    fields = {"csrf": csrf, "email": email, "password": "long enough", "password2": "long enough"}
    r = http.post("/signup", data={**fields, "display_name": "me@example.org"})
    assert r.status_code == 400 and "without &#39;@&#39;" in r.text
    r = http.post("/signup", data={**fields, "display_name": "Form Fay"})
    assert r.status_code == 303
    assert api.log_in(email, "long enough").get("/api/v1/me").json()["display_name"] == "Form Fay"


def test_account_page_changes_the_display_name(api: Api) -> None:
    user = api.user()
    http, csrf = _logged_in(api, user)
    assert f"user-{user.id[:8]}" in http.get("/account").text
    r = http.post("/account/name", data={"csrf": csrf, "display_name": "bell\x07"})
    assert r.status_code == 400 and "printable" in r.text
    r = http.post("/account/name", data={"csrf": csrf, "display_name": "Page Pat"})
    assert r.status_code == 303 and r.headers["location"] == "/account?done=name"
    assert user.get("/api/v1/me").json()["display_name"] == "Page Pat"


def test_account_page_deletes_the_account_with_its_password(api: Api) -> None:
    user = api.user()
    http, csrf = _logged_in(api, user)
    r = http.post("/account/delete", data={"csrf": csrf, "password": "not the one"})
    assert r.status_code == 403 and "The password is not right." in r.text
    r = http.post("/account/delete", data={"csrf": csrf, "password": user.password})
    assert r.status_code == 303 and r.headers["location"] == "/login?done=deleted"
    assert "Your account is deleted." in http.get("/login?done=deleted").text
    assert http.get("/account").status_code in (303, 401)
    r = api.http.post("/api/v1/sessions", json={"email": user.email, "password": user.password})
    assert r.status_code == 401


def test_reset_page_without_email_says_to_ask_the_operator(api: Api) -> None:
    page = httpx.get(f"{api.url}/reset", timeout=30)
    assert page.status_code == 200
    assert "sends no email" in page.text and "operator" in page.text
    assert 'href="/reset"' in httpx.get(f"{api.url}/login", timeout=30).text


@pytest.fixture
def mailed_platform(tmp_path: Path) -> Iterator[tuple[Api, Inbox]]:
    pytest.importorskip("aiosmtpd")
    with local_smtp() as (box, port):
        settings = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "pf@example.org"}
        with start_local_platform(
            tmp_path / "p", settings=settings, signups_per_hour=TEST_SIGNUPS_PER_HOUR
        ) as server:
            yield Api(server.url), box


def test_reset_by_email_from_the_log_in_page(mailed_platform: tuple[Api, Inbox]) -> None:
    api, box = mailed_platform
    user = api.user()
    http, csrf = _form(api.url, "/reset")
    r = http.post("/reset", data={"csrf": csrf, "email": user.email})
    assert r.status_code == 200 and "a reset link is on its way" in r.text
    mail = wait_for(lambda: box.to(user.email), what="the email")
    body = mail[0].get_payload(decode=True).decode()
    link = re.search(r"(/reset\?token=\S+)", body)
    assert link, body
    page = http.get(link.group(1))
    assert 'name="token"' in page.text
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token
    fields = {"csrf": csrf, "token": token.group(1), "new": "brand new pw", "new2": "brand new pw"}
    r = http.post("/reset/confirm", data=fields)
    assert r.status_code == 303 and r.headers["location"] == "/login?done=reset"
    api.log_in(user.email, "brand new pw")
    r = http.post("/reset/confirm", data=fields)
    assert r.status_code == 400 and "used already" in r.text
