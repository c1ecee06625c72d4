"""What one request may send, on the real server: oversized bodies get 413 and oversized heads
431 without the server's memory growing, and deeply nested JSON gets 400 on every route."""

from __future__ import annotations

import json
import re
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from kalavai_like.platform.local import LocalPlatform, start_local_platform
from kalavai_like.platform.settings import PlatformSettings
from tests.support.platform_api import Api, unique

MiB = 1024 * 1024
ATTACK = 64 * MiB  # what an attacker tries to send; the server must not hold it
FLAT = 8 * MiB  # the server's peak memory may grow at most this much meanwhile
LIMITS = PlatformSettings(data_dir=Path("."), public_url="http://x")
DEVICE = "Bearer kld_" + "A" * 43


@pytest.fixture(scope="module")
def lone_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """A platform of this module's own, so its memory shows only this module's traffic."""
    with start_local_platform(tmp_path_factory.mktemp("limits"), workers=1) as server:
        yield server


class Peak:
    """The server's peak resident memory (Linux VmHWM), reset to its current size at start."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak := current
        self.start = psutil.Process(pid).memory_info().rss

    def growth(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        assert found, status
        return int(found.group(1)) * 1024 - self.start


def _send(
    url: str, head: bytes, stream: bytes, total: int, tail: bytes = b""
) -> tuple[int, dict[str, object]]:
    """Send `head`, then `stream` repeated up to `total` bytes (and `tail`) or until the server
    answers or closes; the answer's status and JSON body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        view, sent = memoryview(stream), 0
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            assert readable or writable, "the server neither read nor answered"
            if readable:
                break  # it answered (or closed) before taking everything
            try:
                sent += sock.send(view[sent % len(stream) :])
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(10)
        if sent >= total:
            sock.sendall(tail)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    head_text, _, body = answer.partition(b"\r\n\r\n")
    assert head_text.startswith(b"HTTP/1.1 "), answer[:200]
    return int(head_text.split()[1]), json.loads(body) if body else {}


def _length(answer: bytes) -> int:
    found = re.search(rb"(?im)^content-length:\s*(\d+)", answer.partition(b"\r\n\r\n")[0])
    return int(found.group(1)) if found else 0


def _post_head(path: str, headers: dict[str, str], framing: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join([*lines, framing]) + "\r\n\r\n").encode()


CHUNK = b"%x\r\n" % MiB + b" " * MiB + b"\r\n"  # one 1 MiB chunk of chunked encoding
CALLERS = {
    "heartbeat-anonymous": ("/api/v1/device/heartbeat", {}),
    "heartbeat-device": (
        "/api/v1/device/heartbeat",
        {"Authorization": DEVICE, "Content-Type": "application/json"},
    ),
    "sign-up": ("/api/v1/accounts", {"Content-Type": "application/json"}),
    "web-login": ("/login", {"Content-Type": "application/x-www-form-urlencoded"}),
}


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("caller", list(CALLERS))
def test_oversized_body_is_refused_unread(
    lone_platform: LocalPlatform, caller: str, framing: str
) -> None:
    path, headers = CALLERS[caller]
    if framing == "chunked":
        head, stream = _post_head(path, headers, "Transfer-Encoding: chunked"), CHUNK
    else:
        head, stream = _post_head(path, headers, f"Content-Length: {ATTACK}"), b" " * MiB
    peak = Peak(lone_platform.pid)
    total = ATTACK // MiB * len(stream)  # whole chunks
    status, body = _send(lone_platform.url, head, stream, total, b"0\r\n\r\n")
    assert status == 413, body
    assert body["error"]["title"] == "Request too large"  # type: ignore[index]
    assert f"at most {LIMITS.max_body_bytes} bytes" in body["error"]["message"]  # type: ignore[index]
    assert peak.growth() < FLAT, f"the server grew by {peak.growth() / MiB:.1f} MiB"


def test_oversized_head_is_refused_unread(lone_platform: LocalPlatform) -> None:
    peak = Peak(lone_platform.pid)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
    status, body = _send(lone_platform.url, head, b"a" * MiB, ATTACK)
    assert status == 431, body
    assert body["error"]["title"] == "Request headers too large"  # type: ignore[index]
    assert peak.growth() < FLAT, f"the server grew by {peak.growth() / MiB:.1f} MiB"
    status, body = _send(lone_platform.url, b"GET /", b"a" * MiB, ATTACK)  # a huge URL
    assert status == 431, body
    assert Api(lone_platform.url).http.get("/healthz").status_code == 200  # still serving


def test_requests_at_the_limits_are_served(api: Api) -> None:
    """A body of exactly the limit is read, a head just under it too, and many requests on
    one kept-alive connection do not add up to one head."""
    fields = {"email": f"{unique('limit')}@example.org", "password": "correct horse"}
    raw = json.dumps(fields).encode()
    raw += b" " * (LIMITS.max_body_bytes - len(raw))
    r = api.http.post("/api/v1/accounts", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    padding = {"X-Padding": "a" * (LIMITS.max_head_bytes - 1024)}
    assert api.http.get("/healthz", headers=padding).status_code == 200
    padding = {"X-Padding": "a" * 1024}
    for _ in range(3 * LIMITS.max_head_bytes // 1024):
        assert api.http.get("/healthz", headers=padding).status_code == 200


def _operations(api: Api) -> list[tuple[str, str]]:
    schema = api.http.get("/openapi.json").json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "0" * 32, path))
        for path, methods in schema["paths"].items()
        for method in methods
    ]


def test_deeply_nested_json_is_refused_on_every_route(api: Api) -> None:
    user = api.user()
    nested = b"[" * 100_000
    ops = _operations(api)
    assert ("POST", "/api/v1/device/heartbeat") in ops and len(ops) >= 25
    for credential in (DEVICE, f"Bearer {user.credential}", None):
        headers = {"Content-Type": "application/json"}
        if credential:
            headers["Authorization"] = credential
        for method, path in ops:
            r = api.http.request(method, path, content=nested, headers=headers)
            assert r.status_code == 400, (method, path, r.text)
            error = r.json()["error"]
            assert error["title"] == "JSON nested too deeply", (method, path, error)
            assert f"more than {LIMITS.max_json_depth} levels" in error["message"]


def test_brackets_inside_strings_are_not_nesting(api: Api) -> None:
    fields = {"email": f"{unique('brackets')}@example.org", "password": "[{" * 200 + '\\"'}
    r = api.http.post("/api/v1/accounts", json=fields)
    assert r.status_code == 201, r.text
