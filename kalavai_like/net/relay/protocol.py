"""The relay's wire protocol, spoken by the bridge (client) and the relay server alike.

After the TCP connect the relay sends HELLO (magic + a fresh 32-byte nonce); the client answers
AUTH (magic + its device id + HMAC-SHA256 keyed with the SHA-256 hex digest of its device
credential, over nonce + device id): the credential never crosses the wire and a recorded AUTH
fails on any other connection. The relay then sends a WELCOME frame (or a CLOSE frame with the
reason), and both sides exchange frames:

    kind (1 byte) | 0 (1 byte) | payload length (2 bytes) | overlay IPv4 address (4) | payload

A DATA frame's address is the destination when the client sends it and the source when the
relay delivers it. KEEPALIVE has no payload; CLOSE carries a reason code and its text; WELCOME
carries the client's own address (header), the pool hub's address and the keepalive interval.
Standard library only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import struct
import time
from collections.abc import Callable, Iterator
from enum import IntEnum

MAGIC = b"KLR1"
NONCE_LEN = 32
DEVICE_ID_LEN = 32
MAC_LEN = 32
HELLO_LEN = len(MAGIC) + NONCE_LEN
AUTH_LEN = len(MAGIC) + DEVICE_ID_LEN + MAC_LEN
HEADER = struct.Struct("!BxH4s")
HEADER_LEN = HEADER.size
MAX_PAYLOAD = 65535
# Big enough for any frame, small enough to stay in cache; one read splits into many frames.
READ_BUFFER = 256 * 1024
_WELCOME = struct.Struct("!4sH")
_NO_ADDRESS = bytes(4)
_HEX = frozenset("0123456789abcdef")


class Kind(IntEnum):
    DATA = 1
    KEEPALIVE = 2
    WELCOME = 3
    CLOSE = 4


class Reason(IntEnum):
    """Why the relay closed a connection. `permanent` ones need the platform, not a retry."""

    UNKNOWN_DEVICE = 1
    LEFT = 2
    BAD_CREDENTIAL = 3
    PROTOCOL = 4
    SHUTDOWN = 5
    REPLACED = 6
    TIMEOUT = 7
    BUSY = 8
    CLIENT = 9

    @property
    def permanent(self) -> bool:
        return self in (Reason.UNKNOWN_DEVICE, Reason.LEFT, Reason.BAD_CREDENTIAL)


class ProtocolError(Exception):
    """The peer broke the protocol (or is not a relay / not a client of one)."""


def credential_key(credential: str) -> bytes:
    """The MAC key: the SHA-256 hex digest of a device credential, which is exactly what the
    platform stores as `credential_hash` (kalavai_like.platform.credentials.digest)."""
    return hashlib.sha256(credential.encode("utf-8")).hexdigest().encode("ascii")


def mac(key: bytes, nonce: bytes, device_id: str) -> bytes:
    """HMAC-SHA256 of nonce + device id under `key` (see `credential_key`)."""
    return hmac.new(key, nonce + device_id.encode("ascii"), hashlib.sha256).digest()


def mac_matches(key: bytes, nonce: bytes, device_id: str, presented: bytes) -> bool:
    return hmac.compare_digest(mac(key, nonce, device_id), presented)


def hello(nonce: bytes) -> bytes:
    if len(nonce) != NONCE_LEN:
        raise ValueError("the nonce must be 32 bytes")
    return MAGIC + nonce


def parse_hello(data: bytes) -> bytes:
    """The nonce of a HELLO.

    Raises:
        ProtocolError: not a relay's HELLO.
    """
    if len(data) != HELLO_LEN or not data.startswith(MAGIC):
        raise ProtocolError("the server did not greet like a kalavai-like relay")
    return data[len(MAGIC) :]


def auth(device_id: str, credential: str, nonce: bytes) -> bytes:
    """The client's answer to HELLO."""
    check_device_id(device_id)
    return MAGIC + device_id.encode("ascii") + mac(credential_key(credential), nonce, device_id)


