"""In a browser: an owner creates a pool with the form (a refusal shows next to its field and
keeps what was typed), lands on its page with the seed's commands, and a visitor without an
account reads the public page and is offered to sign up to join."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from kalavai_like.platform.local import LocalPlatform
from tests.support.platform_api import Api, User, unique

pytestmark = pytest.mark.chromium


def test_an_owner_creates_a_pool_on_the_web_and_anyone_reads_its_page(
    api: Api,
    web_platform: LocalPlatform,
    logged_in: Callable[[User | None], tuple[User, Any]],
    new_context: Callable[[], Any],
) -> None:
    taken = api.pool(api.user())["name"]
    _owner, page = logged_in(None)
    page.get_by_role("link", name="Create a pool").click()
    page.get_by_label("Name").fill(taken)
    page.get_by_label("What it computes").fill("Climate ensembles")
    page.get_by_label("Who runs it").fill("The Example Lab")
    page.get_by_label("Description").fill("Each run is one member of the ensemble.")
    page.get_by_label("Public", exact=False).check()
    page.get_by_role("button", name="Create the pool").click()
    error = page.locator("#name-error")
    assert "Pool name taken" in error.inner_text()
    assert page.get_by_label("Name").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("What it computes").input_value() == "Climate ensembles"

    name = unique("climate")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create the pool").click()
    page.wait_for_url(re.compile(r".*/pools/[0-9a-f]{32}$"))
    assert page.locator("#pool-state").inner_text() == "Not running yet"
    start = page.locator("#start")
    assert f"kalavai-like pool start {name} --endpoint SEED_ADDRESS:51820" in start.inner_text()
    address = page.url

    visitor = new_context().new_page()
    visitor.goto(address)
    assert visitor.get_by_role("heading", name=name).is_visible()
    assert visitor.get_by_text("Climate ensembles").is_visible()
    assert visitor.get_by_text("Run by The Example Lab").is_visible()
    visitor.get_by_role("link", name="Sign up to join").click()
    visitor.wait_for_url(re.compile(r".*/signup$"))
