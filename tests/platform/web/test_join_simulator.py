"""End to end from the web page: a new volunteer signs up, clicks Join on a community pool,
copies the command, and that exact command, run by `kalavai-like pool join` on a simulated
host, joins the pool (real platform, agents, namespaces, wireguard-go and podman). Then the
devices page shows a pause made with the CLI, and Pause/Resume on the page reach the agent.

Everything is named `klw...` and removed by name/PID at the end, even on failure."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kalavai_like.devtools.simulator import PASSWORD, Simulator
from tests.support.simulator import needs_root_tools, simulated
from tests.support.waiting import wait_for
from tests.support.web import VIEWPORT, click_join_and_copy, launch, nav, sign_up

PREFIX = "klw"
pytestmark = [
    pytest.mark.chromium,
    pytest.mark.e2e,
    pytest.mark.netns,
    pytest.mark.podman,
    pytest.mark.slow,
    needs_root_tools(),
]


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run `fn` off this thread: Playwright's sync API keeps an asyncio loop running here,
    and the overlay's netlink calls (pyroute2) need to run their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def _start(sim: Simulator) -> None:
    """A platform and a seed running a public dask pool, plus an empty volunteer host."""
    sim.start_network()
    seed, vol = sim.add_host("seed"), sim.add_host("vol")
    sim.start_platform()
    sim.save()
    sim.start_agent(seed)
    sim.signup(seed)
    sim.cli(seed, "pool", "start", "web-demo", "--template", "dask", "--public",
            "--endpoint", f"{seed.address}:51820")  # fmt: skip
    sim.start_agent(vol)
    sim.save()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    settings = {"sample_interval": 1.0, "heartbeat_interval": 1.0}
    with simulated(PREFIX, settings, _start, run=in_thread) as s:
        yield s


def test_copied_join_command_joins_in_the_simulator(sim: Simulator, playwright_driver: Any) -> None:
    url = str(sim.platform.url)
    vol = sim.hosts["vol"]
    # The platform sits on the simulator's bridge (plain http, not loopback): let the page
    # use the async clipboard there as it would on an https platform.
    browser = launch(playwright_driver, [f"--unsafely-treat-insecure-origin-as-secure={url}"])
    try:
        ctx = browser.new_context(viewport=VIEWPORT, base_url=url)
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        page = ctx.new_page()
        sign_up(page, vol.email, PASSWORD)
        command = click_join_and_copy(page, "web-demo")

        # The volunteer's machine logs in with the same account and runs the copied command.
        sim.cli(vol, "login", "--email", vol.email, "--password-stdin", input=PASSWORD + "\n")
        argv = shlex.split(command)
        assert argv[:3] == ["kalavai-like", "pool", "join"]
        out = sim.cli(vol, *argv[1:])
        assert "Joined 'web-demo'" in out.stdout + out.stderr
        status = sim.client(vol).status()
        assert status.state == "running" and status.worker.pool_name == "web-demo"

        def page_state() -> str:
            page.reload()
            card = page.locator("article.device").filter(has_text="web-demo")
            return str(card.locator("[data-state]").get_attribute("data-state"))

        nav(page, "My devices")
        wait_for(
            lambda: page_state() == "running", timeout=30, what="the page shows the device running"
        )
        assert page.get_by_text(status.worker.address).is_visible()

        # Paused with the CLI on the machine: the page shows it paused.
        sim.cli(vol, "pool", "pause")
        wait_for(
            lambda: page_state() == "paused", timeout=30, what="the page shows the CLI's pause"
        )
        sim.cli(vol, "pool", "resume")
        wait_for(lambda: page_state() == "running", timeout=30, what="the page shows the resume")

        # Paused from the page: the agent learns it from its next heartbeat and pauses.
        page.get_by_role("button", name=re.compile("^Pause")).click()
        wait_for(
            lambda: sim.client(vol).status().state == "paused", timeout=30, what="the agent pauses"
        )
        wait_for(
            lambda: page_state() == "paused", timeout=30, what="the page shows the device paused"
        )
        page.get_by_role("button", name=re.compile("^Resume")).click()
        wait_for(
            lambda: sim.client(vol).status().state == "running",
            timeout=30,
            what="the agent resumes",
        )
    finally:
        browser.close()
