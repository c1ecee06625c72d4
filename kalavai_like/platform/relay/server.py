"""The relay's data path: authenticated TCP streams, and frames forwarded within one pool.

Each connection is greeted with a nonce and must prove within `handshake_timeout` which device
it is (kalavai_like.platform.relay.access) before a single frame of it is read. A device then
has a `Link` in its pool's routing table (packed overlay address -> Link); a DATA frame goes
to the link its destination names in the *sender's* table, so nothing can cross pools, and
anything without such a link is dropped and counted. The header's address is rewritten in
place from destination to source, and a run of frames for one destination leaves in one send.
Every `recheck` seconds the links are checked against the database: a device that left is
dropped with the reason. Only ciphertext passes: the relay holds no WireGuard key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kalavai_like.net.relay import protocol
from kalavai_like.net.relay.protocol import HEADER, HEADER_LEN, Kind, Reason
from kalavai_like.platform.relay.access import LEFT, Access, Admission, Refused

log = logging.getLogger(__name__)
Routes = dict[bytes, "Link"]
_DATA, _KEEPALIVE, _CLOSE = int(Kind.DATA), int(Kind.KEEPALIVE), int(Kind.CLOSE)
_REPLACED = "replaced: this device connected to the relay again"


@dataclass
class RelayStats:
    """What the relay did, for its log and its tests."""

    admitted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    bytes: int = 0
    no_route: int = 0  # a destination that is no connected device of the sender's pool
    full: int = 0  # the destination's queue was full


class Link:
    """One authenticated device's stream."""

    def __init__(
        self, relay: Relay, sock: socket.socket, admission: Admission, routes: Routes
    ) -> None:
        self.relay, self.sock, self.admission, self.routes = relay, sock, admission, routes
        self.address = admission.address
        self.tail = b""  # an incomplete frame, until the next read (the buffer is shared)
        self.out = protocol.Outbox(relay.loop, sock, lambda _exc: relay.drop(self, None, ""))
        self.received_at = time.monotonic()
        self.closed = False

    def send(self, data: memoryview | bytes, frames: int) -> None:
        stats = self.relay.stats
        if self.out.send(data):
            stats.frames += frames
            stats.bytes += len(data)
        else:
            stats.full += frames

    def readable(self) -> None:
        """Read a chunk, forward its frames by runs per destination."""
        rx = self.relay.rx
        rx.load(self.tail)
        try:
            if not rx.read(self.sock):
                return
        except OSError:
            self.relay.drop(self, None, "")
            return
        self.received_at = time.monotonic()
        # The hottest loop of the relay: plain ints and locals, no generator (half the cost).
        routes, me, unpack = self.routes, self.address, HEADER.unpack_from
        buf, view, end, pos = rx.buf, rx.view, rx.end, rx.done
        dst: Link | None = None
        run_start = run_end = run_frames = 0
        while end - pos >= HEADER_LEN:
            kind, length, address = unpack(buf, pos)
            stop = pos + HEADER_LEN + length
            if stop > end:
                break
            if kind == _DATA:
                to = routes.get(address)
                if to is None or to is self:
                    self.relay.stats.no_route += 1
                elif to is dst and pos == run_end:
                    buf[pos + 4 : pos + 8] = me  # the receiver learns who sent it
                    run_end, run_frames = stop, run_frames + 1
                else:
                    buf[pos + 4 : pos + 8] = me
                    if dst is not None:
                        dst.send(view[run_start:run_end], run_frames)
                    dst, run_start, run_end, run_frames = to, pos, stop, 1
            elif kind != _KEEPALIVE:
                rx.done = stop
                if dst is not None:
                    dst.send(view[run_start:run_end], run_frames)
                why = None if kind == _CLOSE else f"refused: a client may not send frame {kind}"
                self.relay.drop(self, Reason.PROTOCOL if why else None, why or "")
                return
            pos = stop
        rx.done = pos
        self.tail = rx.rest()
        if dst is not None:
            dst.send(view[run_start:run_end], run_frames)


