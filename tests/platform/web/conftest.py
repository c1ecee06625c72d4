"""Fixtures for the web-page tests: the REAL platform on loopback and a real headless Chromium
(Debian's /usr/bin/chromium driven by Playwright; browsers are never downloaded)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from tests.platform.client import Api, User, unique

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/setup)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def launch(driver: Any, extra_args: list[str] | None = None) -> Any:
    return driver.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *(extra_args or [])]
    )


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
    with start_local_platform(tmp_path_factory.mktemp("web-platform")) as server:
        yield server


@pytest.fixture
def api(web_platform: LocalPlatform) -> Api:
    return Api(web_platform.url)


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


def sign_up(page: Any, email: str, password: str = PASSWORD) -> None:
    """Sign up through the form, as a person would; ends on the community pools page."""
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=False).first.fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/pools$"))


def log_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/pools$"))


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


def nav(page: Any, label: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()
    page.wait_for_load_state()


def form_csrf(page: Any) -> str:
    """The CSRF token of the page's forms (what a same-origin form would send)."""
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def heartbeat(api: Api, credential: str, seq: int, state: str, **fields: Any) -> dict[str, Any]:
    """One heartbeat with the device credential over HTTP, as the agent sends it."""
    r = api.as_(credential).post(
        "/api/v1/device/heartbeat", json={"seq": seq, "state": state, **fields}
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def screenshot_dir(default: Path) -> Path:
    """Where page screenshots go: $KALAVAI_LIKE_SCREENSHOTS (docs/screenshots) or `default`."""
    import os

    target = Path(os.environ.get("KALAVAI_LIKE_SCREENSHOTS") or default)
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def platform_sql(web_platform: LocalPlatform) -> Iterator[Callable[[str, dict[str, object]], None]]:
    """Run a SQL statement on the platform's own database (to seed history, for example)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{web_platform.data_dir / 'platform.sqlite3'}")

    def run(sql: str, params: dict[str, object]) -> None:
        with engine.begin() as conn:
            conn.execute(text(sql), params)

    try:
        yield run
    finally:
        engine.dispose()


def seed_history(
    sql: Callable[[str, dict[str, object]], None], device: dict[str, Any], user_id: str, days: int
) -> None:
    """Past days of granted usage for a device, as heartbeats on those days would have left
    them: per-day rows, the device's totals and its recent average (the only way to have a
    30-day past in a test). Call it before the device's first heartbeat."""
    from datetime import UTC, datetime, time, timedelta

    from kalavai_like.platform import credit

    today = datetime.now(UTC).date()
    first = datetime.combine(today - timedelta(days=days + 1), time(), UTC).timestamp()
    cpu_sum = ram_sum = credit_sum = avg = avg_time = 0.0
    for back in range(days, 0, -1):
        if back % 4 == 0:
            continue  # a day the machine was off
        day = today - timedelta(days=back)
        cpu = 3600.0 * (1.5 + (back % 5) * 0.6)
        ram = cpu * 2
        granted = credit.Weights(1.0, 0.1, 10.0).credit(cpu, ram, 0.0)
        sql(
            "INSERT INTO usage_days (device_id, day, user_id, pool_id, cpu, ram, gpu, credit,"
            " clamped_cpu, clamped_ram, clamped_gpu)"
            " VALUES (:d, :day, :u, :p, :cpu, :ram, 0, :credit, 0, 0, 0)",
            {"d": device["id"], "day": day.isoformat(), "u": user_id, "p": device["pool_id"],
             "cpu": cpu, "ram": ram, "credit": granted},
        )  # fmt: skip
        noon = datetime.combine(day, time(12), UTC).timestamp()
        avg, avg_time = credit.update_average(noon, first, granted, avg, avg_time)
        cpu_sum, ram_sum, credit_sum = cpu_sum + cpu, ram_sum + ram, credit_sum + granted
    sql(
        "UPDATE devices SET created_at = :first, granted_cpu = granted_cpu + :cpu,"
        " measured_cpu = measured_cpu + :cpu, granted_ram = granted_ram + :ram,"
        " measured_ram = measured_ram + :ram, credit = credit + :credit,"
        " measured_credit = measured_credit + :credit, recent_avg = :avg,"
        " recent_avg_time = :avg_time WHERE id = :d",
        {"d": device["id"], "first": first, "cpu": cpu_sum, "ram": ram_sum,
         "credit": credit_sum, "avg": avg, "avg_time": avg_time},
    )  # fmt: skip
