"""The pool's Dask cluster behind mutual TLS and the guard, on the real `distributed` of the
dask image: the owner computes and runs code; a member's worker certificate can neither act
as a client nor make the scheduler or another worker run code; a non-member's or a departed
member's worker is refused; nothing connects without a certificate."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from kalavai_like.agent.pool_ca import PoolCA
from kalavai_like.container import RuntimeConfig, dask_guard
from tests.support.containers import DASK, engine

pytestmark = pytest.mark.podman
DRIVER = Path(__file__).parents[1] / "support" / "dask_guard_driver.py"  # runs in the image


def certs(d: Path) -> None:
    ca = PoolCA(d / "ca", "pool-1")
    for role, name in (("scheduler", "scheduler"), ("client", "owner"), ("worker", "dev-a"),
                       ("worker", "dev-b")):  # fmt: skip
        issued = ca.issue(role, name)
        (d / f"{name}.pem").write_text(issued.cert)
        (d / f"{name}.key").write_text(issued.key)
    (d / "ca.pem").write_text(ca.ca_pem)
    shutil.copyfile(dask_guard.__file__, d / "kalavai_guard.py")
    shutil.copyfile(DRIVER, d / "driver.py")
    for f in d.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("certs")
    d.chmod(0o755)
    certs(d)
    config = RuntimeConfig.detect()
    name = f"ks1-guard-{uuid.uuid4().hex[:8]}"
    try:
        proc = engine(config, "run", "--rm", "--name", name, "--network", "none",
                      "-v", f"{d}:/certs:ro", DASK, "python3", "/certs/driver.py")  # fmt: skip
    finally:
        engine(config, "rm", "-f", name)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    assert lines, proc.stderr[-3000:]
    return dict(json.loads(lines[-1]))


def test_the_owner_computes_and_runs_code(results: dict[str, str]) -> None:
    assert results["member worker registered"] == "ok 1"
    assert results["owner client computes"] == "ok 144"
    assert "ran on scheduler" in results["owner run_on_scheduler"]
    assert "ran on worker" in results["owner client.run on workers"]


@pytest.mark.parametrize("attempt", [
    "worker cert as client",
    "worker cert run_function on scheduler",
    "worker cert broadcast",
    "worker cert unregisters another",
    "worker cert runs code on a worker",
    "worker cert adds a worker plugin",
    "no certificate",
    "non-member worker registers",
    "departed worker registers again",
])  # fmt: skip
def test_a_member_or_outsider_is_refused(results: dict[str, str], attempt: str) -> None:
    assert results[attempt].startswith("REFUSED"), results[attempt]


def test_a_departed_members_worker_is_removed(results: dict[str, str]) -> None:
    assert results["departed worker removed"] == "ok"
    assert results["worker cert get_data from a worker"].startswith("ok")  # peers share data
