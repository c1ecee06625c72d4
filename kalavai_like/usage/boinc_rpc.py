"""The BOINC client's GUI RPC over its Unix domain socket (`boinc_socket` in the data
directory; the client runs with `--gui_rpc_unix_domain`), so the agent reads live task progress
without entering the worker's network namespace. Framing and authentication follow
lib/gui_rpc_client.cpp: each request is wrapped in `<boinc_gui_rpc_request>` and ends with
\\003, as does each reply; `<auth1/>` gives a nonce, `<auth2>` answers md5(nonce + password).
The password is read from the data directory's gui_rpc_auth.cfg and never logged.
"""

from __future__ import annotations

import hashlib
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

SOCKET = "boinc_socket"
AUTH_FILE = "gui_rpc_auth.cfg"
MAX_REPLY = 32 * 2**20


class RpcError(Exception):
    """The client did not answer, or refused us."""


class GuiRpc:
    """One authorised connection to the client whose data directory is `boinc_dir`."""

    def __init__(self, boinc_dir: Path, timeout: float = 2.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(boinc_dir / SOCKET))
            password = _password(boinc_dir)
            if password:
                nonce = self.call("<auth1/>").findtext("nonce") or ""
                digest = hashlib.md5((nonce + password).encode()).hexdigest()  # noqa: S324 (BOINC's)
                reply = self.call(f"<auth2>\n<nonce_hash>{digest}</nonce_hash>\n</auth2>")
                if reply.find("authorized") is None:
                    raise RpcError("the BOINC client refused the GUI RPC password")
        except (OSError, RpcError):
            self._sock.close()
            raise

    def call(self, request: str) -> ET.Element:
        """Send one request; its reply's root (`<boinc_gui_rpc_reply>`).

        Raises:
            RpcError: no well-formed reply (OSError for a broken connection).
        """
        msg = f"<boinc_gui_rpc_request>\n{request}\n</boinc_gui_rpc_request>\n\003"
        self._sock.sendall(msg.encode())
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise RpcError("the BOINC client closed the GUI RPC connection")
            chunks.append(chunk)
            size += len(chunk)
            if chunk.endswith(b"\003"):
                break
            if size > MAX_REPLY:
                raise RpcError("the BOINC client's GUI RPC reply is too large")
        text = b"".join(chunks).rstrip(b"\003")
        try:
            return ET.fromstring(text)  # noqa: S314 (our own worker's client; no DTDs)
        except ET.ParseError as exc:
            raise RpcError(f"unreadable GUI RPC reply: {exc}") from None

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> GuiRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _password(boinc_dir: Path) -> str:
    try:
        return (boinc_dir / AUTH_FILE).read_text().strip()
    except OSError:
        return ""
