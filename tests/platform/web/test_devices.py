"""My devices: a device that reports itself paused shows as paused (with why), and Pause,
Resume and Remove on the page reach the device through its next heartbeat's reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.platform_api import Api
from tests.support.web import heartbeat, nav

pytestmark = pytest.mark.chromium


def card(page: Any, name: str) -> Any:
    return page.locator("article.device").filter(has_text=name)


def state_of(page: Any, name: str) -> str:
    return str(card(page, name).locator("[data-state]").get_attribute("data-state"))


def test_paused_device_shows_paused_and_page_pause_reaches_device(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    user, page = logged_in()
    pool, joined = api.join_public(user, name="desk", cores=4)
    cred = joined["credential"]

    # The agent reports a pause the volunteer made on the machine (CLI or tray).
    assert heartbeat(api, cred, 1, "paused", reason="Paused by you for 1 h")["desired_state"] == (
        "running"
    )
    nav(page, "My devices")
    assert state_of(page, "desk") == "paused"
    assert card(page, "desk").get_by_text("Paused by you for 1 h").is_visible()
    assert card(page, "desk").get_by_text(pool["name"]).is_visible()
    assert card(page, "desk").get_by_text(joined["device"]["address"]).is_visible()

    heartbeat(api, cred, 2, "running")
    page.reload()
    assert state_of(page, "desk") == "running"

    # Pause from the page: the device learns it from the reply to its next heartbeat.
    card(page, "desk").get_by_role("button", name="Pause").click()
    assert page.get_by_role("status").inner_text().startswith("Pause requested")
    assert card(page, "desk").locator("[data-desired=paused]").is_visible()
    assert heartbeat(api, cred, 3, "running")["desired_state"] == "paused"
    heartbeat(api, cred, 4, "paused", reason="Paused from the platform")
    page.reload()
    assert state_of(page, "desk") == "paused"

    card(page, "desk").get_by_role("button", name="Resume").click()
    assert heartbeat(api, cred, 5, "paused")["desired_state"] == "running"
    listed = api.as_(user.credential).get("/api/v1/devices").json()
    assert [d["desired_state"] for d in listed] == ["running"]

    # Remove: the device's credential stops working and it moves to the removed list.
    card(page, "desk").get_by_role("button", name="Remove").click()
    assert page.get_by_role("status").inner_text() == "Device removed from its pool."
    assert card(page, "desk").count() == 0
    assert page.locator("main li").filter(has_text="desk").is_visible()
    r = api.as_(cred).post("/api/v1/device/heartbeat", json={"seq": 6, "state": "running"})
    assert r.status_code == 401


def test_a_resume_on_the_machine_clears_pause_requested(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    user, page = logged_in()
    _, joined = api.join_public(user, name="den")
    cred = joined["credential"]
    heartbeat(api, cred, 1, "running")
    nav(page, "My devices")
    card(page, "den").get_by_role("button", name="Pause").click()
    assert card(page, "den").locator("[data-desired=paused]").is_visible()
    assert heartbeat(api, cred, 2, "running")["desired_state"] == "paused"
    heartbeat(api, cred, 3, "paused", reason="Paused from the platform")
    # `pool resume` on the machine: the agent withdraws the web's pause, then reports running.
    assert api.as_(cred).post("/api/v1/device/resumed").status_code == 200
    heartbeat(api, cred, 4, "running")
    page.reload()
    assert state_of(page, "den") == "running"
    assert card(page, "den").locator("[data-desired=paused]").count() == 0
    assert card(page, "den").get_by_role("button", name="Pause").is_visible()


def test_devices_page_escapes_what_devices_report(
    api: Api, logged_in: Callable[..., tuple[Any, Any]]
) -> None:
    user, page = logged_in()
    _, joined = api.join_public(user, name="box")
    evil = '<img src=x onerror="document.title=1"><script>document.title=2</script>'
    heartbeat(api, joined["credential"], 1, "error", reason=evil)
    nav(page, "My devices")
    assert card(page, "box").locator(".reason").inner_text() == evil
    assert card(page, "box").locator("img, script").count() == 0
    assert page.title() == "My devices · kalavai-like"
