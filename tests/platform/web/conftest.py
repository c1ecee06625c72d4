"""Fixtures for the web-page tests: the REAL platform on loopback and a real headless Chromium
(Debian's /usr/bin/chromium driven by Playwright; browsers are never downloaded). The `api` and
`platform_sql` fixtures of tests/platform/conftest.py work on this folder's `platform`."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.support.platform_api import TEST_SIGNUPS_PER_HOUR, Api, User, unique
from tests.support.web import CHROMIUM, PASSWORD, VIEWPORT, launch, log_in


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Any) -> Iterator[Any]:
    b = launch(playwright_driver)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def web_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """One real platform (SQLite) per test module; tests make their own users and pools."""
    data = tmp_path_factory.mktemp("web-platform")
    with start_local_platform(data, signups_per_hour=TEST_SIGNUPS_PER_HOUR) as server:
        yield server


@pytest.fixture(scope="module")
def platform(web_platform: LocalPlatform) -> LocalPlatform:
    """The page tests' platform: one per module on SQLite, not one per database backend."""
    return web_platform


@pytest.fixture
def new_context(browser: Any, web_platform: LocalPlatform) -> Iterator[Callable[[], Any]]:
    """Makes fresh browser contexts (separate cookie jars), closed after the test."""
    made: list[Any] = []

    def make() -> Any:
        ctx = browser.new_context(viewport=VIEWPORT, base_url=web_platform.url)
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_platform.url)
        made.append(ctx)
        return ctx

    try:
        yield make
    finally:
        for ctx in made:
            ctx.close()


@pytest.fixture
def logged_in(
    api: Api, new_context: Callable[[], Any]
) -> Callable[[User | None], tuple[User, Any]]:
    """A user (made through the API unless given) and a page logged in as them."""

    def make(user: User | None = None) -> tuple[User, Any]:
        user = user or api.user(f"{unique('vol')}@example.org", PASSWORD)
        page = new_context().new_page()
        log_in(page, user.email, user.password)
        return user, page

    return make
