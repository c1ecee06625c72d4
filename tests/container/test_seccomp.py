"""The seccomp profile of our containers: it is containers-common's default minus namespaces
and mounts, every container the runtime starts runs under it, and inside a worker or head
started the project's way `unshare` fails while Dask and BOINC still work."""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.container import ContainerRuntime, ContainerSpec, Limits, RuntimeConfig
from kalavai_like.container.seccomp import (
    DEFAULT_PROFILE,
    DENIED,
    NAMESPACE_FLAGS,
    harden,
    shipped_profile,
)
from kalavai_like.container.templates import render, render_head
from tests.support.containers import DASK, dask_compute, engine
from tests.support.waiting import wait_for

# linux/sched.h
CLONE_FLAGS = {
    "NEWNS": 0x00020000,
    "NEWCGROUP": 0x02000000,
    "NEWUTS": 0x04000000,
    "NEWIPC": 0x08000000,
    "NEWUSER": 0x10000000,
    "NEWPID": 0x20000000,
    "NEWNET": 0x40000000,
}
REMOVED = {*DENIED, "clone", "clone3"}
LIMITS = Limits(cpus=1, memory_bytes=512 * 2**20)


@pytest.fixture
def name_prefix() -> str:
    return f"wts-{os.getpid()}-"


def load(path: str | Path) -> dict[str, Any]:
    return dict(json.loads(Path(path).read_text()))


def expand(profile: dict[str, Any]) -> set[tuple[str, str]]:
    """(syscall, the rule without its names) for every syscall of every rule."""
    out = set()
    for rule in profile["syscalls"]:
        rest = json.dumps({k: v for k, v in rule.items() if k != "names"}, sort_keys=True)
        out |= {(name, rest) for name in rule["names"]}
    return out


def rules_for(profile: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in profile["syscalls"] if name in r["names"]]


# ---- the profile, without podman -----------------------------------------------------------


def test_every_container_is_started_with_the_shipped_profile() -> None:
    spec = ContainerSpec(name="w", image="localhost/kalavai-like/busybox")
    args = ContainerRuntime(RuntimeConfig()).run_args(spec)
    assert f"seccomp={shipped_profile()}" in args
    assert args[args.index(f"seccomp={shipped_profile()}") - 1] == "--security-opt"
    assert Path(shipped_profile()).is_file()


@pytest.mark.skipif(not DEFAULT_PROFILE.is_file(), reason="containers-common is not installed")
def test_the_profile_keeps_everything_the_default_allows_but_namespaces_and_mounts() -> None:
    default, ours = load(DEFAULT_PROFILE), load(shipped_profile())
    for key in ("defaultAction", "defaultErrnoRet", "archMap"):
        assert ours[key] == default[key]
    kept = {(n, rest) for n, rest in expand(default) if n not in REMOVED}
    assert kept <= expand(ours)
    assert {n for n, _ in expand(ours) - expand(default)} <= REMOVED
    # The shipped file is what the generator makes from this default (regenerate: seccomp.py).
    assert ours == harden(default)


