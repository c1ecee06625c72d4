"""The LocalAPI over a real unix socket: NodeClient round trips, the watch stream, writes
refused to a non-operator uid (a real client process as uid 65534) and to requests with
Origin or Referer, and a clear message when no agent runs."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalavai_like.agent.localapi import LocalAPIServer
from kalavai_like.client.local import NodeClient
from kalavai_like.client.records import JoinRequest
from kalavai_like.errors import AgentUnavailable, NotFound
from tests.support.agent_fakes import World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, Path]]:
    world = World(tmp_path)
    node = world.node()
    # a directory others may traverse, like a real run dir, so uid 65534 can connect
    run = Path(tempfile.mkdtemp(prefix="kt6-localapi-"))
    run.chmod(0o755)
    sock = run / "agent.sock"
    server = LocalAPIServer(sock, node).start()
    try:
        yield world, sock
    finally:
        server.close()
        node.close()
        shutil.rmtree(run, ignore_errors=True)


def test_client_has_the_nodes_methods(served: tuple[World, Path]) -> None:
    world, sock = served
    client = NodeClient(sock)
    assert client.status().state == "idle"
    steps: list[str] = []
    req = JoinRequest(world.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30)
    result = client.join(req, lambda s: steps.append(s.text))
    assert result.address == "10.77.0.2" and steps[-1].startswith("First heartbeat")
    watch = client.watch()
    assert next(watch).state == "running"
    assert client.pause().state == "paused"
    assert next(watch).state == "paused"
    assert client.resume().state == "running"
    assert client.stop().state == "idle"
    assert client.stop().already
    with pytest.raises(NotFound):
        client.pause()


def _raw(sock: Path, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("localhost")
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    conn.sock = s
    conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


@pytest.mark.parametrize("header", ["Origin", "Referer"])
def test_requests_from_browsers_are_refused(served: tuple[World, Path], header: str) -> None:
    _, sock = served
    status, body = _raw(sock, "POST", "/localapi/v0/pause", {header: "http://evil.example"})
    assert status == 403 and body["error"]["title"] == "Refused a browser request"
    status, _ = _raw(sock, "GET", "/localapi/v0/status", {header: "http://evil.example"})
    assert status == 403


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
def test_non_operator_uid_may_read_but_not_write(served: tuple[World, Path]) -> None:
    world, sock = served
    NodeClient(sock).join(JoinRequest(world.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30))
    code = (
        "import sys; from kalavai_like.client.local import NodeClient\n"
        "from kalavai_like.errors import AuthError\n"
        f"c = NodeClient(__import__('pathlib').Path({str(sock)!r}))\n"
        "print(c.status().state)\n"
        "try:\n    c.pause()\nexcept AuthError as e:\n    print('refused:', e.title)\n"
    )
    proc = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
         sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["running", "refused: Not allowed"]
    assert NodeClient(sock).status().state == "running"  # nothing changed


def test_no_agent_says_how_to_start_it(tmp_path: Path) -> None:
    with pytest.raises(AgentUnavailable) as info:
        NodeClient(tmp_path / "agent.sock", home_hint="/srv/kl").status()
    assert "kalavai-like agent --home /srv/kl" in info.value.message
    assert "--start-agent" in info.value.message


def test_metrics_over_the_localapi(served: tuple[World, Path]) -> None:
    world, sock = served
    NodeClient(sock).join(JoinRequest(world.platform.mint(), "klu_x", cpus=1, memory_bytes=2**30))
    conn = http.client.HTTPConnection("localhost")
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    conn.sock = s
    conn.request("GET", "/localapi/v0/metrics")
    text = conn.getresponse().read().decode()
    assert "kalavai_like_" in text and 'state="running"' in text
