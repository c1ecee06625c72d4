"""The owner's page in a browser: a labelled token created from the form, a worker's Remove and
its user's Ban and Unban buttons, and the notices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.platform_api import Api

pytestmark = pytest.mark.chromium


def test_owner_labels_a_token_removes_and_bans_from_the_page(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    owner, page = logged_in()
    pool = api.pool(owner, public=True)
    volunteer = api.user()
    red = api.join(api.as_(volunteer.credential), owner, pool, name="ana-box")
    worked = {"seq": 1, "state": "running"}  # a worker that worked stays listed once removed
    assert api.as_(red["credential"]).post("/api/v1/device/heartbeat", json=worked).is_success
    page.goto(f"/pools/{pool['id']}/owner")

    page.get_by_label("Label").fill("for Ana")
    page.get_by_role("button", name="Create token").click()
    row = page.get_by_role("row").filter(has_text="for Ana")
    expect(row).to_be_visible()
    made = [t for t in owner.get(f"/api/v1/pools/{pool['id']}/tokens").json()
            if t["label"] == "for Ana"]  # fmt: skip
    expect(row).to_contain_text(made[0]["id"])

    page.get_by_role("button", name="Remove ana-box").click()
    expect(page.get_by_role("status")).to_contain_text("Worker removed")
    beat = {"seq": 2, "state": "running"}
    reply = api.as_(red["credential"]).post("/api/v1/device/heartbeat", json=beat).json()
    assert reply["desired_state"] == "removed"

    page.get_by_role("button", name="Ban the user of ana-box").click()
    expect(page.get_by_role("status")).to_contain_text("User banned")
    refused = api.redeem(volunteer, api.token(owner, pool)["token"])
    assert refused.status_code == 403 and refused.json()["error"]["reason"] == "banned"
    page.get_by_role("button", name="Unban").click()
    expect(page.get_by_role("status")).to_contain_text("User unbanned")
    expect(page.get_by_text("Nobody is banned from this pool.")).to_be_visible()
