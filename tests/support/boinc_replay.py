"""A BOINC client's GUI RPC socket replayed from recorded replies (tests/usage/data/boinc/),
with the client's nonce authentication: tests read state over the real protocol without a
running client, and see which requests the agent made."""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

from kalavai_like.usage.boinc_rpc import socket_path

REPLIES = {
    "get_results": "results", "get_project_status": "projects", "acct_mgr_info": "acct_mgr",
    "get_host_info": "host", "get_messages": "messages",
}  # fmt: skip


class ReplayClient:
    """The client's GUI RPC socket, answering from recorded replies; auth as the client does."""

    def __init__(self, d: Path, replies: Path, password: str = "pw") -> None:
        self.replies, self.password = replies, password
        self.requests: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with socket_path(d) as path:
            self.sock.bind(path)
        self.sock.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        buf, nonce, authed = b"", "1796310000.123", False
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
            while b"\003" in buf:
                raw, _, buf = buf.partition(b"\003")
                req = raw.decode()
                self.requests.append(req)
                if "<auth1/>" in req:
                    body = f"<nonce>{nonce}</nonce>"
                elif "<auth2>" in req:
                    good = hashlib.md5((nonce + self.password).encode()).hexdigest()
                    authed = good in req
                    body = "<authorized/>" if authed else "<unauthorized/>"
                elif not authed:
                    body = "<unauthorized/>"
                elif "<project_detach_when_done>" in req:
                    body = "<success/>"
                else:
                    name = next(f for tag, f in REPLIES.items() if f"<{tag}" in req)
                    recorded = self.replies / f"rpc_{name}.xml"
                    body = recorded.read_text().strip() if recorded.exists() else f"<{name}/>"
                    body = body.removeprefix("<boinc_gui_rpc_reply>").removesuffix(
                        "</boinc_gui_rpc_reply>")  # fmt: skip
                conn.sendall(
                    f"<boinc_gui_rpc_reply>\n{body}\n</boinc_gui_rpc_reply>\n\003".encode()
                )

    def close(self) -> None:
        self.sock.close()
