"""Who may do what on the pages: another user's pages and actions are refused, CSRF attempts
fail (no token, a wrong token, another origin, a real cross-site form), session cookies are
HttpOnly/SameSite (and Secure over HTTPS), log-out revokes the session, a session expires on
the server with its cookie, log-ins share the API's throttle, and user text is escaped."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from kalavai_like.platform import credentials
from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.support.platform_api import Api, unique
from tests.support.web import PASSWORD, form_csrf, nav

pytestmark = pytest.mark.chromium


def desired(api: Api, user: Any) -> list[str]:
    """What the user's workers are asked to do (their pools' hubs are theirs too: left out)."""
    mine = api.as_(user.credential).get("/api/v1/devices").json()
    return [d["desired_state"] for d in mine if d["role"] == "worker"]


@pytest.fixture
def victim(api: Api, logged_in: Callable[..., tuple[Any, Any]]) -> tuple[Any, Any, dict, dict]:
    """A logged-in user with a private pool and a device in a public pool."""
    user, page = logged_in()
    private = api.pool(user, public=False)
    device = api.join_public(user, name="victim-box")[1]["device"]
    return user, page, private, device


def test_another_users_pages_and_actions_are_refused(
    api: Api, logged_in: Callable[..., tuple[Any, Any]], victim: tuple[Any, Any, dict, dict]
) -> None:
    alice, _alice_page, private, device = victim
    other_public = api.pool(alice, public=True)
    _mallory, page = logged_in()
    csrf = form_csrf(page)

    assert page.goto(f"/pools/{private['id']}/owner").status == 404
    assert page.goto(f"/pools/{private['name']}/owner").status == 404
    refused = page.goto(f"/pools/{other_public['id']}/owner")
    assert refused.status == 403
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert page.goto("/pools/not..a/owner").status == 404

    for verb in ("pause", "remove"):
        r = page.request.post(f"/devices/{device['id']}/{verb}", form={"csrf": csrf})
        assert r.status == 404, verb
    assert desired(api, alice) == ["running"]
    r = page.request.post(
        f"/pools/{other_public['id']}/tokens",
        form={"csrf": csrf, "uses": "5", "expires_in": "3600"},
    )
    assert r.status == 403
    assert api.as_(alice.credential).get(f"/api/v1/pools/{other_public['id']}/tokens").json() == []
    key = api.as_(alice.credential).post("/api/v1/account-keys", json={"name": "k"}).json()
    assert page.request.post(f"/keys/{key['id']}/revoke", form={"csrf": csrf}).status == 404
    keys = api.as_(alice.credential).get("/api/v1/account-keys").json()
    assert [k["revoked"] for k in keys] == [False]
    # Own pages of nobody: no session means the log-in form.
    anon = page.context.browser.new_context(base_url=page.url.split("/pools")[0])
    try:
        p = anon.new_page()
        p.goto("/devices")
        assert p.url.endswith("/login?next=/devices")
    finally:
        anon.close()


def test_csrf_attempts_fail(api: Api, victim: tuple[Any, Any, dict, dict]) -> None:
    alice, page, _private, device = victim
    nav(page, "My devices")
    url = f"/devices/{device['id']}/pause"
    good = form_csrf(page)
    assert page.request.post(url, form={}).status == 403
    assert page.request.post(url, form={"csrf": "0" * 64}).status == 403
    r = page.request.post(url, form={"csrf": good}, headers={"Origin": "http://evil.example"})
    assert r.status == 403
    r = page.request.post(url, form={"csrf": good}, headers={"Origin": "null"})
    assert r.status == 403
    assert desired(api, alice) == ["running"]
    # The same form from our own page works, so the refusals above were the checks.
    page.get_by_role("button", name="Pause").click()
    assert desired(api, alice) == ["paused"]


class _EvilSite(BaseHTTPRequestHandler):
    form = ""

    def do_GET(self) -> None:
        body = self.form.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def evil_site() -> Iterator[Callable[[str], str]]:
    """Another origin on loopback that serves an auto-submitting form (set by the test)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EvilSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(form: str) -> str:
        _EvilSite.form = form
        return f"http://127.0.0.1:{server.server_address[1]}/"

    try:
        yield serve
    finally:
        server.shutdown()
        server.server_close()


