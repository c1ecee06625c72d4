"""The same assertions against FakeRuntime and real podman, so the fake stays honest."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kalavai_like.container import ContainerRuntime, ContainerSpec
from kalavai_like.container.fake import FakeRuntime
from kalavai_like.container.spec import MEMBERSHIP_LABEL
from kalavai_like.errors import Conflict, InvalidInput, NotFound, SystemProblem
from tests.support.containers import BUSYBOX, PREFIX
from tests.support.waiting import wait_for

BUSY = ["sh", "-c", "echo started; while :; do :; done"]


@pytest.fixture(params=["fake", pytest.param("podman", marks=pytest.mark.podman)])
def rt(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeRuntime()
        return
    request.getfixturevalue("built_images")
    runtime = ContainerRuntime(request.getfixturevalue("podman_config"))
    made: list[str] = []
    runtime.run = _tracking(runtime.run, made)  # type: ignore[method-assign]
    try:
        yield runtime
    finally:
        for name in made:
            runtime.remove(name)


def _tracking(run: Callable[[ContainerSpec], Any], made: list[str]) -> Callable[..., Any]:
    def wrapped(spec: ContainerSpec) -> Any:
        made.append(spec.name)
        return run(spec)

    return wrapped


def make_spec(**kw: Any) -> ContainerSpec:
    suffix = uuid.uuid4().hex[:8]
    base: dict[str, Any] = {
        "name": f"{PREFIX}contract-{suffix}",
        "image": BUSYBOX,
        "command": BUSY,
        "labels": {MEMBERSHIP_LABEL: f"{PREFIX}m-{suffix}"},
        "cpus": 0.5,
        "memory_bytes": 64 * 2**20,
    }
    base.update(kw)
    return ContainerSpec(**base)


def test_lifecycle_find_ensure_pause_stop_remove(rt: Any) -> None:
    spec = make_spec()
    info = rt.run(spec)
    assert info.state == "running" and info.name == spec.name
    assert rt.state(spec.name).id == info.id == rt.state(info.id).id
    assert info.labels[MEMBERSHIP_LABEL] == spec.membership_id
    assert [f.id for f in rt.find(MEMBERSHIP_LABEL, spec.membership_id)] == [info.id]
    assert rt.ensure(spec).id == info.id
    assert len(rt.find(MEMBERSHIP_LABEL, spec.membership_id)) == 1

    rt.pause(info.id)
    rt.pause(info.id)
    assert rt.state(info.id).state == "paused"
    assert rt.ensure(spec).id == info.id  # a paused worker is adopted, not replaced
    frozen = rt.usage(info.id).cpu_seconds
    time.sleep(0.3)  # observe the frozen counter over a short interval
    assert rt.usage(info.id).cpu_seconds == frozen
    rt.unpause(info.id)
    rt.unpause(info.id)
    assert rt.state(info.id).state == "running"
    wait_for(lambda: rt.usage(info.id).cpu_seconds > frozen)
    assert rt.usage(info.id).memory_bytes > 0

    rt.update(info.id, cpus=0.25, memory_bytes=32 * 2**20)
    assert isinstance(rt.logs(info.id, tail=5), str)

    rt.stop(info.id, timeout=0)
    rt.stop(info.id, timeout=0)
    assert rt.state(info.id).state == "exited"
    with pytest.raises(NotFound):
        rt.usage(info.id)
    with pytest.raises(SystemProblem):
        rt.pause(info.id)
    replaced = rt.ensure(spec)  # an exited worker is replaced by a fresh one
    assert replaced.id != info.id and replaced.state == "running"
    assert rt.state(info.id).state == "missing"
    rt.remove(replaced.id)
    rt.remove(replaced.id)
    assert rt.state(replaced.id).state == "missing"
    assert rt.find(MEMBERSHIP_LABEL, spec.membership_id) == []


def test_same_name_twice_is_a_conflict(rt: Any) -> None:
    spec = make_spec()
    rt.run(spec)
    with pytest.raises(Conflict):
        rt.run(make_spec(name=spec.name))
    assert len([c for c in rt.find(MEMBERSHIP_LABEL, spec.membership_id)]) == 1


def test_missing_image_and_missing_container_are_clear(rt: Any) -> None:
    with pytest.raises(SystemProblem) as err:
        rt.run(make_spec(image="localhost/kalavai-like/does-not-exist:latest"))
    assert err.value.title == "Worker image not found"
    ghost = f"{PREFIX}ghost-{uuid.uuid4().hex[:8]}"
    assert rt.state(ghost).state == "missing"
    for call in (rt.logs, rt.usage, rt.pause, rt.unpause):
        with pytest.raises(NotFound):
            call(ghost)
    rt.remove(ghost)
    rt.stop(ghost)


def test_a_signal_reaches_the_workload_and_a_stopped_one_cannot_be_signalled(rt: Any) -> None:
    trap = ["sh", "-c", "trap 'echo finishing; exit 3' USR1; echo started; "
            "while :; do sleep 1; done"]  # fmt: skip
    info = rt.run(make_spec(command=trap))
    if isinstance(rt, FakeRuntime):  # the fake runs no workload: it plays the trap
        rt.exit_on_signal["USR1"] = 3
        rt.log(info.id, "started")
    wait_for(lambda: "started" in rt.logs(info.id))
    with pytest.raises(InvalidInput):
        rt.kill(info.id, "USR1; reboot")
    assert rt.state(info.id).state == "running"
    rt.kill(info.id, "USR1")
    wait_for(lambda: rt.state(info.id).state == "exited")
    assert rt.state(info.id).exit_code == 3  # the workload's own handler ran
    with pytest.raises(SystemProblem):
        rt.kill(info.id, "USR1")
    with pytest.raises(NotFound):
        rt.kill(f"{PREFIX}ghost-{uuid.uuid4().hex[:8]}", "USR1")