def parse_auth(data: bytes) -> tuple[str, bytes]:
    """(device id, MAC) of an AUTH.

    Raises:
        ProtocolError: malformed.
    """
    if len(data) != AUTH_LEN or not data.startswith(MAGIC):
        raise ProtocolError("the client did not answer like a kalavai-like bridge")
    raw = data[len(MAGIC) : len(MAGIC) + DEVICE_ID_LEN]
    try:
        device_id = check_device_id(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("the device id is not 32 lowercase hex digits") from None
    return device_id, data[len(MAGIC) + DEVICE_ID_LEN :]


def check_device_id(device_id: str) -> str:
    if len(device_id) != DEVICE_ID_LEN or not set(device_id) <= _HEX:
        raise ValueError(f"a device id is 32 lowercase hex digits, not {device_id!r}")
    return device_id


def packed(address: str) -> bytes:
    """An IPv4 address as the 4 bytes of a frame header."""
    return socket.inet_aton(address)


def unpacked(address: bytes) -> str:
    return socket.inet_ntoa(address)


def frame(kind: Kind, address: bytes = _NO_ADDRESS, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a frame carries at most {MAX_PAYLOAD} bytes")
    return HEADER.pack(kind, len(payload), address) + payload


def welcome(address: bytes, hub: bytes, keepalive: int) -> bytes:
    return frame(Kind.WELCOME, address, _WELCOME.pack(hub, keepalive))


def parse_welcome(payload: bytes) -> tuple[bytes, int]:
    """(the pool hub's address, the keepalive interval in seconds).

    Raises:
        ProtocolError: malformed.
    """
    if len(payload) != _WELCOME.size:
        raise ProtocolError("malformed WELCOME")
    hub, keepalive = _WELCOME.unpack(payload)
    return hub, max(1, keepalive)


def close(reason: Reason, text: str) -> bytes:
    return frame(Kind.CLOSE, payload=bytes([reason]) + text.encode("utf-8")[:1000])


def parse_close(payload: bytes) -> tuple[Reason, str]:
    """(reason, text) of a CLOSE; an unknown code reads as PROTOCOL."""
    code = payload[0] if payload else Reason.PROTOCOL
    try:
        reason = Reason(code)
    except ValueError:
        reason = Reason.PROTOCOL
    return reason, bytes(payload[1:]).decode("utf-8", "replace")


async def recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> bytes:
    """Read exactly `size` bytes from a non-blocking socket (for the handshake).

    Raises:
        ProtocolError: the peer closed the connection first.
    """
    data = bytearray()
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise ProtocolError("the connection closed during the handshake")
        data += chunk
    return bytes(data)


class FrameBuffer:
    """A receive buffer: `fill` reads a large chunk from a socket, `frames` splits it.

    `frames()` yields (offset, kind, address, payload start, payload end) of each complete
    frame; offsets index `buf` and `view` and stay valid until the next `fill`, which first
    moves the incomplete tail to the front. A server with many streams shares one buffer and
    keeps each stream's tail (`rest`, `load`), so an idle connection costs no buffer.
    """

    def __init__(self, size: int = READ_BUFFER) -> None:
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.end = 0
        self.done = 0  # where the first frame not yet yielded starts

    def fill(self, sock: socket.socket) -> int:
        """Read what the socket has (0 at EOF). Raises BlockingIOError or OSError."""
        if self.done:
            tail = self.end - self.done
            self.buf[:tail] = self.buf[self.done : self.end]
            self.end, self.done = tail, 0
        n = sock.recv_into(self.view[self.end :])
        self.end += n
        return n

    def read(self, sock: socket.socket) -> int:
        """`fill` for a readiness callback: 0 when there was nothing to read yet.

        Raises:
            OSError: the connection failed, or ConnectionAbortedError: the peer closed it.
        """
        try:
            n = self.fill(sock)
        except BlockingIOError:
            return 0
        if n == 0:
            raise ConnectionAbortedError(0, "the other end closed the connection")
        return n

    def load(self, tail: bytes) -> None:
        """Start from a saved tail: one buffer serves many streams, one read at a time."""
        self.buf[: len(tail)] = tail
        self.end, self.done = len(tail), 0

    def rest(self) -> bytes:
        """What is read and not yet split (an incomplete frame), to save for `load`."""
        return bytes(self.buf[self.done : self.end]) if self.done < self.end else b""

    def frames(self) -> Iterator[tuple[int, int, bytes, int, int]]:
        """The complete frames read and not yet yielded.

        Raises:
            ProtocolError: a frame of an unknown kind.
        """
        buf, end, pos, unpack = self.buf, self.end, self.done, HEADER.unpack_from
        while end - pos >= HEADER_LEN:
            kind, length, address = unpack(buf, pos)
            start = pos + HEADER_LEN
            stop = start + length
            if stop > end:
                return
            if not 0 < kind <= Kind.CLOSE:
                raise ProtocolError(f"unknown frame kind {kind}")
            self.done = stop
            yield pos, kind, address, start, stop
            pos = stop


class Outbox:
    """The sending side of a framed stream on a non-blocking socket: `send` hands data to the
    kernel at once and queues what it did not take, up to `limit` bytes (then it refuses, and
    the caller drops: these are datagrams, and a queue without bound is only delay). The queue
    drains when the socket is writable; `on_drained` is called when it empties.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        on_error: Callable[[OSError], None],
        limit: int = 1024 * 1024,
        on_drained: Callable[[], None] | None = None,
    ) -> None:
        self._loop, self._sock, self._fd = loop, sock, sock.fileno()
        self._on_error, self._on_drained = on_error, on_drained
        self.limit = limit
        self.queue = bytearray()
        self.sent_at = time.monotonic()
        self.closed = False

    @property
    def full(self) -> bool:
        return len(self.queue) >= self.limit

    def send(self, data: bytes | bytearray | memoryview) -> bool:
        """Send or queue `data` (whole frames); False when the queue is full (nothing sent)."""
        if self.closed:
            return False
        self.sent_at = time.monotonic()
        if self.queue:
            if len(self.queue) >= self.limit:
                return False
            self.queue += data
            return True
        try:
            n = self._sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self._on_error(exc)
            return False
        if n < len(data):
            self.queue += data[n:]
            self._loop.add_writer(self._fd, self._writable)
        return True

    def _writable(self) -> None:
        try:
            n = self._sock.send(self.queue)
        except BlockingIOError:
            return
        except OSError as exc:
            self._on_error(exc)
            return
        del self.queue[:n]
        if not self.queue:
            self._loop.remove_writer(self._fd)
            if self._on_drained is not None:
                self._on_drained()

    def close(self) -> None:
        """Stop sending (a queued tail is dropped)."""
        if not self.closed:
            self.closed = True
            if self.queue:
                self._loop.remove_writer(self._fd)
            self.queue.clear()