def test_cross_site_form_is_refused(
    api: Api, web_platform: LocalPlatform, victim: tuple[Any, Any, dict, dict], evil_site: Any
) -> None:
    alice, page, _private, device = victim
    target = f"{web_platform.url}/devices/{device['id']}/pause"
    # Same site as the platform (loopback, another port), so the browser even sends the
    # SameSite=Lax cookie: only the CSRF token and the Origin check stand in the way.
    evil = evil_site(
        f'<form id=f method=post action="{target}"><input name=csrf value="guess"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    with page.expect_response(target) as hit:
        page.goto(evil)
    assert hit.value.status == 403
    assert "Request refused" in page.content()
    assert desired(api, alice) == ["running"]


def test_session_cookie_flags_logout_and_shared_throttle(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    user, page = logged_in()
    cookie = next(c for c in page.context.cookies() if c["name"] == "kl_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert page.evaluate("document.cookie") == ""
    session_token = cookie["value"]
    assert api.as_(session_token).get("/api/v1/me").json()["email"] == user.email

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    assert api.as_(session_token).get("/api/v1/me").status_code == 401
    assert page.goto("/devices").url.endswith("/login?next=/devices")

    # Log-in CSRF: a log-in form without the pre-session token is refused.
    r = page.request.post("/login", form={"email": user.email, "password": PASSWORD})
    assert r.status == 403

    # Failed web log-ins count in the API's throttle: after 5 on an account, the address that
    # failed waits before its next try there (the browser and `api` share 127.0.0.1).
    for _ in range(5):
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        assert page.get_by_role("alert").inner_text() == "Check both and try again."
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wait")
    r = api.http.post("/api/v1/sessions", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


SESSION_IDLE = 30 * 86400  # the platform's default


def test_web_session_expires_on_the_server_with_its_cookie(
    api: Api, logged_in: Callable[..., tuple[Any, Any]], web_platform: LocalPlatform
) -> None:
    user, page = logged_in()
    cookie = next(c for c in page.context.cookies() if c["name"] == "kl_session")
    token, cookie_expires = cookie["value"], cookie["expires"]
    digest = credentials.digest(token)
    with sqlite3.connect(web_platform.data_dir / "platform.sqlite3") as conn:
        (expires,) = conn.execute(
            "SELECT expires_at FROM api_tokens WHERE token_hash = ?", (digest,)
        ).fetchone()
        assert expires - time.time() == pytest.approx(SESSION_IDLE, abs=300)
        # the session went unused for 30 days, and someone kept a copy of its cookie
        conn.execute(
            "UPDATE api_tokens SET expires_at = ? WHERE token_hash = ?", (time.time() - 1, digest)
        )
    assert api.as_(token).get("/api/v1/me").status_code == 401
    assert page.goto("/devices").url.endswith("/login?next=/devices")
    # the browser keeps the cookie as long as the server keeps the session
    assert cookie_expires - time.time() == pytest.approx(SESSION_IDLE, abs=300)
    # the user's other log-in (through the API) is another session, still alive
    assert api.as_(user.credential).get("/api/v1/me").status_code == 200


def test_secure_cookie_when_served_over_https(tmp_path: Path) -> None:
    with start_local_platform(tmp_path / "p", public_url="https://platform.example") as server:
        http = httpx.Client(base_url=server.url)
        r = http.get("/login")
        assert "Secure" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
        csrf = r.text.split('name="csrf" value="')[1].split('"')[0]
        email = f"{unique('tls')}@example.org"
        form = {"csrf": csrf, "email": email, "password": PASSWORD, "password2": PASSWORD}
        # A client keeps a Secure cookie off plain http: hand it over as the TLS proxy would.
        pre = r.headers["set-cookie"].split(";")[0]
        headers = {"Origin": "https://platform.example", "Cookie": pre}
        r = httpx.post(server.url + "/signup", data=form, headers=headers)
        assert r.status_code == 303
        session = next(h for h in r.headers.get_list("set-cookie") if "kl_session=" in h)
        assert "Secure" in session and "HttpOnly" in session and "samesite=lax" in session.lower()


def test_user_text_is_escaped(api: Api, logged_in: Callable[..., tuple[Any, Any]]) -> None:
    _user, page = logged_in()
    nav(page, "Account keys")
    evil = "<img src=x onerror=\"document.title='owned'\">"
    page.get_by_label("Name").fill(evil)
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("status").get_by_text(evil)).to_be_visible()
    assert page.get_by_role("cell", name=evil, exact=True).is_visible()
    assert page.locator("main img").count() == 0
    assert page.title() == "Account keys · kalavai-like"
    headers = page.request.get("/keys").headers
    assert "script-src 'self'" in headers["content-security-policy"]


def test_login_redirects_only_to_local_pages(api: Api, new_context: Callable[[], Any]) -> None:
    user = api.user(f"{unique('redir')}@example.org", PASSWORD)
    page = new_context().new_page()
    page.goto("/login?next=//evil.example/x")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/pools")
