"""The locally built images do their job: a Dask scheduler and worker compute a real task inside
a network namespace this test creates, the BOINC client answers its GUI RPC, and a second build
is served from the cache."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalavai_like.container import ContainerRuntime, Limits
from kalavai_like.container.templates import render, render_head
from tests.support.containers import dask_compute, engine
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.podman, pytest.mark.usefixtures("built_images")]
ROOT = Path(__file__).resolve().parents[2]
HEAD = "10.99.0.1"


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace of our own holding the pool head's overlay address."""
    name = f"kt5-ns-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (
            ["ip", "link", "set", "lo", "up"],
            # No dummy module on these kernels: the overlay address lives on lo.
            ["ip", "addr", "add", f"{HEAD}/32", "dev", "lo"],
        ):
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True)
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@pytest.mark.slow
def test_dask_scheduler_and_worker_compute_a_task(
    podman: ContainerRuntime, names, netns: str
) -> None:  # type: ignore[no-untyped-def]
    head = render_head("dask", {}, "kt5pool", netns, head_address=HEAD)
    assert head is not None
    head = dataclasses.replace(head, name=names("dask-head"))
    wname = names("dask-worker")
    worker = render(
        "dask", {}, membership_id=wname, limits=Limits(cpus=1, memory_bytes=512 * 2**20),
        head_address=HEAD, netns_path=netns,
    )  # fmt: skip
    worker = dataclasses.replace(worker, name=wname, data_volume=wname)
    h = podman.run(head)
    podman.run(worker)
    out = dask_compute(podman.config, h.id, HEAD)
    assert out.returncode == 0, out.stderr[-2000:] + podman.logs(wname, tail=20)
    assert "square 144" in out.stdout and "total 5050" in out.stdout
    assert wname in out.stdout  # the worker registered under its membership id


def test_boinc_client_answers_its_gui_rpc(podman: ContainerRuntime, names) -> None:  # type: ignore[no-untyped-def]
    name = names("boinc")
    password = uuid.uuid4().hex
    s = render(
        "boinc", {"gui_rpc_password": password}, membership_id=name,
        limits=Limits(cpus=1, memory_bytes=256 * 2**20), head_address=None, netns_path=None,
    )  # fmt: skip
    info = podman.run(dataclasses.replace(s, name=name, data_volume=name))
    state: dict[str, subprocess.CompletedProcess[str]] = {}

    def answers() -> bool:
        state["r"] = engine(
            podman.config,
            "exec",
            info.id,
            "sh",
            "-c",
            "cd /data/boinc && boinccmd --unix_domain --get_state",
        )
        return state["r"].returncode == 0

    wait_for(answers, 60, "boinccmd --get_state")
    assert "======== Projects ========" in state["r"].stdout
    # The RPC password is in force and never on a command line.
    cmd = "cd /data/boinc && boinccmd --unix_domain --passwd wrong --get_state"
    wrong = engine(podman.config, "exec", info.id, "sh", "-c", cmd)
    assert wrong.returncode != 0 or "Authorization failure" in wrong.stdout + wrong.stderr
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert password not in ps.stdout


def test_a_second_build_is_served_from_the_cache() -> None:
    build = [str(ROOT / "packaging/images/build")]
    subprocess.run(build, capture_output=True, text=True, check=True)  # brings them up to date
    out = subprocess.run(build, capture_output=True, text=True, check=True)
    for image in ("busybox", "dask", "boinc"):
        assert f"{image}: cached" in out.stderr
