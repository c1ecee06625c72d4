"""The real BOINC client, in the boinc image with its data on a host directory, against the
stand-in project (tests/support/boinc_project.py) served in a network namespace this test
makes: it attaches with the weak key, downloads the workunit, runs it, uploads, reports, and
the host credit the project grants is in its state; its data survives the container."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalavai_like.container import ContainerRuntime, Limits
from kalavai_like.container.templates import render
from kalavai_like.usage.boinc import read_state
from tests.support.boinc_project import CREDIT_PER_RESULT, Project, install_app, served_in_netns
from tests.support.containers import engine
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.podman, pytest.mark.usefixtures("built_images")]
KEY = "1_" + "a" * 32


@pytest.fixture
def name_prefix() -> str:
    return "kn3-"


@dataclasses.dataclass
class Served:
    project: Project
    netns: str


@pytest.fixture
def served() -> Iterator[Served]:
    netns = f"kn3-b{uuid.uuid4().hex[:6]}"
    with served_in_netns(netns, KEY) as project:
        yield Served(project, netns)


def _client(podman: ContainerRuntime, name: str, data: Path, s: Served, attach: str = "key"):  # type: ignore[no-untyped-def]
    p = s.project
    params = {"project_url": p.base, "weak_key": KEY} if attach == "key" else {
        "account_manager_url": p.base.replace("/kn/", "/am/"),
        "account_manager_user": p.am_user, "account_manager_password": p.am_password,
    }  # fmt: skip
    spec = render(
        "boinc", {**params, "gui_rpc_password": "pw"},
        membership_id=name, limits=Limits(cpus=1, memory_bytes=256 * 2**20),
        head_address=None, netns_path=f"/run/netns/{s.netns}",
    )  # fmt: skip
    env = {**spec.env, "BOINC_SKIP_BENCHMARKS": "1"}
    return podman.run(dataclasses.replace(spec, name=name, data_volume=str(data), env=env))


def _wait(podman: ContainerRuntime, name: str, cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    try:
        wait_for(cond, timeout, what, interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{podman.logs(name, tail=60)}") from None


@pytest.mark.parametrize("attach", ["key", "account manager"])
def test_the_real_client_runs_a_workunit_and_the_host_is_credited(  # type: ignore[no-untyped-def]
    podman: ContainerRuntime, names, served: Served, tmp_path: Path, attach: str
) -> None:
    data = tmp_path / "data"
    install_app(data / "boinc", served.project.base)
    name = names("boinc")
    _client(podman, name, data, served, attach)
    p = served.project

    def running() -> bool:
        st = read_state(data / "boinc")
        return any(t.state == "running" and t.fraction_done > 0 for t in st.tasks)

    _wait(podman, name, running, 120, "a task running")
    st = read_state(data / "boinc")
    (task,) = st.tasks
    assert task.name == "kn_wu_1_0" and task.project_url == p.base
    if attach == "account manager":
        assert st.account_manager == p.base.replace("/kn/", "/am/") and p.am_requests >= 1
        assert st.projects[0].via_account_manager
        inspect = engine(podman.config, "inspect", name).stdout
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert p.am_password not in inspect + ps + podman.logs(name, tail=200)
    _wait(podman, name, lambda: p.reported == ["kn_wu_1_0"], 120, "the result reported")
    assert p.uploads["kn_wu_1_0_r0"] == b"counted to 20\n"
    # the project knows this host by the container's name: the device id on a real node
    assert [h.domain_name for h in p.hosts.values()] == [name]

    def credited() -> bool:
        return read_state(data / "boinc").projects[0].host_total_credit == CREDIT_PER_RESULT

    _wait(podman, name, credited, 60, "the host credit in the client's state")
    engine(podman.config, "rm", "-f", "-t", "0", name)
    assert read_state(data / "boinc").projects[0].host_total_credit == CREDIT_PER_RESULT


def test_a_task_survives_its_container_being_replaced(  # type: ignore[no-untyped-def]
    podman: ContainerRuntime, names, served: Served, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    install_app(data / "boinc", served.project.base)
    name = names("boinc")
    _client(podman, name, data, served)

    def progress() -> float:
        tasks = [t for t in read_state(data / "boinc").tasks if t.state == "running"]
        return tasks[0].fraction_done if tasks else 0.0

    _wait(podman, name, lambda: progress() >= 0.3, 120, "the task 30% done")
    engine(podman.config, "rm", "-f", "-t", "0", name)  # agent restart with a new spec, reboot
    before = read_state(data / "boinc", rpc=False).tasks[0]
    _client(podman, name, data, served)
    _wait(podman, name, lambda: progress() > 0, 60, "the task running again")
    (task,) = read_state(data / "boinc").tasks
    assert task.name == before.name and task.fraction_done >= before.fraction_done > 0
    _wait(podman, name, lambda: served.project.reported == ["kn_wu_1_0"], 120, "the result")
    assert served.project.sent == ["kn_wu_1_0"]  # the same task, not fetched again


def test_finishing_reports_the_running_task_then_detaches(  # type: ignore[no-untyped-def]
    podman: ContainerRuntime, names, served: Served, tmp_path: Path
) -> None:
    from kalavai_like.usage.boinc_rpc import detach_when_done

    data = tmp_path / "data"
    install_app(data / "boinc", served.project.base)
    served.project.work = 5  # the project has more work than the one task
    name = names("boinc")
    _client(podman, name, data, served)

    def running() -> bool:
        return any(t.state == "running" for t in read_state(data / "boinc").tasks)

    _wait(podman, name, running, 120, "a task running")
    assert detach_when_done(data / "boinc") == [served.project.base]
    with served.project.lock:
        sent = list(served.project.sent)  # what the client has when told to finish
    st = read_state(data / "boinc")
    assert st.projects[0].no_more_work and st.projects[0].detach_when_done
    _wait(podman, name, lambda: not read_state(data / "boinc").projects, 120, "detached")
    assert served.project.sent == sent  # no new work fetched
    assert sorted(served.project.reported) == sorted(sent)  # and all of it reported
    assert read_state(data / "boinc").tasks == []


def test_a_failed_download_and_a_project_down_are_shown_as_such(  # type: ignore[no-untyped-def]
    podman: ContainerRuntime, names, served: Served, tmp_path: Path
) -> None:
    from kalavai_like.usage.boinc import boinc_conditions

    data = tmp_path / "data"
    install_app(data / "boinc", served.project.base)
    p = served.project
    p.missing_input = True
    name = names("boinc")
    _client(podman, name, data, served)
    _wait(podman, name, lambda: p.sent, 120, "the workunit sent")
    p.maintenance = True  # so the failed task is not acknowledged: it stays to be seen

    def failed() -> bool:
        return [t.state for t in read_state(data / "boinc").tasks] == ["download failed"]

    _wait(podman, name, failed, 120, "the task's download failed")
    _wait(podman, name, lambda: read_state(data / "boinc").projects[0].down, 120, "project down")
    st = read_state(data / "boinc")
    (proj,) = st.projects
    assert proj.message == "project is down: Project is temporarily shut down for maintenance"
    assert not proj.unreachable  # it answered: it is down, not out of reach
    codes = {c.code: c for c in boinc_conditions(st)}
    assert set(codes) == {"project_down", "task_files_failed"}
    assert codes["task_files_failed"].title == "BOINC download failed"
