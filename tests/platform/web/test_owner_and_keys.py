"""The pool owner's page (workers, tokens with uses and expiry, revoke, totals) and the
account keys page (shown once, listed, revoked)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from kalavai_like import tokens
from kalavai_like.platform.local import LocalPlatform
from tests.support.platform_api import Api
from tests.support.web import heartbeat, nav

pytestmark = pytest.mark.chromium


def test_owner_sees_workers_and_manages_tokens(
    api: Api, web_platform: LocalPlatform, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    owner, page = logged_in()
    pool = api.pool(owner, public=True)
    volunteer = api.user()
    joined = api.join(api.as_(volunteer.credential), owner, pool, name="worker-1", cores=8)
    counters = {"cpu_seconds": 5.0, "ram_gb_seconds": 1.0}
    heartbeat(api, joined["credential"], 1, "paused", reason="On battery", counters=counters)

    nav(page, "Community pools")
    page.get_by_role("listitem").get_by_role("link", name=pool["name"]).click()
    page.wait_for_url(f"**/pools/{pool['id']}/owner")
    row = page.get_by_role("row").filter(has_text="worker-1")
    text = row.inner_text()
    assert f"user-{volunteer.id[:8]}" in text and "@" not in text  # its display name
    assert "paused" in text.lower() and "On battery" in text and "8 cores" in text
    credit = api.as_(owner.credential).get(f"/api/v1/pools/{pool['id']}/credit").json()
    assert f"{credit['granted']['cpu_core_hours']:,.3f}" in text

    before = len(api.as_(owner.credential).get(f"/api/v1/pools/{pool['id']}/tokens").json())
    page.get_by_label("Uses").fill("3")
    page.get_by_label("Expires after").select_option(label="7 days")
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("#join-command").inner_text().split()[-1]
    parsed = tokens.validate(shown, now=time.time(), platform=web_platform.public_url)
    assert 7 * 86400 - 120 < parsed.expires_at - time.time() <= 7 * 86400
    listed = api.as_(owner.credential).get(f"/api/v1/pools/{pool['id']}/tokens").json()
    assert len(listed) == before + 1 and listed[-1]["uses"] == 3
    check = api.as_(volunteer.credential).post("/api/v1/tokens/check", json={"token": shown})
    assert check.json()["status"] == "valid"

    page.goto(f"/pools/{pool['id']}/owner")  # shown once: opening the page again hides it
    assert page.locator("#join-command").count() == 0
    token_row = page.get_by_role("row").filter(has_text="0 / 3")
    token_row.get_by_role("button", name="Revoke").click()
    # The click submits a form: wait for the new page rather than read the old one.
    expect(page.get_by_role("row").filter(has_text="0 / 3").get_by_text("revoked")).to_be_visible()
    check = api.as_(volunteer.credential).post("/api/v1/tokens/check", json={"token": shown})
    assert check.json()["status"] == "revoked"

    bad = page.request.post(
        f"/pools/{pool['id']}/tokens",
        form={"csrf": page.locator("input[name=csrf]").first.get_attribute("value"),
              "uses": "0", "expires_in": "3600"},
    )  # fmt: skip
    assert bad.status == 200 and "Uses must be 1 to 100000" in bad.text()


def test_account_keys_shown_once_listed_and_revoked(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    _user, page = logged_in()
    nav(page, "Account keys")
    page.get_by_label("Name").fill("rack-07")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    assert key.startswith("kla_")
    owner = api.user()
    pool = api.pool(owner, public=True)
    enrolled = api.redeem(api.as_(key), api.token(owner, pool)["token"])
    assert enrolled.status_code == 201, enrolled.text

    page.goto("/keys")
    assert page.locator("#new-key").count() == 0
    assert key not in page.content()
    row = page.get_by_role("row").filter(has_text="rack-07")
    assert "active" in row.inner_text() and "never" not in row.inner_text()
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row").filter(has_text="rack-07")).to_contain_text("revoked")
    again = api.redeem(api.as_(key), api.token(owner, pool)["token"])
    assert again.status_code == 401
