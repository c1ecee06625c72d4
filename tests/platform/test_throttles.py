"""Throttles on the real platform: sign-ups per client address, and failed log-ins that slow
the guesser down without locking the account's owner out.

Other loopback addresses (127.0.0.2, ...) play other client machines; the tests' usual client
is 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from kalavai_like.platform.local import start_local_platform
from tests.support.platform_api import Api, unique

WRONG = "not the password"


def _web_sign_up(url: str, source: str) -> httpx.Response:
    """Sign up through the web form (with its pre-session CSRF token), from `source`."""
    http = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=source))
    form = http.get("/signup")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    email = f"{unique('web')}@example.org"
    body = {"csrf": csrf, "email": email, "password": "password1", "password2": "password1"}
    return http.post("/signup", data=body)


def test_sign_up_is_limited_per_client_address(
    backend: str, tmp_path: Path, make_postgres_url: Callable[[], str]
) -> None:
    url = make_postgres_url() if backend == "postgres" else None
    # The platform's own default limit: 20 accounts per address per hour.
    with start_local_platform(tmp_path / "p", database_url=url) as server:
        bot, neighbour = Api(server.url, "127.0.0.2"), Api(server.url, "127.0.0.3")
        for _ in range(19):
            bot.user()
        assert _web_sign_up(server.url, "127.0.0.2").status_code == 303  # the 20th
        r = bot.http.post(
            "/api/v1/accounts", json={"email": f"{unique('bot')}@x.org", "password": "password1"}
        )
        assert r.status_code == 429
        assert r.json()["error"]["title"] == "Too many sign-ups"
        assert "20 accounts were made from your address within 1h" in r.json()["error"]["message"]
        assert 3500 < int(r.headers["Retry-After"]) <= 3600
        page = _web_sign_up(server.url, "127.0.0.2")
        assert page.status_code == 429 and int(page.headers["Retry-After"]) > 3500
        assert "accounts were made from your address" in page.text
        # Another machine signs up as usual, and the bot's accounts still log in.
        neighbour.user()
        assert _web_sign_up(server.url, "127.0.0.3").status_code == 303


def _log_in(api: Api, email: str, password: str) -> httpx.Response:
    return api.http.post("/api/v1/sessions", json={"email": email, "password": password})


def test_a_guesser_cannot_lock_the_owner_out(api: Api) -> None:
    owner = api.user()  # logs in from 127.0.0.1
    attacker = Api(api.url, "127.0.0.2")
    # Five wrong guesses are answered as such; then the guessing address must wait 30 s.
    assert [_log_in(attacker, owner.email, WRONG).status_code for _ in range(5)] == [401] * 5
    r = _log_in(attacker, owner.email, WRONG)
    assert r.status_code == 429
    assert "Your address has failed to log into this account" in r.json()["error"]["message"]
    first_wait = int(r.headers["Retry-After"])
    assert 25 <= first_wait <= 30
    # Waiting means waiting: even the right password is not checked from there (no oracle).
    assert _log_in(attacker, owner.email, owner.password).status_code == 429

    # The owner, from an address that has not been guessing, logs in as always.
    assert _log_in(api, owner.email, owner.password).status_code == 200
    # So does any other user from the attacker's address (the wait is per account).
    other = api.user()
    assert _log_in(attacker, other.email, other.password).status_code == 200

    # A second guessing machine gets one guess, then waits longer: the delay doubles.
    second = Api(api.url, "127.0.0.3")
    assert _log_in(second, owner.email, WRONG).status_code == 401
    r = _log_in(second, owner.email, WRONG)
    assert r.status_code == 429 and 55 <= int(r.headers["Retry-After"]) <= 60
    assert _log_in(api, owner.email, owner.password).status_code == 200


def test_an_address_that_guesses_at_many_accounts_is_stopped(api: Api) -> None:
    sprayer = Api(api.url, "127.0.0.4")
    codes = [
        _log_in(sprayer, f"{unique('victim')}@example.org", WRONG).status_code for _ in range(31)
    ]
    assert codes == [401] * 30 + [429]
    r = _log_in(sprayer, f"{unique('victim')}@example.org", WRONG)
    assert r.status_code == 429
    assert r.json()["error"]["message"].startswith("Your address has failed to log in too often.")
    assert 800 < int(r.headers["Retry-After"]) <= 900
    # Everyone else logs in.
    user = api.user()
    assert _log_in(api, user.email, user.password).status_code == 200


def test_an_owners_own_typos_are_forgotten_when_the_password_is_right(api: Api) -> None:
    user = api.user()
    laptop = Api(api.url, "127.0.0.5")
    for _ in range(4):
        assert _log_in(laptop, user.email, WRONG).status_code == 401
    assert _log_in(laptop, user.email, user.password).status_code == 200
    # The four typos no longer count: four more are still answered, not held up.
    assert [_log_in(laptop, user.email, WRONG).status_code for _ in range(4)] == [401] * 4


def _sign_up_as(api: Api, forwarded_for: str) -> int:
    email = f"{unique('fwd')}@example.org"
    r = api.http.post(
        "/api/v1/accounts",
        json={"email": email, "password": "password1"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return r.status_code


def test_behind_a_trusted_proxy_each_client_counts_on_its_own(tmp_path: Path) -> None:
    trusted = {"KALAVAI_LIKE_TRUSTED_PROXIES": "127.0.0.2"}
    with start_local_platform(tmp_path / "p", signups_per_hour=3, env=trusted) as server:
        proxy = Api(server.url, "127.0.0.2")
        assert [_sign_up_as(proxy, "198.51.100.7") for _ in range(4)] == [201] * 3 + [429]
        assert _sign_up_as(proxy, "198.51.100.8") == 201  # another client behind the proxy
        # Anyone else's X-Forwarded-For is ignored: a bot cannot pick a new address each time.
        bot = Api(server.url, "127.0.0.3")
        codes = [_sign_up_as(bot, f"198.51.100.{n}") for n in range(20, 24)]
        assert codes == [201] * 3 + [429]
