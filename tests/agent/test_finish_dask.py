"""`pool stop --finish` for a Dask worker: the agent asks the worker to retire gracefully (its
finish preload), says it is finishing, never restarts the retired worker, and leaves once it
has exited, also across an agent restart. The preload itself turns SIGUSR1 into one graceful
close."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.agent import pool_tls
from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.agent.node.shared import FINISHING
from kalavai_like.agent.pool_ca import PoolCA
from kalavai_like.container import dask_finish
from kalavai_like.container.templates import FINISH_LABEL
from tests.support.agent_fakes import World


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A Dask pool speaking mutual TLS, its seed's CA signing this member's CSR."""
    ca = PoolCA(tmp_path / "seed-ca", "pool-1")

    def request_cert(netns: str | None, host: str, csr: str, **kw: Any) -> dict[str, Any]:
        return {"cert": ca.sign_csr(csr, "worker", "dev-1"), "ca": ca.ca_pem}

    monkeypatch.setattr(pool_tls, "request_cert", request_cert)
    return World(tmp_path)


def _node(world: World) -> Node:
    cfg = NodeConfig(
        prefix="kt6",
        state_dir=world.tmp,
        device_name="vol1",
        dask_tls=True,
        sample_interval=0.0,
        check_interval=0.0,
    )  # each tick samples and checks
    return Node(
        cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
        platform=world.platform, store=world.store, wall=world.clock,
    )  # fmt: skip


def _worker(world: World) -> str:
    (c,) = world.runtime.containers.values()
    return c.info.id


def _runs(world: World) -> int:
    return len([c for c in world.runtime.calls if c[0] == "run"])


def test_finish_retires_the_dask_worker_and_leaves_once_it_exited(world: World) -> None:
    node = _node(world)
    world.join(node)
    cid = _worker(world)
    member = pool_tls.member_dir(world.tmp, node.status().worker.device_id)  # type: ignore[union-attr]
    assert (member / "kalavai_finish.py").read_bytes() == Path(dask_finish.__file__).read_bytes()

    result = node.finish()
    assert "finishing" in result.message and not result.already
    assert world.runtime.signals == [(cid, "USR1")]  # the worker's preload retires it
    node.tick()  # still moving its results to other workers: the node stays
    st = node.status()
    assert (st.state, st.reason) == ("running", FINISHING)
    assert world.store.data["membership"]["finishing"]  # type: ignore[index]
    assert node.finish().already and world.runtime.signals == [(cid, "USR1")]

    world.runtime.crash(cid, exit_code=0)  # retired: the scheduler let it go, it exited
    node.tick()
    st = node.status()
    assert st.state == "idle" and st.worker is None
    assert _runs(world) == 1  # the retired worker was not taken for a crash and restarted
    (dev,) = world.platform.devices.values()
    assert dev.left and world.leftovers() == []
    assert not member.exists()


def test_a_worker_that_retired_while_the_agent_was_away_is_not_started_again(
    world: World,
) -> None:
    node = _node(world)
    world.join(node)
    node.finish()
    node.close()  # the agent stops; the worker retires meanwhile
    world.runtime.crash(_worker(world), exit_code=0)
    again = _node(world)
    again.restore()
    assert _runs(world) == 1
    again.tick()
    assert again.status().state == "idle" and world.leftovers() == []


def test_a_member_enrolled_by_an_older_agent_gets_the_finish_preload_at_the_next_start(
    world: World,
) -> None:
    node = _node(world)
    world.join(node)
    member = pool_tls.member_dir(world.tmp, node.status().worker.device_id)  # type: ignore[union-attr]
    node.close()
    (member / "kalavai_finish.py").unlink()  # as an agent from before `--finish` left it
    again = _node(world)
    again.restore()  # the kept certificate is still good: no new enrolment
    assert (member / "kalavai_finish.py").exists()  # else the worker could not start
    assert again.finish().state == "running"


def test_a_worker_started_without_the_finish_preload_leaves_at_once(world: World) -> None:
    node = _node(world)
    world.join(node)
    (c,) = world.runtime.containers.values()  # as an agent from before `--finish` started it
    c.info = replace(c.info, labels={k: v for k, v in c.info.labels.items() if k != FINISH_LABEL})
    result = node.finish()  # a signal it has no handler for would change nothing: no waiting
    assert result.state == "idle" and world.runtime.signals == []
    assert world.leftovers() == []


class _Worker:
    address = "tls://10.42.0.2:40000"

    def __init__(self, scheduler_answers: bool = True) -> None:
        self.answers = scheduler_answers
        self.calls: list[tuple[str, str]] = []

    async def close_gracefully(self, reason: str = "") -> None:
        self.calls.append(("close_gracefully", reason))
        if not self.answers:
            raise OSError("Timed out trying to connect to tls://10.42.0.1:8786")

    async def close(self, reason: str = "") -> None:
        self.calls.append(("close", reason))


def _signalled_twice(worker: _Worker) -> None:
    async def main() -> None:
        await dask_finish.dask_setup(worker)
        for _ in range(2):  # a second `--finish` changes nothing
            os.kill(os.getpid(), signal.SIGUSR1)
            await asyncio.sleep(0.05)

    asyncio.run(main())  # closing the loop removes its signal handler
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_the_preload_turns_sigusr1_into_one_graceful_close() -> None:
    worker = _Worker()
    _signalled_twice(worker)
    assert worker.calls == [("close_gracefully", "kalavai-finish")]


def test_a_worker_whose_scheduler_cannot_retire_it_still_leaves() -> None:
    worker = _Worker(scheduler_answers=False)
    _signalled_twice(worker)
    assert worker.calls == [("close_gracefully", "kalavai-finish"), ("close", "kalavai-finish")]
