"""The hub's witness report as `PlatformClient` sends it (the endpoint itself is the platform's
and is tested there): one POST to /api/v1/device/witness with the hub's credential and the
report as JSON, the platform's answer returned as it came, its refusal as the error it names."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kalavai_like.client.platform import PlatformClient
from kalavai_like.errors import AuthError

REPORT = {
    "epoch": "e" * 32,
    "seq": 7,
    "devices": [{"device_id": "d" * 32, "tasks": 3, "compute_seconds": 1.5,
                 "connected_seconds": 60.0, "threads": 2}],
}  # fmt: skip


class Recorder:
    """A loopback server answering the next request with `status` and `body`."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.status, self.body = 200, b"{}"
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                rec.seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                 "type": self.headers.get("Content-Type"),
                                 "body": json.loads(self.rfile.read(length))})  # fmt: skip
                self.send_response(rec.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(rec.body)))
                self.end_headers()
                self.wfile.write(rec.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def test_a_witness_report_is_one_post_with_the_hubs_credential(recorder: Recorder) -> None:
    refused = [{"device_id": "f" * 32, "reason": "not a device of this pool"}]
    answer = {"epoch": "e" * 32, "seq": 7, "duplicate": False, "refused": refused}
    recorder.body = json.dumps(answer).encode()
    with PlatformClient(recorder.url, "kld_hubcredential") as c:
        assert c.witness(REPORT) == answer
    (req,) = recorder.seen
    assert req["path"] == "/api/v1/device/witness" and req["auth"] == "Bearer kld_hubcredential"
    assert req["type"] == "application/json" and req["body"] == REPORT


def test_a_refused_witness_report_is_the_error_the_platform_names(recorder: Recorder) -> None:
    recorder.status = 403
    error = {"kind": "AuthError", "title": "Not a hub", "message": "Only a pool's hub reports."}
    recorder.body = json.dumps({"error": error}).encode()
    with PlatformClient(recorder.url, "kld_worker") as c, pytest.raises(AuthError, match="hub"):
        c.witness(REPORT)
    assert len(recorder.seen) == 1, "a report is never retried by the client itself"
