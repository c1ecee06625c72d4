"""BOINC pools through the real binaries: a volunteer's `pool join` starts the real BOINC
client, which attaches to the stand-in project (by URL and weak key, or through its account
manager), downloads the workunit, runs, uploads and reports it. `pool status` and `/metrics`
show the task while it runs and the host credit after; the task survives an agent crash and
its container being lost; `pool stop --finish` reports the running task before leaving; an
unreachable project says so; the seed's witness carries the project's host credit and the
volunteer's granted credit follows it."""

from __future__ import annotations

import signal
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kalavai_like.devtools import system
from tests.e2e.boinc.conftest import KEY, Boinc
from tests.support import boinc_pool
from tests.support.boinc_project import CREDIT_PER_RESULT
from tests.support.simulator import needs_root_tools, runtime, set_agent
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip


def metrics(b: Boinc, vol: str) -> dict[tuple[str, str], float]:
    """`vol`'s /metrics, parsed: (name, task or project label) -> value."""
    with urllib.request.urlopen(f"http://{b.host(vol).address}:9464/metrics", timeout=5) as r:
        text = r.read().decode()
    return {
        (s.name, s.labels.get("task") or s.labels.get("project", "")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_a_volunteer_runs_the_projects_task_through_a_crash_and_is_credited(b: Boinc) -> None:
    v1 = b.host("v1")
    b.sim.kill_agent(v1)
    set_agent(v1, metrics=f"{v1.address}:9464")
    b.sim.start_agent(v1)
    b.join("v1")
    task = wait_for(lambda: b.running("v1"), timeout=180, what="the first task running")
    assert task["name"] == "kn_wu_1_0" and task["project_url"] == boinc_pool.URL
    human = b.sim.cli(v1, "pool", "status").stdout
    assert "kn_wu_1_0: running" in human, human
    m = metrics(b, "v1")
    assert 0 < m[("kalavai_like_boinc_task_fraction_done", "kn_wu_1_0")] < 1
    assert m[("kalavai_like_boinc_task_deadline_timestamp_seconds", "kn_wu_1_0")] > 0
    assert m[("kalavai_like_boinc_project_unreachable", boinc_pool.URL)] == 0
    # The agent crashes and the machine loses its containers, as in a reboot: the task goes on.
    b.sim.kill_agent(v1, signal.SIGKILL)
    runtime().remove(f"{v1.node_prefix}-wk")
    b.sim.start_agent(v1)
    again = wait_for(lambda: b.running("v1"), timeout=120, what="the task running again")
    assert again["name"] == task["name"] and again["fraction_done"] >= task["fraction_done"]
    wait_for(lambda: b.project.reported == ["kn_wu_1_0"], timeout=120, what="the result reported")
    assert b.project.sent == ["kn_wu_1_0"]  # the same task, not fetched again
    credited = wait_for(
        lambda: next((p for p in b.boinc("v1")["projects"] if p["host_total_credit"]), None),
        timeout=60, what="the host credit in the client's state")  # fmt: skip
    assert credited["host_total_credit"] == CREDIT_PER_RESULT
    assert f"host credit {CREDIT_PER_RESULT:g}" in b.sim.cli(v1, "pool", "status").stdout
    assert metrics(b, "v1")[("kalavai_like_boinc_host_credit", boinc_pool.URL)] == CREDIT_PER_RESULT
    # The seed reads the project's host credit as the witness; the granted credit follows it.
    seen = wait_for(lambda: (d := b.device("v1"))["witnessed"]["compute_seconds"] > 0 and d,
                    timeout=90, what="the project's credit witnessed")  # fmt: skip
    assert seen["witnessed"]["tasks"] == 0  # the project does not say how many
    wait_for(lambda: b.device("v1")["totals"]["credit"] > 0, timeout=90, what="credit granted")
    b.sim.cli(v1, "pool", "stop")  # its client asks for no more of the project's work


def test_a_volunteer_attaches_through_the_account_manager(b: Boinc) -> None:
    with b.project.lock:
        b.project.work += 1
    b.join("v2", b.fresh_token("amseed"))
    task = wait_for(lambda: b.running("v2"), timeout=180, what="a task running")
    st = b.boinc("v2")
    assert st["account_manager"] == boinc_pool.AM_URL and b.project.am_requests >= 1
    assert st["projects"][0]["via_account_manager"] and task["project_url"] == boinc_pool.URL
    human = b.sim.cli(b.host("v2"), "pool", "status").stdout
    assert any("Account manager" in ln and boinc_pool.AM_URL in ln for ln in human.splitlines())
    wait_for(lambda: task["name"] in b.project.reported, timeout=120, what="its result reported")
    # The seed asks the account manager for the project and its key, and reads the credit.
    wait_for(lambda: b.device("v2", "amseed")["witnessed"]["compute_seconds"] > 0,
             timeout=90, what="the project's credit witnessed through the manager")  # fmt: skip
    # The pool's secrets reach neither a command line, nor a log, nor the volunteer's status.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    seen = ps + b.sim.cli(b.host("v2"), "pool", "status", "--json").stdout
    seen += "".join((b.host(h).home / "agent.out").read_text() for h in ("amseed", "v2"))
    seen += runtime().logs(f"{b.host('v2').node_prefix}-wk", tail=500)
    assert b.project.am_password not in seen and KEY not in seen
    b.sim.cli(b.host("v2"), "pool", "stop")


def test_finishing_reports_the_running_task_then_leaves(b: Boinc) -> None:
    with b.project.lock:
        b.project.work += 3  # more work than the one task the client fetches
    b.join("v3")
    task = wait_for(lambda: b.running("v3"), timeout=180, what="a task running")
    host = b.project.host_named(b.worker("v3")["device_id"])
    out = b.sim.cli(b.host("v3"), "pool", "stop", "--finish").stdout
    assert out.startswith("Finishing: no new work"), out
    with b.project.lock:
        sent = list(host.sent)  # what v3's client has when it is told to finish
    status = b.sim.cli_json(b.host("v3"), "pool", "status")
    assert status["state"] == "running" and status["reason"].startswith("finishing"), status
    wait_for(lambda: not b.worker("v3"), timeout=180, what="v3 out of the pool")
    assert task["name"] in sent and set(sent) <= set(b.project.reported)  # all reported
    assert host.sent == sent  # and nothing new fetched while finishing
    assert system.containers(b.host("v3").node_prefix) == []  # its worker is gone


def test_an_unreachable_project_is_shown_with_its_last_try(b: Boinc) -> None:
    b.project.online = False
    try:
        b.join("v4")
        line = wait_for(
            lambda: next((ln for ln in b.sim.cli(b.host("v4"), "pool", "status").stdout
                          .splitlines() if "project unreachable" in ln), None),
            timeout=120, what="the project shown unreachable")  # fmt: skip
        assert "last try 20" in line, line
    finally:
        b.project.online = True
