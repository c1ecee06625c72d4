"""The BOINC client's GUI RPC over its Unix domain socket (`boinc_socket` in the data
directory; the client runs with `--gui_rpc_unix_domain`), so the agent reads live task progress
without entering the worker's network namespace. Framing and authentication follow
lib/gui_rpc_client.cpp: each request is wrapped in `<boinc_gui_rpc_request>` and ends with
\\003, as does each reply; `<auth1/>` gives a nonce, `<auth2>` answers md5(nonce + password).
The password is read from the data directory's gui_rpc_auth.cfg and never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

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
            with socket_path(boinc_dir) as path:
                self._sock.connect(path)
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


@contextlib.contextmanager
def socket_path(boinc_dir: Path) -> Iterator[str]:
    """The client's socket as a path short enough for AF_UNIX (108 bytes): a deep data
    directory is reached through /proc/self/fd while it is held open."""
    path = str(boinc_dir / SOCKET)
    if len(path.encode()) < 100:
        yield path
        return
    fd = os.open(boinc_dir, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET}"
    finally:
        os.close(fd)


def detach_when_done(boinc_dir: Path) -> list[str]:
    """Tell the client to fetch no more work from any project and to detach from each once its
    tasks are reported (the GUI RPC's project_detach_when_done); returns the projects' URLs.

    Raises:
        RpcError: the client refused (OSError: it does not answer).
    """
    with GuiRpc(boinc_dir) as c:
        urls = [(p.findtext("master_url") or "").strip()
                for p in c.call("<get_project_status/>").iter("project")]  # fmt: skip
        for url in urls:
            reply = c.call(f"<project_detach_when_done>\n<project_url>{escape(url)}</project_url>"
                           "\n</project_detach_when_done>")  # fmt: skip
            if reply.find("success") is None:
                raise RpcError(f"the BOINC client did not agree to finish {url}")
    return urls


def _password(boinc_dir: Path) -> str:
    try:
        return (boinc_dir / AUTH_FILE).read_text().strip()
    except OSError:
        return ""
