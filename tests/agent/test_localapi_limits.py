"""What a local caller may cost the agent, against the real LocalAPI server in-process: bodies
are bounded, a caller who may not write (a real process as uid 65534) is refused before its
body is read, idle connections are closed, and one user cannot hold more than a few
connections (threads) at once while root still gets in."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kalavai_like.agent.callers import LocalAPILimits
from kalavai_like.agent.localapi import LocalAPIServer
from kalavai_like.client.local import NodeClient
from tests.support.agent_fakes import World
from tests.support.processes import stop
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="runs a client as uid 65534"
)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[LocalAPILimits], Path]]:
    """Start the LocalAPI with the given limits; its socket path."""
    world = World(tmp_path)
    node = world.node()
    run = Path(tempfile.mkdtemp(prefix="kl-localapi-limits-"))
    run.chmod(0o755)  # like a real run dir: uid 65534 may connect
    servers: list[LocalAPIServer] = []

    def start(limits: LocalAPILimits) -> Path:
        servers.append(LocalAPIServer(run / "agent.sock", node, limits=limits).start())
        return run / "agent.sock"

    try:
        yield start
    finally:
        for server in servers:
            server.close()
        node.close()
        shutil.rmtree(run, ignore_errors=True)


def _ask(sock: Path, request: bytes) -> bytes:
    """Send `request` (maybe a head whose body never comes); the answer, within 5 s."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        return answer


def test_a_negative_or_huge_length_is_answered_unread(serve: Callable[..., Path]) -> None:
    sock = serve(LocalAPILimits())
    answer = _ask(sock, b"POST /localapi/v0/pause HTTP/1.0\r\nContent-Length: -1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400") and b"Content-Length in bytes" in answer
    answer = _ask(sock, b"POST /localapi/v0/pause HTTP/1.0\r\nContent-Length: 999999999\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 413") and b"at most 65536 bytes" in answer
    assert NodeClient(sock).status().state == "idle"


def test_idle_connections_are_closed(serve: Callable[..., Path]) -> None:
    sock = serve(LocalAPILimits(idle_timeout=0.5))
    assert _ask(sock, b"") == b""  # nothing sent: closed by the agent, not the 5 s timeout
    assert _ask(sock, b"POST /localapi/v0/pause HTTP/1.0\r\nContent-Length: 10\r\n\r\n") == b""


NOBODY = """
import select, socket, sys
path, count, request = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
socks = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    try:
        s.sendall(request)
    except (BrokenPipeError, ConnectionResetError):  # turned away before we finished: read why
        pass
    socks.append(s)
answers, waiting = {}, list(socks)
while waiting and select.select(waiting, [], [], float(sys.argv[4]))[0]:
    for s in select.select(waiting, [], [], 0)[0]:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:  # closed by the agent with our request unread
            chunk = b""
        answers[s] = answers.get(s, b"") + chunk
        if not chunk:
            waiting.remove(s)
print(len(waiting), *sorted({a.split(b"\\r\\n")[0].decode() for a in answers.values()}), sep="|")
sys.stdout.flush()
sys.stdin.read()  # hold the connections until the test is done
"""


def _as_nobody(sock: Path, count: int, request: bytes, quiet: float) -> subprocess.Popen[str]:
    """A process as uid 65534 that opens `count` connections sending `request` each, and
    prints how many got no answer within `quiet` s of silence, and the status lines seen."""
    return subprocess.Popen(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable,
         "-c", NOBODY, str(sock), str(count), request.decode(), str(quiet)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


@needs_root
def test_a_caller_who_may_not_write_is_refused_before_the_body(
    serve: Callable[..., Path],
) -> None:
    sock = serve(LocalAPILimits())
    for length in ("60000", "-1"):  # a body that never comes, or "read until close"
        head = f"POST /localapi/v0/pause HTTP/1.0\r\nContent-Length: {length}\r\n\r\n"
        proc = _as_nobody(sock, 1, head.encode(), quiet=5)
        try:
            out = proc.stdout.readline().strip()  # type: ignore[union-attr]
        finally:
            stop(proc)
        assert out == "0|HTTP/1.0 403 Forbidden", (length, out)


@needs_root
def test_one_user_cannot_hold_the_agents_threads(serve: Callable[..., Path]) -> None:
    limits = LocalAPILimits(idle_timeout=60, max_per_uid=8, max_connections=16)
    sock = serve(limits)
    before = threading.active_count()
    half_sent = b"POST /localapi/v0/pause HTTP/1.0\r\nContent-Length: 100\r\n"  # never ends
    proc = _as_nobody(sock, 100, half_sent, quiet=3)
    try:
        out = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert out == "8|HTTP/1.0 503 Service Unavailable", out  # 92 turned away at once
        assert threading.active_count() - before <= limits.max_per_uid
        assert NodeClient(sock).status().state == "idle"  # root still gets in
    finally:
        stop(proc)
    wait_for(lambda: threading.active_count() <= before, what="the held connections to end")


@pytest.mark.parametrize("cpus", ["NaN", "Infinity", '"2"', "true", "0"])
def test_the_agent_refuses_a_join_with_cores_that_are_no_number(
    serve: Callable[..., Path], cpus: str
) -> None:
    """Never trust the client: the LocalAPI's JSON may carry NaN, a string, anything."""
    from kalavai_like import tokens

    token, _ = tokens.mint(platform="http://127.0.0.1:9", pool_id="p1", pool_name="science",
                           expires_at=4_000_000_000)  # fmt: skip
    sock = serve(LocalAPILimits())
    body = f'{{"token": "{token}", "api_token": "k", "cpus": {cpus}, "memory_bytes": 1073741824}}'
    head = f"POST /localapi/v0/join HTTP/1.0\r\nContent-Length: {len(body)}\r\n\r\n"
    answer = _ask(sock, (head + body).encode())
    last = json.loads(answer.strip().splitlines()[-1])
    assert last["error"]["title"] == "Bad CPU limit", last
    assert "give a number above 0" in last["error"]["message"]
    assert NodeClient(sock).status().state == "idle"
