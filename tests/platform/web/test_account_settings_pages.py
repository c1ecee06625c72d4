"""The account settings in a real browser: sign-up with a display name, changing it on the
Account page, deleting the account, and the log-in page's way to a password reset."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.platform_api import Api, unique
from tests.support.web import PASSWORD, nav, sign_up

pytestmark = pytest.mark.chromium


def test_sign_up_name_then_change_it(api: Api, new_context: Callable[[], Any]) -> None:
    page = new_context().new_page()
    email = f"{unique('named')}@example.org"
    sign_up(page, email, name="Browser Bea")
    nav(page, "My account")
    field = page.get_by_role("textbox", name="Display name")
    expect(field).to_have_value("Browser Bea")
    field.fill("Bea B.")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status")).to_have_text("Display name changed.")
    assert api.log_in(email, PASSWORD).get("/api/v1/me").json()["display_name"] == "Bea B."


def test_delete_account_from_the_account_page(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    user, page = logged_in()
    nav(page, "My account")
    form = page.locator("form[action='/account/delete']")
    form.get_by_label("Password").fill("not my password")
    form.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("alert")).to_have_text("The password is not right.")
    form = page.locator("form[action='/account/delete']")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(re.compile(r".*/login\?done=deleted$"))
    expect(page.get_by_role("status")).to_have_text("Your account is deleted.")
    r = api.http.post("/api/v1/sessions", json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 401


def test_forgot_password_without_email_says_whom_to_ask(new_context: Callable[[], Any]) -> None:
    page = new_context().new_page()
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.wait_for_url(re.compile(r".*/reset$"))
    expect(page.locator("main")).to_contain_text("sends no email")
    expect(page.locator("main")).to_contain_text("kalavai-like platform reset-link")