class Relay:
    """Accepts bridges on a listening socket and forwards their frames within each pool."""

    def __init__(
        self,
        access: Access,
        *,
        keepalive: int = 10,
        recheck: float = 3.0,
        handshake_timeout: float = 10.0,
        max_connections: int = 10000,
    ) -> None:
        self.access = access
        self.keepalive, self.recheck = keepalive, recheck
        self.handshake_timeout, self.max_connections = handshake_timeout, max_connections
        self.stats = RelayStats()
        self.rx = protocol.FrameBuffer()  # every link reads into it in turn
        self.links: dict[str, Link] = {}
        self.pools: dict[str, Routes] = {}
        self._greeting = 0
        self._executor = ThreadPoolExecutor(4, thread_name_prefix="relay-db")
        self.loop: asyncio.AbstractEventLoop  # set by serve()

    async def serve(self, listener: socket.socket) -> None:
        """Serve until cancelled; then every device is told the relay is shutting down."""
        self.loop = asyncio.get_running_loop()
        listener.setblocking(False)
        tasks = {self.loop.create_task(self._accepting(listener))}
        tasks.add(self.loop.create_task(self._rechecking()))
        tasks.add(self.loop.create_task(self._keeping_alive()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for link in list(self.links.values()):
                self.drop(link, Reason.SHUTDOWN, "the relay is restarting: reconnecting")
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _accepting(self, listener: socket.socket) -> None:
        greeting: set[asyncio.Task[None]] = set()
        while True:
            try:
                sock, _peer = await self.loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors, say: keep serving who is here
                log.warning("relay: cannot accept a connection: %s", exc)
                await asyncio.sleep(0.5)
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self.loop.create_task(self._greet(sock))
            greeting.add(task)
            task.add_done_callback(greeting.discard)

    async def _greet(self, sock: socket.socket) -> None:
        """Handshake; attach the device or tell it why not (never both)."""
        if len(self.links) + self._greeting >= self.max_connections:
            self._refuse(sock, Reason.BUSY, "refused: the relay is full; retrying later")
            return
        self._greeting += 1
        try:
            admission = await asyncio.wait_for(self._admit(sock), self.handshake_timeout)
        except Refused as exc:
            self._refuse(sock, exc.reason, exc.text)
            return
        except (TimeoutError, OSError, protocol.ProtocolError) as exc:
            self.stats.refused["handshake"] += 1
            log.debug("handshake failed: %s", exc)
            sock.close()
            return
        except Exception as exc:  # the database is away: a retry may succeed
            log.warning("relay: cannot check a device against the database: %s", exc)
            self._refuse(sock, Reason.BUSY, "refused for now: the relay cannot read the platform")
            return
        finally:
            self._greeting -= 1
        self._attach(sock, admission)

    async def _admit(self, sock: socket.socket) -> Admission:
        nonce = secrets.token_bytes(protocol.NONCE_LEN)
        await self.loop.sock_sendall(sock, protocol.hello(nonce))
        answer = await protocol.recv_exactly(self.loop, sock, protocol.AUTH_LEN)
        device_id, presented = protocol.parse_auth(answer)
        return await self.loop.run_in_executor(
            self._executor, self.access.admit, device_id, nonce, presented
        )

    def _refuse(self, sock: socket.socket, reason: Reason, text: str) -> None:
        self.stats.refused[reason.name.lower()] += 1
        with contextlib.suppress(OSError):
            sock.send(protocol.close(reason, text))
        sock.close()

    def _attach(self, sock: socket.socket, admission: Admission) -> None:
        routes = self.pools.setdefault(admission.pool_id, {})
        for old in (self.links.get(admission.device_id), routes.get(admission.address)):
            if old is not None:
                self.drop(old, Reason.REPLACED, _REPLACED)
        link = Link(self, sock, admission, routes)
        self.links[admission.device_id] = link
        routes[admission.address] = link
        self.stats.admitted += 1
        link.out.send(protocol.welcome(admission.address, admission.hub, self.keepalive))
        self.loop.add_reader(sock.fileno(), link.readable)

    def drop(self, link: Link, reason: Reason | None, text: str) -> None:
        """Detach a link; tell its device why when `reason`."""
        if link.closed:
            return
        link.closed = True
        a = link.admission
        if self.links.get(a.device_id) is link:
            del self.links[a.device_id]
        if link.routes.get(a.address) is link:
            del link.routes[a.address]
            if not link.routes:
                self.pools.pop(a.pool_id, None)
        with contextlib.suppress(OSError, ValueError):
            self.loop.remove_reader(link.sock.fileno())
        if reason is not None:
            link.out.send(protocol.close(reason, text))
        link.out.close()
        link.sock.close()

    async def _rechecking(self) -> None:
        while True:
            await asyncio.sleep(self.recheck)
            await self.check_now()

    async def check_now(self) -> None:
        """Drop every link whose device may no longer use the relay."""
        links = list(self.links.values())
        if not links:
            return
        try:
            gone = await self.loop.run_in_executor(
                self._executor, self.access.gone, [link.admission for link in links]
            )
        except Exception as exc:  # the database is away: keep what is connected, say so
            log.warning("relay: cannot re-check devices against the database: %s", exc)
            return
        for link in links:
            if link.admission.device_id in gone:
                self.stats.refused["left"] += 1
                self.drop(link, Reason.LEFT, LEFT)

    async def _keeping_alive(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.keepalive / 2))
            now = time.monotonic()
            for link in list(self.links.values()):
                if now - link.received_at > 3 * self.keepalive:
                    self.drop(link, Reason.TIMEOUT, "closed: no word from this device")
                elif now - link.out.sent_at >= self.keepalive:
                    link.out.send(protocol.frame(Kind.KEEPALIVE))
