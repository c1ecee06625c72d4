"""The web pages as a person uses them in the tests: Debian's headless Chromium (driven by
Playwright, browsers never downloaded), signing up and logging in through the forms, the main
navigation, the Join button's copied command, heartbeats as a device sends them, and seeded
past days of contribution."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.platform_api import Api

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


def launch(driver: Any, extra_args: list[str] | None = None) -> Any:
    return driver.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *(extra_args or [])]
    )


def sign_up(page: Any, email: str, password: str = PASSWORD, name: str = "") -> None:
    """Sign up through the form, as a person would (display name: `name`, else the email's
    local part); ends on the community pools page."""
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name or email.split("@")[0])
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
    target = Path(os.environ.get("KALAVAI_LIKE_SCREENSHOTS") or default)
    target.mkdir(parents=True, exist_ok=True)
    return target


def click_join_and_copy(page: Any, pool_name: str) -> str:
    """On the community page: Join the pool, press Copy, and return the clipboard's text."""
    nav(page, "Community pools")
    row = page.get_by_role("row").filter(has_text=pool_name)
    row.get_by_role("button", name="Join").click()
    page.wait_for_url(re.compile(r".*/join$"))
    copy = page.get_by_role("button", name="Copy")
    copy.click()
    page.wait_for_function("document.querySelector('button.copy').textContent === 'Copied'")
    copied = str(page.evaluate("navigator.clipboard.readText()"))
    assert copied == page.locator("#join-command").inner_text().strip()
    return copied


def seed_history(
    sql: Callable[[str, dict[str, object]], None], device: dict[str, Any], user_id: str, days: int
) -> None:
    """Past days of granted (witnessed) usage for a device, as heartbeats and witness reports on
    those days would have left them: per-day rows, the device's totals and its recent average
    (the only way to have a 30-day past in a test). Call it before the device's first
    heartbeat."""
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
        "UPDATE devices SET created_at = :first, base_at = :first,"
        " granted_cpu = granted_cpu + :cpu, measured_cpu = measured_cpu + :cpu,"
        " granted_ram = granted_ram + :ram, measured_ram = measured_ram + :ram,"
        " claimed_cpu = claimed_cpu + :cpu, claimed_ram = claimed_ram + :ram,"
        " credit = credit + :credit,"
        " measured_credit = measured_credit + :credit, recent_avg = :avg,"
        " std_recent_avg = :avg, recent_avg_time = :avg_time WHERE id = :d",
        {"d": device["id"], "first": first, "cpu": cpu_sum, "ram": ram_sum,
         "credit": credit_sum, "avg": avg, "avg_time": avg_time},
    )  # fmt: skip
