"""The owner's Dask access on the seed: `pool run`'s job container (hardened, in the hub's
namespace, Dask's standard configuration, removed with its files however it ends) and
`pool connect`'s forwarder (loopback only, bytes relayed both ways)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from kalavai_like.agent.dask_access import DaskAccess, Forwarder
from kalavai_like.agent.pool_tls import SeedTLS
from kalavai_like.agent.state import SeedRole
from kalavai_like.container.fake import FakeRuntime
from kalavai_like.container.spec import ContainerInfo, ContainerSpec
from kalavai_like.errors import Conflict

DASK = "localhost/kalavai-like/dask:latest"


def seed(params: dict[str, object] | None = None) -> SeedRole:
    return SeedRole(
        device_id="hub-1", pool_id="pool-1", pool_name="demo", platform="http://p", credential="c",
        private_key="k", public_key="p", prefix="kl1", name="hub", address="10.42.0.1/20",
        address6=None, subnet="10.42.0.0/20", subnet6=None, endpoint="198.18.0.2:51820",
        listen_port=51820, template="dask", params=params or {}, started_at=0.0,
    )  # fmt: skip


class JobRuntime(FakeRuntime):
    """A job that prints two lines and exits 3 as soon as it starts; records what it saw."""

    seen: dict[str, object]

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        info = super().run(spec)
        d = Path(spec.secrets_dir or "")
        self.seen = {"spec": spec, "files": sorted(p.name for p in d.iterdir()),
                     "modes": {p.name: p.stat().st_mode & 0o777 for p in d.iterdir()}}  # fmt: skip
        self.log(info.id, "result 144")
        self.crash(info.id, exit_code=3, log_line="bye")
        return info


def test_run_streams_the_jobs_lines_and_returns_its_exit_code(tmp_path: Path) -> None:
    SeedTLS(tmp_path, "pool-1").prepare()
    rt = JobRuntime()
    access = DaskAccess(lambda: seed(), tmp_path, rt, lambda s: DASK)
    lines: list[str] = []
    assert access.run("print(1)\n", ["--n", "3"], lines.append) == 3
    assert lines == ["result 144", "bye"]
    spec = rt.seen["spec"]
    assert isinstance(spec, ContainerSpec)
    # the workers' hardening, in the hub's namespace, the owner's certificate mounted read-only
    assert spec.user == "1000:1000" and spec.read_only and spec.pids_limit <= 512
    assert spec.netns_path == "/run/netns/kl1-hub"
    assert rt.seen["files"] == ["ca.pem", "client.key", "client.pem", "job.py"]
    assert spec.command == ["python3", "/run/kalavai-tls/job.py", "--n", "3"]
    assert spec.env["DASK_SCHEDULER_ADDRESS"] == "tls://10.42.0.1:8786"
    assert spec.env["DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"] == "/run/kalavai-tls/client.pem"
    assert not rt.containers  # removed
    assert not list(tmp_path.glob("job-*"))  # its files too


def test_the_jobs_key_and_script_are_private_from_the_start(tmp_path: Path) -> None:
    import os

    SeedTLS(tmp_path, "pool-1").prepare()
    rt = JobRuntime()
    umask = os.umask(0o022)
    try:
        DaskAccess(lambda: seed(), tmp_path, rt, lambda s: DASK).run("print(1)\n", [], print)
    finally:
        os.umask(umask)
    modes = rt.seen["modes"]
    assert isinstance(modes, dict)
    assert modes["client.key"] == 0o600 and modes["job.py"] == 0o600


def test_only_a_seed_of_a_dask_pool_gives_access(tmp_path: Path) -> None:
    with pytest.raises(Conflict, match="Not a pool's seed"):
        DaskAccess(lambda: None, tmp_path, FakeRuntime(), lambda s: DASK).connect()
    with pytest.raises(Conflict, match="No Dask cluster"):  # no TLS files: nothing to hand out
        DaskAccess(lambda: seed(), tmp_path, FakeRuntime(), lambda s: DASK).connect()


def test_the_forwarder_listens_on_loopback_and_relays_both_ways() -> None:
    upstream = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        conn, _ = upstream.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())

    threading.Thread(target=echo, daemon=True).start()
    fwd = Forwarder(None, upstream.getsockname())
    try:
        assert fwd.sock.getsockname()[0] == "127.0.0.1"
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=5) as c:
            c.sendall(b"hello")
            assert c.recv(100) == b"HELLO"
    finally:
        fwd.close()
        upstream.close()
