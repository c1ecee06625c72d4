"""The Account page in a real browser: where you are logged in (log any session out from
here), and the password change that logs every other session out."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.platform_api import Api
from tests.support.web import PASSWORD, nav

pytestmark = pytest.mark.chromium


def test_account_page_lists_sessions_and_logs_one_out(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    user, page = logged_in()  # `user` has an API session too (the CLI's, say)
    laptop = api.log_in(user.email, PASSWORD, {"User-Agent": "kalavai-like/9.9 (laptop)"})
    nav(page, "My account")
    rows = page.get_by_role("row").filter(has=page.get_by_role("button", name="Log out"))
    expect(rows).to_have_count(3)
    this = rows.filter(has_text="this one")
    expect(this).to_contain_text("Browser")
    expect(this).to_contain_text("127.0.0.1")
    laptop_row = rows.filter(has_text="kalavai-like/9.9 (laptop)")
    expect(laptop_row).to_contain_text("CLI or app")

    laptop_row.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("Session logged out.")
    expect(rows).to_have_count(2)
    assert laptop.get("/api/v1/me").status_code == 401
    assert user.get("/api/v1/me").status_code == 200

    # Logging this browser's own session out from the list logs the browser out.
    rows.filter(has_text="this one").get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    assert page.goto("/account").url.endswith("/login?next=/account")


def test_password_change_logs_out_every_other_session(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    user, page = logged_in()
    nav(page, "My account")
    form = page.locator("form[action='/account/password']")

    def change(current: str, new: str, again: str) -> None:
        form.get_by_label("Current password").fill(current)
        form.get_by_label(re.compile(r"^New password \(")).fill(new)
        form.get_by_label("New password again").fill(again)
        form.get_by_role("button", name="Change password").click()

    change(PASSWORD, "brand new password", "brand new passwort")
    expect(page.get_by_role("alert")).to_have_text("The two new passwords differ.")
    change("not my password", "brand new password", "brand new password")
    expect(page.get_by_role("alert")).to_have_text("The current password is not right.")
    assert user.get("/api/v1/me").status_code == 200  # nothing changed yet

    change(PASSWORD, "brand new password", "brand new password")
    expect(page.get_by_role("status")).to_contain_text("Every other session was logged out.")
    assert user.get("/api/v1/me").status_code == 401  # the API session is gone
    page.goto("/devices")
    assert page.url.endswith("/devices")  # this browser stays logged in
    api.log_in(user.email, "brand new password")