def test_namespaces_and_mounts_are_denied_whatever_the_capabilities() -> None:
    ours = load(shipped_profile())
    for name in DENIED:
        (rule,) = rules_for(ours, name)
        assert rule["action"] == "SCMP_ACT_ERRNO" and rule["errnoRet"] == 1  # EPERM
        assert not rule["args"] and not rule["includes"] and not rule["excludes"]
    (clone3,) = rules_for(ours, "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38  # ENOSYS: fallback
    clones = rules_for(ours, "clone")
    assert {r["action"] for r in clones} == {"SCMP_ACT_ALLOW"}
    for rule in clones:
        (arg,) = rule["args"]
        assert arg["op"] == "SCMP_CMP_MASKED_EQ" and arg["valueTwo"] == 0
        assert all(arg["value"] & flag for flag in CLONE_FLAGS.values())
    assert sum(CLONE_FLAGS.values()) == NAMESPACE_FLAGS
    # x86_64 passes the flags first, s390 second: one rule each, never both.
    by_index = {r["args"][0]["index"]: r for r in clones}
    assert by_index[0]["excludes"] == {"arches": ["s390", "s390x"]}
    assert by_index[1]["includes"] == {"arches": ["s390", "s390x"]}


# ---- inside real containers ----------------------------------------------------------------

# x86_64 numbers; a clone that succeeds (today's profile) exits its child at once.
PROBE = """
import ctypes, os, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    if r == 0:
        os._exit(0)
    return os.strerror(ctypes.get_errno()) if r < 0 else "ok"
print("clone-newuser:", call(56, 0x10000000 | 17, 0, 0, 0, 0))
print("clone3:", call(435, 0, 0))
t = threading.Thread(target=print, args=("thread: ok",)); t.start(); t.join()
print("fork:", subprocess.run(["true"]).returncode)
"""


def assert_no_namespaces(podman: ContainerRuntime, ident: str) -> None:
    """`unshare` of a user, network or mount namespace fails inside the container."""
    for flags in (["-U"], ["-n"], ["-m"], ["-Urm"]):
        out = engine(podman.config, "exec", ident, "unshare", *flags, "true")
        assert out.returncode != 0, f"unshare {flags[0]} worked inside {ident}"
        assert "Operation not permitted" in out.stderr


@pytest.mark.podman
@pytest.mark.usefixtures("built_images")
def test_a_worker_cannot_create_namespaces(podman: ContainerRuntime, names) -> None:  # type: ignore[no-untyped-def]
    name = names("worker")
    params = {"image": DASK, "command": ["sleep", "600"]}
    s = render(
        "generic", params, membership_id=name, limits=LIMITS, head_address=None, netns_path=None
    )
    info = podman.run(dataclasses.replace(s, name=name, data_volume=name))
    assert_no_namespaces(podman, info.id)
    out = engine(podman.config, "exec", info.id, "python3", "-c", PROBE)
    assert out.returncode == 0, out.stderr
    assert "clone-newuser: Function not implemented" in out.stdout
    assert "clone3: Function not implemented" in out.stdout  # glibc falls back to clone
    assert "thread: ok" in out.stdout and "fork: 0" in out.stdout


@pytest.mark.podman
@pytest.mark.slow
@pytest.mark.usefixtures("built_images")
def test_dask_head_and_worker_still_compute_and_neither_may_unshare(
    podman: ContainerRuntime, names
) -> None:  # type: ignore[no-untyped-def]
    # The worker joins the head's own namespace (made by podman), where the scheduler listens
    # on loopback: no namespace of this test's own.
    head = render_head("dask", {}, "wtspool", None, head_address="127.0.0.1")
    assert head is not None
    h = podman.run(dataclasses.replace(head, name=names("head")))
    wname = names("worker")
    worker = render(
        "dask", {}, membership_id=wname, limits=LIMITS, head_address="127.0.0.1",
        netns_path=f"/proc/{h.pid}/ns/net",
    )  # fmt: skip
    podman.run(dataclasses.replace(worker, name=wname, data_volume=wname))
    out = dask_compute(podman.config, h.id, "127.0.0.1")
    assert out.returncode == 0, out.stderr[-2000:] + podman.logs(wname, tail=20)
    assert "square 144" in out.stdout and "total 5050" in out.stdout and wname in out.stdout
    assert_no_namespaces(podman, h.id)
    assert_no_namespaces(podman, wname)


@pytest.mark.podman
@pytest.mark.usefixtures("built_images")
def test_the_boinc_client_still_runs(podman: ContainerRuntime, names) -> None:  # type: ignore[no-untyped-def]
    name = names("boinc")
    s = render(
        "boinc", {"gui_rpc_password": uuid.uuid4().hex}, membership_id=name,
        limits=Limits(cpus=1, memory_bytes=256 * 2**20), head_address=None, netns_path=None,
    )  # fmt: skip
    info = podman.run(dataclasses.replace(s, name=name, data_volume=name))

    def answers() -> bool:
        cmd = "cd /data/boinc && boinccmd --unix_domain --get_state"
        return engine(podman.config, "exec", info.id, "sh", "-c", cmd).returncode == 0

    wait_for(answers, 60, "the BOINC client to answer boinccmd --get_state")
    assert podman.state(info.id).state == "running"
    logs = podman.logs(info.id, tail=200)
    for failure in ("Operation not permitted", "Function not implemented", "Bad system call"):
        assert failure not in logs
    assert_no_namespaces(podman, info.id)
