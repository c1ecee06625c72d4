"""Password reset by email, against a local SMTP server (aiosmtpd) the platform is set to use:
the link arrives, sets a new password once, and logs every session out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.message import Message

import pytest

from tests.support.platform_api import Api
from tests.support.smtp import Inbox, local_smtp
from tests.support.waiting import wait_for


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    pytest.importorskip("aiosmtpd")  # a test dependency (pyproject's dev extra)
    with local_smtp() as served:
        yield served


def _link(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"https?://\S+/reset\?token=(\S+)", body.decode())
    assert found, body
    return found.group(1)


def test_reset_link_by_email_sets_a_new_password_once(
    tuned_platform: Callable[..., Api], inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    api = tuned_platform(smtp_host="127.0.0.1", smtp_port=port, smtp_from="platform@example.org")
    user = api.user()
    ask = api.anon().post("/api/v1/password-resets", json={"email": "nobody@example.org"})
    assert ask.status_code == 202  # the same answer for an unknown address
    ask = api.anon().post("/api/v1/password-resets", json={"email": user.email.upper()})
    assert ask.status_code == 202
    mails = wait_for(lambda: box.to(user.email), what="the reset email")
    assert box.to("nobody@example.org") == []
    assert mails[0]["From"] == "platform@example.org"
    token = _link(mails[0])

    confirm = api.anon().post(
        "/api/v1/password-resets/confirm", json={"token": token, "new_password": "short"}
    )
    assert confirm.status_code == 422
    confirm = api.anon().post(
        "/api/v1/password-resets/confirm", json={"token": token, "new_password": "a new secret"}
    )
    assert confirm.status_code == 204
    assert user.get("/api/v1/me").status_code == 401  # every session ended
    api.log_in(user.email, "a new secret")
    old = api.anon().post("/api/v1/sessions", json={"email": user.email, "password": user.password})
    assert old.status_code == 401
    again = api.anon().post(
        "/api/v1/password-resets/confirm", json={"token": token, "new_password": "yet another"}
    )
    assert again.status_code == 400
    assert "used already" in again.json()["error"]["message"]
    # Ten asks an hour from one address (two above): reset emails cannot mail strangers at will.
    for _ in range(8):
        ask = api.anon().post("/api/v1/password-resets", json={"email": "x@example.org"})
        assert ask.status_code == 202
    ask = api.anon().post("/api/v1/password-resets", json={"email": "x@example.org"})
    assert ask.status_code == 429 and "Retry-After" in ask.headers


def test_without_smtp_the_platform_says_to_ask_the_operator(api: Api) -> None:
    user = api.user()
    r = api.anon().post("/api/v1/password-resets", json={"email": user.email})
    assert r.status_code == 409
    assert "operator" in r.json()["error"]["message"]
