"""Mutual TLS for a pool's Dask cluster: the files on the seed and on each member, and
enrolment (a member's CSR signed by the seed over the overlay).

Enrolment: after its WireGuard spoke is up, a member's agent makes a key (it never leaves
the node) and POSTs a CSR to the seed's agent at `http://<hub .1>:ENROL_PORT/v1/dask/csr`,
from the member's own namespace. The seed's agent listens there in the hub's namespace only.
WireGuard binds each source address to one peer's key, so the connection's source address
names the device (through the pool's current peer list); the seed signs a `worker`
certificate with that device id as CN, whatever the CSR says. An address not in the peer list
is refused (403) and the member retries while the hub applies its peer list.

Files (state directory, 0700 directories, keys 0600):
- seed: `dask/<pool>/ca/` (the CA, never mounted), `dask/<pool>/head/` (mounted read-only in
  the head: CA certificate, scheduler certificate and key, the guard, `members.json`),
  `dask/<pool>/client/` (the owner's client certificate, for `pool connect` and `pool run`);
- member: `dask/member-<membership>/` (CA certificate, worker certificate and key, the guard).
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from kalavai_like.agent.pool_ca import RENEW_DAYS, PoolCA, days_left, make_key_and_csr
from kalavai_like.agent.state import Membership
from kalavai_like.client.records import bare
from kalavai_like.container import dask_finish, dask_guard
from kalavai_like.container.templates import FINISH_FILE, GUARD_FILE, MEMBERS_FILE
from kalavai_like.errors import Conflict, InvalidInput, KalavaiError, SystemProblem
from kalavai_like.home.files import write_json, write_text
from kalavai_like.net.namespace import run_in

log = logging.getLogger(__name__)

ENROL_PORT = 8790
ENROL_PATH = "/v1/dask/csr"
MAX_BODY = 16384
# Signings per member (its overlay address, kept across rejoins) within ENROL_WINDOW s: one per
# join or renewal, so a volunteer trying things out stays far below; more is a signing loop.
ENROL_LIMIT, ENROL_WINDOW = 30, 600.0


# The standalone preloads each side mounts next to its certificates: (module, file name there).
HEAD_PRELOADS = ((dask_guard, GUARD_FILE),)
WORKER_PRELOADS = ((dask_guard, GUARD_FILE), (dask_finish, FINISH_FILE))


def _copy_preloads(directory: Path, preloads: tuple[tuple[ModuleType, str], ...]) -> None:
    """The preloads next to the certificates (each replaced only when it changed: a running
    container reads it, its owner set by the engine)."""
    for module, name in preloads:
        source, target = Path(str(module.__file__)), directory / name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            write_text(target, source.read_text(encoding="utf-8"))


def _write_once(path: Path, text: str, *, secret: bool) -> None:
    """Write `path` unless it exists: a mounted file keeps the owner the engine gave it."""
    if not path.exists():
        write_text(path, text, secret=secret)


class SeedTLS:
    """One pool's TLS files on its seed."""

    def __init__(self, state_dir: Path, pool_id: str) -> None:
        self.root = state_dir / "dask" / pool_id
        self.pool_id = pool_id
        self.head_dir = self.root / "head"
        self.client_dir = self.root / "client"

    def prepare(self) -> PoolCA:
        """Make the CA, the scheduler's and the owner's certificates when missing.

        Raises:
            SystemProblem: the files cannot be written.
        """
        try:
            ca = PoolCA(self.root / "ca", self.pool_id)
            for d, role, cn in ((self.head_dir, "scheduler", "scheduler"),
                                (self.client_dir, "client", "owner")):  # fmt: skip
                if not (d / f"{role}.pem").exists():
                    issued = ca.issue(role, cn)
                    write_text(d / f"{role}.key", issued.key, secret=True)
                    write_text(d / f"{role}.pem", issued.cert, secret=True)
                _write_once(d / "ca.pem", ca.ca_pem, secret=False)  # public
            _copy_preloads(self.head_dir, HEAD_PRELOADS)
            if not (self.head_dir / MEMBERS_FILE).exists():
                self.write_members({})
        except OSError as exc:
            raise SystemProblem("Cannot write the pool's certificates", str(exc)) from exc
        return ca

    def write_members(self, devices: dict[str, str]) -> None:
        """The guard's member list from the peer list (overlay address -> device id)."""
        members = {device: address for address, device in devices.items()}
        write_json(self.head_dir / MEMBERS_FILE, {"version": 1, "members": members})

    def client_files(self) -> dict[str, str]:
        """The owner's client certificate files (paths)."""
        d = self.client_dir
        return {"ca": str(d / "ca.pem"), "cert": str(d / "client.pem"),
                "key": str(d / "client.key")}  # fmt: skip

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class EnrolServer(threading.Thread):
    """Signs members' CSRs, listening on the hub's overlay address in its namespace."""

    def __init__(
        self, ca: PoolCA, netns: str | None, address: str, devices: Callable[[], dict[str, str]],
        port: int = ENROL_PORT,
    ) -> None:  # fmt: skip
        super().__init__(name="dask-enrol", daemon=True)
        self.ca, self.devices = ca, devices
        self.clock = time.monotonic
        self._signed: dict[str, list[float]] = {}  # member address -> when its CSRs were signed
        self._lock = threading.Lock()
        sock = run_in(netns, lambda: socket.create_server((address, port), reuse_port=False))
        self.httpd = http.server.ThreadingHTTPServer((address, port), self._handler(),
                                                     bind_and_activate=False)  # fmt: skip
        self.httpd.socket.close()
        self.httpd.socket = sock

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, body = server.answer(self.path, self.client_address[0], self._body())
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> str:
                try:
                    n = max(0, int(self.headers.get("Content-Length") or 0))
                except ValueError:
                    n = 0  # no readable length: an empty CSR, refused as such
                return self.rfile.read(min(n, MAX_BODY)).decode(errors="replace")

            def log_message(self, format: str, *args: Any) -> None:
                log.info("enrol: " + format, *args)

        return Handler

    def answer(self, path: str, source: str, csr: str) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for one enrolment request from `source`."""
        if path != ENROL_PATH:
            return 404, {"title": "Not found", "message": f"POST {ENROL_PATH}."}
        device = self.devices().get(source)
        if device is None:
            return 403, {"title": "Not a member",
                         "message": f"{source} is not in the pool's peer list (yet)."}  # fmt: skip
        wait = self._too_soon(source)
        if wait:
            return 429, {"title": "Too many certificate requests",
                         "message": f"This member asked {ENROL_LIMIT} times within "
                         f"{ENROL_WINDOW / 60:.0f} min; try again in {wait:.0f} s."}  # fmt: skip
        try:
            cert = self.ca.sign_csr(csr, "worker", device)
        except InvalidInput as exc:
            return 400, {"title": exc.title, "message": exc.message}
        log.info("enrol: signed a worker certificate for %s (%s)", device, source)
        return 200, {"cert": cert, "ca": self.ca.ca_pem, "device_id": device}

    def _too_soon(self, source: str) -> float:
        """Seconds `source` must wait before its next signing (0: now; this one counts)."""
        now = self.clock()
        with self._lock:
            recent = [t for t in self._signed.get(source, []) if now - t < ENROL_WINDOW]
            if len(recent) >= ENROL_LIMIT:
                self._signed[source] = recent
                return max(1.0, recent[0] + ENROL_WINDOW - now)
            self._signed[source] = [*recent, now]
            return 0.0

    def run(self) -> None:
        self.httpd.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def member_dir(state_dir: Path, membership_id: str) -> Path:
    return state_dir / "dask" / f"member-{membership_id}"


def request_cert(netns: str | None, host: str, csr: str, port: int = ENROL_PORT,
                 timeout: float = 10.0) -> dict[str, Any]:  # fmt: skip
    """POST the CSR to the seed's agent from `netns`.

    Raises:
        Conflict: the seed does not (yet) list this node as a member.
        SystemProblem: the seed cannot be reached or answered something else.
    """
    try:
        sock = run_in(netns, lambda: socket.create_connection((host, port), timeout=timeout))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request("POST", ENROL_PATH, body=csr.encode(),
                     headers={"Content-Type": "application/x-pem-file"})  # fmt: skip
        resp = conn.getresponse()
        body = json.loads(resp.read(MAX_BODY * 4) or b"{}")
        conn.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise SystemProblem("Cannot reach the pool's seed for a certificate",
                            f"{host}:{port}: {exc}.") from exc  # fmt: skip
    if resp.status == 403:
        raise Conflict(str(body.get("title", "Refused")), str(body.get("message", "")))
    if resp.status != 200 or not isinstance(body.get("cert"), str):
        raise SystemProblem("The pool's seed refused the certificate request",
                            f"{resp.status}: {body.get('message', '')}")  # fmt: skip
    return dict(body)


def enrol(state_dir: Path, membership_id: str, netns: str | None, head_address: str,
          deadline: float = 60.0) -> Path:  # fmt: skip
    """A worker certificate for this membership, its key made here; returns the directory to
    mount in the worker. Retries while the seed has not yet applied this node as a peer.

    Raises:
        KalavaiError: no certificate within `deadline` seconds.
    """
    d = member_dir(state_dir, membership_id)
    key, csr = make_key_and_csr(membership_id)
    end, wait = time.monotonic() + deadline, 0.5
    while True:
        try:
            got = request_cert(netns, bare(head_address) or head_address, csr)
            break
        except KalavaiError:
            if time.monotonic() + wait > end:
                raise
            time.sleep(wait)
            wait = min(wait * 2, 5.0)
    try:
        write_text(d / "worker.key", key, secret=True)
        write_text(d / "worker.pem", str(got["cert"]), secret=True)
        write_text(d / "ca.pem", str(got["ca"]))  # public
        _copy_preloads(d, WORKER_PRELOADS)
    except OSError as exc:
        raise SystemProblem("Cannot write the worker's certificate", str(exc)) from exc
    return d


def member_secrets(state_dir: Path, m: Membership, dask_tls: bool) -> str | None:
    """The membership's certificate directory, when its pool speaks mutual TLS and it has one."""
    d = member_dir(state_dir, m.id)
    return str(d) if dask_tls and m.template == "dask" and (d / "worker.pem").exists() else None


def ensure_member_cert(state_dir: Path, m: Membership, dask_tls: bool) -> bool:
    """Enrol when the pool needs a certificate and none is kept, or the one kept has fewer
    than RENEW_DAYS left (at a join, at each agent start and every 6 h while it runs); True
    when one was got.

    Raises:
        KalavaiError: the seed did not sign one in time (a kept one still valid is used).
    """
    if not dask_tls or m.template != "dask":
        return False
    kept = member_secrets(state_dir, m, dask_tls)
    if kept:  # kept from an earlier agent, which may have preloaded less
        _copy_preloads(Path(kept), WORKER_PRELOADS)
    left = days_left((Path(kept) / "worker.pem").read_text()) if kept else -1.0
    if left >= RENEW_DAYS:
        return False
    try:
        enrol(state_dir, m.id, f"{m.prefix}-{m.name}", m.head_address or "")
    except KalavaiError:
        if left <= 0:
            raise
        log.warning("worker certificate not renewed (%.0f days left): seed unreachable", left)
        return False
    return True


def forget_member(state_dir: Path, membership_id: str) -> None:
    """Remove a membership's certificate and key (it left the pool)."""
    shutil.rmtree(member_dir(state_dir, membership_id), ignore_errors=True)
