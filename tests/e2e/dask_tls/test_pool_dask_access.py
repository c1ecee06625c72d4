"""The pool's Dask cluster end to end, behind mutual TLS: real Dask in the head container,
alice's and bob's workers over the overlay. The owner reaches it with `pool connect` (on the
seed's loopback only) and `pool run` (a hardened job container); a member's worker can
neither act as a client nor make another worker run code; a departed member is refused;
the demo's job still runs on both volunteers. Everything is named `ks1...`."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kalavai_like.devtools.demo import run_dask_job
from kalavai_like.devtools.simulator import Simulator
from kalavai_like.net.namespace import run_in
from tests.support.simulator import FAST, needs_root_tools, runtime, simulated, start_hosts
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.podman, pytest.mark.slow,
              needs_root_tools()]  # fmt: skip

PREFIX = "ks1"
DASK = "localhost/kalavai-like/dask:latest"


class Pool:
    def __init__(self, sim: Simulator, start: dict[str, Any]) -> None:
        self.sim, self.start = sim, start
        self.devices: dict[str, str] = {}  # volunteer -> device id

    def host(self, short: str) -> Any:
        return self.sim.hosts[short]

    def join(self, vol: str) -> None:
        token = self.sim.cli_json(self.host("seed"), "pool", "token", "--uses", "1")["token"]
        self.sim.cli(self.host(vol), "pool", "join", "-", "--cpus", "1", "--memory", "1g",
                     "--name", vol, input=token + "\n")  # fmt: skip
        self.devices[vol] = str(self.sim.client(self.host(vol)).status().worker.device_id)


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with simulated(PREFIX, FAST, start_hosts("seed", "alice", "bob")) as sim:
        seed = sim.hosts["seed"]
        out = sim.cli_json(seed, "pool", "start", "tls", "--template", "dask",
                           "--endpoint", f"{seed.address}:51820")  # fmt: skip
        p = Pool(sim, out)
        p.join("alice")
        p.join("bob")
        yield p


def readable_copy(files: dict[str, Path], tmp: Path) -> Path:
    """The certificate files, readable by the probe container's user."""
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o755)
    for name, src in files.items():
        shutil.copyfile(src, tmp / name)
        (tmp / name).chmod(0o644)
    return tmp


def probe(netns: str, certs: Path | None, code: str, env: dict[str, str] | None = None) -> str:
    """Run Python `code` in the dask image inside `netns`, certificates at /certs; its output."""
    rc = runtime().config
    name = f"ks1-probe-{uuid.uuid4().hex[:8]}"
    args = ["run", "--rm", "--name", name, "--network", f"ns:/run/netns/{netns}", "--user",
            "1000:1000", "-e", "HOME=/tmp"]  # fmt: skip
    if certs is not None:
        args += ["-v", f"{certs}:/certs:ro"]
    for k, v in (env or {}).items():
        args += ["-e", f"{k}={v}"]
    try:
        proc = subprocess.run(rc.command(*args, DASK, "python3", "-c", code), capture_output=True,
                              text=True, timeout=240, env=rc.environ(), check=False)  # fmt: skip
    finally:
        subprocess.run(rc.command("rm", "-f", name), capture_output=True, env=rc.environ(),
                       check=False)  # fmt: skip
    return proc.stdout + proc.stderr


COMPUTE = """
import json
from distributed import Client
c = Client(timeout=30)
c.wait_for_workers(2, timeout=90)
names = sorted(w["name"] for w in c.scheduler_info()["workers"].values())
total = sum(c.gather(c.map(lambda x: x + 1, range(100), pure=False)))
print("RESULT", json.dumps({"total": total, "names": names,
                            "addresses": sorted(c.scheduler_info()["workers"])}))
"""


def test_connect_gives_a_plain_client_on_loopback_only(pool: Pool, tmp_path: Path) -> None:
    seed = pool.host("seed")
    info = pool.sim.cli_json(seed, "pool", "connect", "--detach")
    try:
        assert info["scheduler"].startswith("tls://127.0.0.1:")
        certs = readable_copy({"ca.pem": Path(info["ca"]), "client.pem": Path(info["cert"]),
                               "client.key": Path(info["key"])}, tmp_path / "owner")  # fmt: skip
        env = {**info["env"], "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": "/certs/ca.pem",
               "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": "/certs/client.pem",
               "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": "/certs/client.key"}  # fmt: skip
        out = probe(seed.netns, certs, COMPUTE, env)  # unchanged Dask code: Client()
        lines = [x for x in out.splitlines() if x.startswith("RESULT")]
        assert lines, out[-3000:]
        line = lines[0]
        got = json.loads(line.split(" ", 1)[1])
        assert got["total"] == 5050
        assert got["names"] == sorted(pool.devices.values())  # alice's and bob's workers
        port = int(info["scheduler"].rsplit(":", 1)[1])

        def from_alice() -> int:
            with socket.socket() as s:
                s.settimeout(3)
                return s.connect_ex((seed.address, port))

        assert run_in(pool.host("alice").netns, from_alice) != 0  # not on the seed's LAN
    finally:
        pool.sim.cli(seed, "pool", "disconnect")


