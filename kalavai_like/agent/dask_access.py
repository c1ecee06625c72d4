"""The pool owner's way into the pool's Dask cluster, on the seed: `pool connect` (the
scheduler, and the dashboard when the pool has one, forwarded to this machine's loopback
only; TLS stays end to end, so the forwarder only moves bytes) and `pool run` (a script run
as a Dask client in a hardened job container in the hub's namespace, its output streamed).

Both use the owner's client certificate (kalavai_like.agent.pool_tls). A job finds the
scheduler in DASK_SCHEDULER_ADDRESS and its certificates through Dask's own configuration
(DASK_DISTRIBUTED__COMM__TLS__*), so unchanged Dask scripts work.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kalavai_like.agent.pool_tls import SeedTLS
from kalavai_like.agent.state import SeedRole
from kalavai_like.client.records import bare
from kalavai_like.container.spec import POOL_LABEL, ROLE_LABEL, SECRETS_MOUNT, ContainerSpec
from kalavai_like.container.templates import DASK_DASHBOARD_PORT, DASK_PORT
from kalavai_like.errors import Conflict, InvalidInput, KalavaiError, SystemProblem
from kalavai_like.home.files import write_text
from kalavai_like.net.namespace import run_in

log = logging.getLogger(__name__)

JOB_SCRIPT = "job.py"
MAX_SCRIPT = 60_000  # the LocalAPI takes bodies up to 64 KiB
MAX_ARGS = 256


def client_env(address: str, ca: str, cert: str, key: str) -> dict[str, str]:
    """Dask's standard configuration for a client of the pool (DASK_SCHEDULER_ADDRESS and the
    TLS settings): `Client()` with no arguments connects."""
    return {
        "DASK_SCHEDULER_ADDRESS": address,
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": ca,
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": cert,
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": key,
    }


class Forwarder:
    """Listens on 127.0.0.1 (an ephemeral port) and relays each connection to `target` in
    the network namespace `netns`."""

    def __init__(self, netns: str | None, target: tuple[str, int]) -> None:
        self.netns, self.target = netns, target
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, name=f"forward-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            up = run_in(self.netns, lambda: socket.create_connection(self.target, timeout=10))
        except OSError as exc:
            log.warning("forward %s: %s", self.target, exc)
            conn.close()
            return
        up.settimeout(None)
        self._conns += [conn, up]
        threading.Thread(target=_pump, args=(up, conn), daemon=True).start()
        _pump(conn, up)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        for c in self._conns:
            with contextlib.suppress(OSError):
                c.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class DaskAccess:
    """`pool connect` and `pool run` for the seed role `seed()` (None: not a seed)."""

    def __init__(self, seed: Callable[[], SeedRole | None], state_dir: Path, runtime: Any,
                 head_image: Callable[[SeedRole], str | None]) -> None:  # fmt: skip
        self._seed, self._state_dir, self._runtime = seed, state_dir, runtime
        self._head_image = head_image
        self._forwarders: list[Forwarder] = []
        self._lock = threading.Lock()

    def _tls(self) -> tuple[SeedRole, SeedTLS]:
        s = self._seed()
        if s is None:
            raise Conflict("Not a pool's seed", "Run this on the seed: `kalavai-like pool start`.")
        tls = SeedTLS(self._state_dir, s.pool_id)
        if s.template != "dask" or not (tls.client_dir / "client.pem").exists():
            raise Conflict("No Dask cluster", f"Pool {s.pool_name} has no TLS Dask scheduler.")
        return s, tls

    def connect(self) -> dict[str, Any]:
        """Forward the scheduler (and dashboard) to loopback; again: the same forwarders."""
        s, tls = self._tls()
        ns = f"{s.prefix}-{s.name}"
        with self._lock:
            if not self._forwarders:
                self._forwarders.append(Forwarder(ns, (bare(s.address) or "", DASK_PORT)))
                if s.params.get("dashboard"):
                    self._forwarders.append(Forwarder(ns, ("127.0.0.1", DASK_DASHBOARD_PORT)))
            ports = [f.port for f in self._forwarders]
        files = tls.client_files()
        address = f"tls://127.0.0.1:{ports[0]}"
        return {
            "pool": s.pool_name, "scheduler": address,
            "dashboard": f"http://127.0.0.1:{ports[1]}/status" if len(ports) > 1 else None,
            **files, "env": client_env(address, files["ca"], files["cert"], files["key"]),
        }  # fmt: skip

    def disconnect(self) -> int:
        """Close the forwarders; returns how many were open."""
        with self._lock:
            n = len(self._forwarders)
            for f in self._forwarders:
                f.close()
            self._forwarders = []
        return n

    def job_spec(self, s: SeedRole, job_dir: Path, args: list[str]) -> ContainerSpec:
        """The hardened job container (the workers' defaults), in the hub's namespace."""
        d = SECRETS_MOUNT
        env = client_env(f"tls://{bare(s.address)}:{DASK_PORT}", f"{d}/ca.pem", f"{d}/client.pem",
                         f"{d}/client.key")  # fmt: skip
        env.update(HOME="/tmp", PYTHONUNBUFFERED="1")  # noqa: S108 (inside the container)
        return ContainerSpec(
            name=f"{s.prefix}-{s.name}-job-{secrets.token_hex(4)}",
            image=self._head_image(s) or "", command=["python3", f"{d}/{JOB_SCRIPT}", *args],
            env=env, labels={POOL_LABEL: s.pool_id, ROLE_LABEL: "job"},
            netns_path=f"/run/netns/{s.prefix}-{s.name}", cpus=1.0, memory_bytes=2**30,
            secrets_dir=str(job_dir), workdir="/tmp",  # noqa: S108 (inside the container)
        )  # fmt: skip

    def run(self, script: str, args: list[str], on_line: Callable[[str], None]) -> int:
        """Run `script` with `args` as a client of the pool; each output line goes to
        `on_line`; returns its exit code. The container is removed however it ends.

        Raises:
            InvalidInput: the script or its arguments are too large.
            KalavaiError: not a seed of a Dask pool, or the container could not run.
        """
        if len(script) > MAX_SCRIPT or len(args) > MAX_ARGS or any("\0" in a for a in args):
            raise InvalidInput("Script too large", f"At most {MAX_SCRIPT} bytes, {MAX_ARGS} args.")
        s, tls = self._tls()
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self._state_dir))
        spec: ContainerSpec | None = None
        try:
            # 0600 from the start, the owner's key and script alike (the engine gives the
            # container's user the mount)
            for f in ("ca.pem", "client.pem", "client.key"):
                write_text(job_dir / f, (tls.client_dir / f).read_text(), secret=True)
            write_text(job_dir / JOB_SCRIPT, script, secret=True)
            spec = self.job_spec(s, job_dir, args)
            info = self._runtime.run(spec)
            return self._follow(info.id, on_line)
        finally:
            if spec is not None:
                with contextlib.suppress(KalavaiError):
                    self._runtime.remove(spec.name)
            shutil.rmtree(job_dir, ignore_errors=True)

    def _follow(self, ident: str, on_line: Callable[[str], None]) -> int:
        """Stream the job's output until it exits; its exit code."""
        config = getattr(self._runtime, "config", None)
        if config is not None:  # the real engine: follow its log as it is written
            with subprocess.Popen(config.command("logs", "-f", ident), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=config.environ(),
                                  bufsize=1) as proc:  # fmt: skip
                for line in proc.stdout or ():
                    on_line(line.rstrip("\n"))
        else:  # a runtime without a log stream (tests): the whole log once it has exited
            while self._runtime.state(ident).state == "running":
                time.sleep(0.05)
            for line in self._runtime.logs(ident, tail=100000).splitlines():
                on_line(line)
        for _ in range(100):
            info = self._runtime.state(ident)
            if info.state != "running":
                return int(info.exit_code if info.exit_code is not None else 1)
            time.sleep(0.1)
        raise SystemProblem("The job did not finish", f"{ident} still runs after its output.")


def _connect(access: DaskAccess, body: dict[str, Any], line: Callable[[Any], None]) -> None:
    line({"result": access.connect()})


def _disconnect(access: DaskAccess, body: dict[str, Any], line: Callable[[Any], None]) -> None:
    line({"result": {"closed": access.disconnect()}})


def _run(access: DaskAccess, body: dict[str, Any], line: Callable[[Any], None]) -> None:
    script, args = body.get("script"), body.get("args") or []
    if not isinstance(script, str) or not isinstance(args, list):
        raise InvalidInput("Bad request", "Send the script's text and its arguments (strings).")
    code = access.run(script, [str(a) for a in args], lambda text: line({"out": text}))
    line({"result": {"exit_code": code}})


# The LocalAPI's routes for these (newline-JSON answers: `out` lines, then `result`).
DASK_POSTS = {"dask-connect": _connect, "dask-disconnect": _disconnect, "dask-run": _run}


def serve(
    route: str, access: DaskAccess, body: dict[str, Any], line: Callable[[Any], None]
) -> None:
    """Answer one of DASK_POSTS as newline JSON; an error is the last line."""
    try:
        DASK_POSTS[route](access, body, line)
    except KalavaiError as exc:
        line({"error": exc.to_dict()})
