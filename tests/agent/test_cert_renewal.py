"""A Dask worker's pool certificate is renewed while the agent runs, once it nears its end (a
homelab agent may run for a year without a restart), and the worker restarts to load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kalavai_like.agent import pool_tls
from kalavai_like.agent.composition import PoolTemplates
from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.agent.pool_ca import RENEW_DAYS, PoolCA, days_left
from tests.support.agent_fakes import World


def test_a_certificate_near_its_end_is_renewed_and_the_worker_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = PoolCA(tmp_path / "seed-ca", "pool-1")
    lifetimes = [RENEW_DAYS - 1, 365]  # the first one (days ago, say) nears its end

    def request_cert(netns: str | None, host: str, csr: str, **kw: Any) -> dict[str, Any]:
        return {"cert": ca.sign_csr(csr, "worker", "dev-1", lifetimes.pop(0)), "ca": ca.ca_pem}

    monkeypatch.setattr(pool_tls, "request_cert", request_cert)
    world = World(tmp_path)
    cfg = NodeConfig(prefix="kt6", state_dir=tmp_path, device_name="vol1", dask_tls=True,
                     cert_check_interval=0.0)  # fmt: skip
    node = Node(
        cfg, overlay=world.overlay, runtime=world.runtime, templates=PoolTemplates(),
        platform=world.platform, store=world.store, wall=world.clock,
    )  # fmt: skip
    world.join(node)
    device = node.status().worker.device_id  # type: ignore[union-attr]
    pem = pool_tls.member_dir(tmp_path, device) / "worker.pem"
    (first,) = world.runtime.containers.values()
    assert days_left(pem.read_text()) < RENEW_DAYS
    node.tick()
    assert lifetimes == []  # a new one was asked for
    (second,) = world.runtime.containers.values()
    assert second.info.id != first.info.id  # the worker restarted to load it
    assert days_left(pem.read_text()) > 300
    node.tick()  # a fresh certificate: nothing more
    assert list(world.runtime.containers.values()) == [second]