RUN_SCRIPT = """
import os, sys
from distributed import Client
client = Client()
print("result", client.submit(lambda x: x * x, 12).result(), flush=True)
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
print("uid", os.getuid(), "caps", status["CapEff"].strip(), "nnp", status["NoNewPrivs"].strip(),
      "seccomp", status["Seccomp"].strip())
try:
    open("/usr/evil", "w")
    print("rootfs writable")
except OSError:
    print("rootfs read-only")
sys.exit(3)
"""


def test_run_streams_output_returns_the_exit_code_and_leaves_nothing(
    pool: Pool, tmp_path: Path
) -> None:
    script = tmp_path / "square.py"
    script.write_text(RUN_SCRIPT)
    script.chmod(0o644)
    proc = pool.sim.cli(pool.host("seed"), "pool", "run", str(script), check=False)
    assert proc.returncode == 3, proc.stderr
    assert "result 144" in proc.stdout
    assert "uid 1000 caps 0000000000000000 nnp 1 seccomp 2" in proc.stdout
    assert "rootfs read-only" in proc.stdout
    rc = runtime().config
    ps = rc.command("ps", "-a", "--format", "{{.Names}}", "--filter", "label=kalavai-like.role=job")
    left = subprocess.run(ps, capture_output=True, text=True, env=rc.environ(), check=False)
    assert not [n for n in left.stdout.split() if n.startswith(PREFIX)]


MEMBER_ATTACK = """
from distributed import Client
from distributed.core import rpc
from distributed.security import Security
import asyncio
d = "/run/kalavai-tls"
sec = Security(tls_ca_file=d + "/ca.pem", tls_client_cert=d + "/worker.pem",
               tls_client_key=d + "/worker.key", tls_worker_cert=d + "/worker.pem",
               tls_worker_key=d + "/worker.key", require_encryption=True)
for label, address, security in (("as-client", "tls://{head}:8786", sec),
                                 ("no-cert", "tcp://{head}:8786", None)):
    try:
        Client(address, security=security, timeout=8).close()
        print(label, "CONNECTED")
    except Exception as exc:
        print(label, "refused", type(exc).__name__)
async def other():
    r = rpc("{other}", connection_args=sec.get_connection_args("worker"))
    try:
        await r.run(function=b"x", args=b"", kwargs=b"")
        print("run-on-other OK")
    except Exception as exc:
        print("run-on-other refused", type(exc).__name__)
    await r.close_rpc()
asyncio.run(other())
"""


def test_a_member_cannot_drive_the_pool(pool: Pool) -> None:
    head = pool.start["address"]
    rc = runtime().config
    code = MEMBER_ATTACK.format(head=head, other=bob_address(pool))
    alice_worker = f"{pool.host('alice').node_prefix}-wk"
    out = subprocess.run(rc.command("exec", alice_worker, "python3", "-c", code),
                         capture_output=True, text=True, env=rc.environ(), timeout=180,
                         check=False)  # fmt: skip
    text = out.stdout + out.stderr
    assert "as-client refused" in text, text[-3000:]
    assert "no-cert refused" in text, text[-3000:]
    assert "run-on-other refused" in text, text[-3000:]


def bob_address(pool: Pool) -> str:
    """bob's worker's Dask address, as the scheduler knows it (asked with `pool run`)."""
    tmp = pool.sim.base_dir / "who.py"
    tmp.write_text(
        "from distributed import Client\nc = Client()\n"
        "for a, w in c.scheduler_info()['workers'].items(): print('W', w['name'], a)\n"
    )
    out = pool.sim.cli(pool.host("seed"), "pool", "run", str(tmp)).stdout
    for line in out.splitlines():
        _, name, address = [*line.split(), "", "", ""][:3]
        if name == pool.devices["bob"]:
            return address
    raise AssertionError(out)


def test_the_demo_job_runs_on_both_volunteers(pool: Pool) -> None:
    seed = pool.host("seed")
    got = run_dask_job(pool.sim, f"{seed.node_prefix}-hub-head", pool.start["address"], 2)
    assert set(got["per_worker"]) == set(pool.devices.values())


def test_a_departed_members_certificate_is_refused(pool: Pool, tmp_path: Path) -> None:
    bob = pool.host("bob")
    (member,) = bob.home.rglob("member-*")
    certs = readable_copy({f: member / f for f in ("ca.pem", "worker.pem", "worker.key")},
                          tmp_path / "bob")  # fmt: skip
    pool.sim.cli(bob, "pool", "stop")
    members = next(pool.host("seed").home.rglob("head/members.json"))
    wait_for(lambda: pool.devices["bob"] not in json.loads(members.read_text())["members"], 30)
    code = ("from distributed import Worker\nimport asyncio\n"
            "from distributed.security import Security\n"
            "s = Security(tls_ca_file='/certs/ca.pem', tls_worker_cert='/certs/worker.pem', "
            "tls_worker_key='/certs/worker.key', require_encryption=True)\n"
            "async def main():\n"
            "    try:\n"
            f"        await asyncio.wait_for(Worker('tls://{pool.start['address']}:8786', "
            "security=s, nthreads=1), 20)\n"
            "        print('REGISTERED')\n"
            "    except Exception as e:\n"
            "        print('refused', type(e).__name__)\n"
            "asyncio.run(main())\n")  # fmt: skip
    alice_ns = f"{pool.host('alice').node_prefix}-wk"  # a peer's namespace on the overlay
    out = probe(alice_ns, certs, code)
    assert "refused" in out and "REGISTERED" not in out, out[-3000:]
