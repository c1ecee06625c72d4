"""The bridge's data path while it is connected: WireGuard's datagrams <-> one relay stream.

Each peer the bridge carries has a local UDP socket on 127.0.0.1, connected to WireGuard's
listen port (so it hears only WireGuard, and WireGuard's per-peer endpoint roaming maps each
socket to one peer). A datagram read on a peer's socket becomes a DATA frame to that peer's
overlay address; a DATA frame from the relay leaves, by its source address, from that peer's
socket to WireGuard. Reads drain a socket in one go into one buffer, headers written in
place, and go to the relay in one send.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import time
from dataclasses import dataclass, field

from kalavai_like.net.relay import protocol
from kalavai_like.net.relay.protocol import HEADER, HEADER_LEN, Kind, Reason

LOOPBACK = "127.0.0.1"
# WireGuard's datagrams are an MTU and its overhead; a slot takes any UDP datagram whole.
_SLOT = 65535
_SCRATCH = 512 * 1024
# As wireguard-go's own: a few MiB ride out the moments a busy host does not run us (the
# FORCE options pass net.core.rmem_max when we are root, as the agent is).
_SOCKET_BUFFER = 4 * 1024 * 1024
_BUFFER_OPTIONS = (  # Linux's numbers: Python's socket module names them from 3.12
    (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF),
    (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF),
)
_DATA, _KEEPALIVE, _CLOSE = int(Kind.DATA), int(Kind.KEEPALIVE), int(Kind.CLOSE)
_UDP_SEGMENT = 103  # Linux (4.18+): UDP GSO; Python's socket module does not name it
_NO_GSO = {errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP}


@dataclass
class PeerPort:
    """One carried peer: its overlay address, its local UDP socket, and what went through."""

    address: str
    sock: socket.socket
    to_relay_packets: int = 0
    to_relay_bytes: int = 0
    from_relay_packets: int = 0
    from_relay_bytes: int = 0
    header: bytes = field(default=b"", repr=False)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def view(self) -> dict[str, int]:
        return {
            "port": self.port,
            "to_relay_packets": self.to_relay_packets,
            "to_relay_bytes": self.to_relay_bytes,
            "from_relay_packets": self.from_relay_packets,
            "from_relay_bytes": self.from_relay_bytes,
        }


class Ports:
    """The bridge's local UDP sockets, by the packed overlay address of the peer each carries.

    With `on_demand`, a frame from a pool device not yet carried opens a socket for it (the
    hub: the relay vouches that the sender is an enrolled device of the pool).
    """

    def __init__(self, wireguard_port: int, on_demand: bool, limit: int = 4096) -> None:
        self.wireguard_port = wireguard_port
        self.on_demand = on_demand
        self.limit = limit
        self.by_address: dict[bytes, PeerPort] = {}
        self.on_open: list[PeerPort] = []  # opened since the tunnel last looked

    def open(self, address: str) -> PeerPort:
        key = protocol.packed(address)
        known = self.by_address.get(key)
        if known is not None:
            return known
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for forced, plain in _BUFFER_OPTIONS:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, forced, _SOCKET_BUFFER)
                except PermissionError:
                    sock.setsockopt(socket.SOL_SOCKET, plain, _SOCKET_BUFFER)
            sock.bind((LOOPBACK, 0))
            sock.connect((LOOPBACK, self.wireguard_port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        peer = PeerPort(address, sock, header=key)
        self.by_address[key] = peer
        self.on_open.append(peer)
        return peer

    def for_frame(self, key: bytes) -> PeerPort | None:
        """The peer a frame from `key` goes out by (opened now if allowed), or None."""
        peer = self.by_address.get(key)
        if peer is None and self.on_demand and len(self.by_address) < self.limit:
            with contextlib.suppress(OSError):
                peer = self.open(protocol.unpacked(key))
        return peer

    def close(self) -> None:
        for peer in self.by_address.values():
            peer.sock.close()
        self.by_address.clear()


@dataclass
class Drops:
    """Datagrams the bridge could not carry, by why."""

    relay_busy: int = 0  # the stream to the relay was backed up
    no_peer: int = 0  # a frame from an address the bridge does not carry
    wireguard: int = 0  # WireGuard's socket refused or was full

    def view(self) -> dict[str, int]:
        return {"relay_busy": self.relay_busy, "no_peer": self.no_peer, "wireguard": self.wireguard}


class Segments:
    """Datagrams for one peer handed to the kernel in one call with UDP GSO: it cuts one
    buffer into datagrams of `size` (the last may be shorter). On loopback that halves the CPU
    of one send per datagram, for the bridge and for WireGuard, woken once per batch. Falls
    back to one send per datagram where the kernel has no GSO."""

    MAX, MAX_BYTES = 64, 65000

    def __init__(self, drops: Drops) -> None:
        self._drops = drops
        self.gso = True
        self._peer: PeerPort | None = None
        self._parts: list[memoryview] = []
        self._size = self._total = 0

    def add(self, peer: PeerPort, part: memoryview) -> None:
        """Queue one datagram for `peer` (sent with the batch it joins)."""
        length = len(part)
        parts = self._parts
        if parts and (
            peer is not self._peer
            or length > self._size
            or len(parts) >= self.MAX
            or self._total + length > self.MAX_BYTES
        ):
            self.flush()
        if not parts:
            self._peer, self._size = peer, length
        parts.append(part)
        self._total += length
        if length < self._size:  # a shorter datagram can only end a batch
            self.flush()

    def flush(self) -> None:
        """Send what is queued (before the buffer the parts point into is reused)."""
        parts, peer = self._parts, self._peer
        if not parts or peer is None:
            return
        try:
            if len(parts) == 1:
                peer.sock.send(parts[0])
            elif self.gso:
                cmsg = [(socket.SOL_UDP, _UDP_SEGMENT, struct.pack("H", self._size))]
                peer.sock.sendmsg(parts, cmsg)
            else:
                self._one_by_one(peer, parts)
                return
        except OSError as exc:
            if len(parts) > 1 and self.gso and exc.errno in _NO_GSO:
                self.gso = False
                self._one_by_one(peer, parts)
            else:  # full, or WireGuard not listening
                self._drops.wireguard += len(parts)
                self._reset()
            return
        peer.from_relay_packets += len(parts)
        peer.from_relay_bytes += self._total
        self._reset()

    def _one_by_one(self, peer: PeerPort, parts: list[memoryview]) -> None:
        for part in parts:
            try:
                peer.sock.send(part)
            except OSError:
                self._drops.wireguard += 1
                continue
            peer.from_relay_packets += 1
            peer.from_relay_bytes += len(part)
        self._reset()

    def _reset(self) -> None:
        self._parts.clear()
        self._peer, self._size, self._total = None, 0, 0


class Tunnel:
    """One connected relay stream and the UDP sockets it serves; `ended` resolves to why it
    ended: (Reason or None, text)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        ports: Ports,
        drops: Drops,
        rx: protocol.FrameBuffer,
    ) -> None:
        self._loop, self._sock, self._ports, self._drops = loop, sock, ports, drops
        self._rx = rx
        self._segments = Segments(drops)
        self._out = protocol.Outbox(loop, sock, self._failed, on_drained=self._resume)
        self._scratch = bytearray(_SCRATCH)
        self._view = memoryview(self._scratch)
        self._reading: set[int] = set()
        self.received_at = time.monotonic()
        self.ended: asyncio.Future[tuple[Reason | None, str]] = loop.create_future()

    def start(self) -> None:
        self._loop.add_reader(self._sock.fileno(), self._from_relay)
        self._ports.on_open.clear()
        self._resume()

    def _resume(self) -> None:
        for peer in self._ports.by_address.values():
            fd = peer.sock.fileno()
            if fd not in self._reading:
                self._loop.add_reader(fd, self._from_wireguard, peer)
                self._reading.add(fd)

    def _pause(self) -> None:
        for fd in self._reading:
            self._loop.remove_reader(fd)
        self._reading.clear()

    def _from_wireguard(self, peer: PeerPort) -> None:
        """Drain one peer's socket into frames and send them in one go."""
        if self._out.full:
            self._pause()  # the kernel's socket buffer holds (and then drops) the rest
            return
        recv, pack, view, scratch = peer.sock.recv_into, HEADER.pack_into, self._view, self._scratch
        pos, count, limit, data = 0, 0, _SCRATCH - _SLOT - HEADER_LEN, _DATA
        while pos <= limit:
            try:
                n = recv(view[pos + HEADER_LEN : pos + HEADER_LEN + _SLOT])
            except BlockingIOError:
                break
            except OSError:  # an ICMP error for an earlier datagram (WireGuard not listening)
                self._drops.wireguard += 1
                break
            pack(scratch, pos, data, n, peer.header)
            pos += HEADER_LEN + n
            count += 1
        if not count:
            return
        if self._out.send(view[:pos]):
            peer.to_relay_packets += count
            peer.to_relay_bytes += pos - count * HEADER_LEN
        else:
            self._drops.relay_busy += count

    def _from_relay(self) -> None:
        try:
            if not self._rx.read(self._sock):
                return
        except OSError as exc:
            self._failed(exc)
            return
        self.received_at = time.monotonic()
        rx, for_frame, drops = self._rx, self._ports.for_frame, self._drops
        unpack, add = HEADER.unpack_from, self._segments.add
        buf, view, end, pos = rx.buf, rx.view, rx.end, rx.done
        while end - pos >= HEADER_LEN:  # hot: plain ints and locals, no generator
            kind, length, address = unpack(buf, pos)
            start = pos + HEADER_LEN
            stop = start + length
            if stop > end:
                break
            pos = stop
            if kind == _DATA:
                peer = for_frame(address)
                if peer is None:
                    drops.no_peer += 1
                else:
                    add(peer, view[start:stop])
            elif kind != _KEEPALIVE:
                rx.done = pos
                self._segments.flush()
                if kind == _CLOSE:
                    self._end(*protocol.parse_close(bytes(view[start:stop])))
                else:
                    self._end(Reason.PROTOCOL, f"the relay sent an unexpected frame {kind}")
                return
        rx.done = pos
        self._segments.flush()
        if self._ports.on_open:  # a new peer's socket: read it too
            self._ports.on_open.clear()
            self._resume()

    def keepalive(self, interval: float) -> None:
        """Send a KEEPALIVE when idle; end the tunnel when the relay has been silent too long."""
        now = time.monotonic()
        if now - self.received_at > 3 * interval:
            self._end(Reason.TIMEOUT, f"no word from the relay for {3 * interval:g} s")
        elif now - self._out.sent_at >= interval:
            self._out.send(protocol.frame(Kind.KEEPALIVE))

    def _failed(self, exc: OSError) -> None:
        self._end(None, f"connection to the relay lost: {exc.strerror or exc}")

    def _end(self, reason: Reason | None, text: str) -> None:
        if not self.ended.done():
            self.ended.set_result((reason, text))

    def stop(self, goodbye: str | None = None) -> None:
        """Stop serving (with a CLOSE to the relay when `goodbye`); the socket stays open."""
        self._pause()
        self._loop.remove_reader(self._sock.fileno())
        if goodbye is not None and not self._out.queue:
            with contextlib.suppress(OSError):
                self._sock.send(protocol.close(Reason.CLIENT, goodbye))
        self._out.close()
        self._end(Reason.CLIENT, goodbye or "stopped")
