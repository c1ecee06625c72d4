"""A BOINC worker's data outlives its container (a task that ran for hours is not thrown away)
and goes when the volunteer leaves; the `disk` limit reaches BOINC's own disk preference."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.client.records import JoinRequest
from kalavai_like.errors import InvalidInput
from tests.support.agent_fakes import FakePlatform, World


def _node(world: World, sample_interval: float = 5.0) -> Node:
    cfg = NodeConfig(prefix="kt6", state_dir=world.tmp, device_name="vol1",
                     sample_interval=sample_interval)  # fmt: skip
    return Node(
        cfg, overlay=world.overlay, runtime=world.runtime,
        templates=PoolTemplates(world.tmp / "data"), platform=world.platform,
        store=world.store, wall=world.clock,
    )  # fmt: skip


def _world(tmp_path: Path, template: str) -> World:
    world = World(tmp_path)
    hub = world.platform.hub
    world.platform = FakePlatform(
        template, {"project_url": "http://203.0.113.10/test/", "weak_key": "1_abc"}
    )
    world.platform.hub = hub
    return world


def _spec(world: World):  # type: ignore[no-untyped-def]
    (c,) = world.runtime.containers.values()
    return c.spec


def test_boinc_data_survives_a_replaced_container_and_goes_on_leave(tmp_path: Path) -> None:
    world = _world(tmp_path, "boinc")
    node = _node(world)
    node.join(JoinRequest(world.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30,
                          disk_bytes=10 * 2**30))  # fmt: skip
    spec = _spec(world)
    data = Path(spec.data_volume)
    assert data.parent == tmp_path / "data" and data.is_dir()
    assert "/data:rw,U" not in spec.tmpfs
    assert spec.env["BOINC_DISK_MAX_GB"] == "10.000"
    (data / "client_state.xml").write_text("<client_state/>")  # hours of BOINC work
    node.close()  # the agent dies, and its container is lost with it
    world.runtime.containers.clear()
    again = _node(world)
    again.restore()
    assert Path(_spec(world).data_volume) == data
    assert (data / "client_state.xml").read_text() == "<client_state/>"
    assert not again.stop().warnings
    assert not data.exists()


def test_dask_scratch_stays_on_a_tmpfs(tmp_path: Path) -> None:
    world = World(tmp_path)
    node = _node(world)
    world.join(node)
    spec = _spec(world)
    assert spec.data_volume is None and "/data:rw,U" in spec.tmpfs
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


@pytest.mark.parametrize("disk", [1, 2**20, -1])
def test_a_disk_limit_too_small_to_hold_a_task_is_refused(disk: int) -> None:
    with pytest.raises(InvalidInput, match="disk"):
        JoinRequest("t", "klu_x", cpus=1, memory_bytes=2**30, disk_bytes=disk)


def test_status_shows_what_the_boinc_client_wrote(tmp_path: Path) -> None:
    import shutil

    world = _world(tmp_path, "boinc")
    node = _node(world, sample_interval=0.0)  # each tick samples
    world.join(node)
    boinc = Path(_spec(world).data_volume) / "boinc"
    boinc.mkdir()
    for f in (Path(__file__).parents[1] / "usage/data/boinc/credited").iterdir():
        shutil.copy(f, boinc / f.name)
    world.clock.t += 6
    node.tick()
    st = node.status()
    (project,) = st.worker.boinc["projects"]  # type: ignore[union-attr, index]
    assert project["host_total_credit"] == 42.5 and not project["unreachable"]
    assert not [c for c in st.conditions if c.code == "project_unreachable"]
    from kalavai_like.cli.pool.status import _worker_rows
    from kalavai_like.client.records import WorkerStatus

    again = WorkerStatus.from_dict(st.worker.to_dict())  # type: ignore[union-attr]  # over the LocalAPI
    rows = dict(_worker_rows(again, st.at))
    assert (
        "Kalavai Stand-in" in rows["BOINC project"] and "host credit 42.5" in rows["BOINC project"]
    )
    for f in (Path(__file__).parents[1] / "usage/data/boinc/down").iterdir():
        if not f.name.startswith("rpc_"):
            shutil.copy(f, boinc / f.name)
    world.clock.t += 6
    node.tick()
    (c,) = [c for c in node.status().conditions if c.code == "project_unreachable"]
    assert "failed try to reach its master page" in c.text


def test_stop_finish_lets_the_boinc_work_be_reported_then_leaves(tmp_path: Path) -> None:
    import shutil

    from tests.support.boinc_replay import ReplayClient

    data = Path(__file__).parents[1] / "usage/data/boinc"
    world = _world(tmp_path, "boinc")
    node = _node(world, sample_interval=0.0)  # each tick samples
    world.join(node)
    boinc = Path(_spec(world).data_volume) / "boinc"
    boinc.mkdir()
    (boinc / "gui_rpc_auth.cfg").write_text("pw")
    shutil.copy(data / "running/client_state.xml", boinc)
    client = ReplayClient(boinc, data / "running")
    try:
        result = node.finish()
        node.tick()  # the task is still running: the node stays
    finally:
        client.close()
    assert "finishing" in result.message and not result.already
    detach = [r for r in client.requests if "<project_detach_when_done>" in r]
    assert len(detach) == 1 and "<project_url>http://127.0.0.1:8123/kn/</project_url>" in detach[0]
    st = node.status()
    assert st.state == "running" and st.reason.startswith("finishing")
    assert world.store.data["membership"]["finishing"]  # type: ignore[index]  # a restart keeps it
    assert node.finish().already
    (boinc / "boinc_socket").unlink()
    (boinc / "client_state.xml").write_text("<client_state>\n</client_state>\n")  # detached
    node.tick()
    st = node.status()
    assert st.state == "idle" and st.worker is None
    (dev,) = world.platform.devices.values()
    assert dev.left and not boinc.exists()


def test_stop_finish_without_boinc_work_leaves_at_once(tmp_path: Path) -> None:
    world = World(tmp_path)
    node = _node(world)
    world.join(node)
    result = node.finish()
    assert result.state == "idle" and world.leftovers() == []


@pytest.mark.parametrize(("template", "way_out"), [("boinc", "internet"), ("dask", "pool")])
def test_a_boinc_worker_may_reach_its_project_and_a_dask_worker_only_its_pool(
    tmp_path: Path, template: str, way_out: str
) -> None:
    world = _world(tmp_path, template)
    node = _node(world)
    node.join(JoinRequest(world.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30))
    (spoke,) = world.overlay.spokes.values()
    assert spoke.cfg.policy == way_out
