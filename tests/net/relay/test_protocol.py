"""The relay's wire protocol: the proof of a device, and frames split from a byte stream."""

from __future__ import annotations

import asyncio
import socket

import pytest

from kalavai_like.net.relay import protocol
from kalavai_like.net.relay.protocol import Kind, Reason
from kalavai_like.platform import credentials

DEVICE = "0123456789abcdef" * 2


def test_the_mac_key_is_the_digest_the_platform_stores() -> None:
    """The relay checks a MAC with `credential_hash`; the bridge makes it from the credential."""
    credential = credentials.new(credentials.DEVICE)
    assert protocol.credential_key(credential) == credentials.digest(credential).encode()


def test_a_proof_holds_for_its_own_nonce_and_device_only() -> None:
    credential = credentials.new(credentials.DEVICE)
    key = protocol.credential_key(credential)
    nonce, other = b"n" * 32, b"m" * 32
    device, proof = protocol.parse_auth(protocol.auth(DEVICE, credential, nonce))
    assert device == DEVICE
    assert protocol.mac_matches(key, nonce, DEVICE, proof)
    assert not protocol.mac_matches(key, other, DEVICE, proof)
    assert not protocol.mac_matches(key, nonce, "f" * 32, proof)
    assert credential.encode() not in protocol.auth(DEVICE, credential, nonce)


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"KLR1" + b"G" * 32 + bytes(32),
        b"XXXX" + DEVICE.encode() + bytes(32),
        b"KLR1" + bytes(9),
    ],
)
def test_a_malformed_answer_is_a_protocol_error(answer: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_auth(answer)


def test_frames_are_split_whatever_the_reads_cut() -> None:
    frames = [
        protocol.frame(Kind.DATA, protocol.packed("10.0.0.1"), bytes([i]) * (i * 97 % 1500))
        for i in range(60)
    ]
    frames.append(protocol.close(Reason.LEFT, "refused: this device left its pool"))
    stream = b"".join(frames)
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        rx, seen = protocol.FrameBuffer(), []
        for i in range(0, len(stream), 1013):  # cuts through headers and payloads alike
            a.sendall(stream[i : i + 1013])
            rx.fill(b)
            seen += [
                (kind, address, bytes(rx.view[start:stop]))
                for _pos, kind, address, start, stop in rx.frames()
            ]
    assert len(seen) == len(frames)
    assert seen[5] == (Kind.DATA, protocol.packed("10.0.0.1"), bytes([5]) * (5 * 97 % 1500))
    assert protocol.parse_close(seen[-1][2]) == (Reason.LEFT, "refused: this device left its pool")


def test_an_unknown_frame_kind_is_a_protocol_error() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"\x09\x00\x00\x00" + bytes(4))
        rx = protocol.FrameBuffer()
        rx.fill(b)
        with pytest.raises(protocol.ProtocolError):
            list(rx.frames())


def test_a_full_outbox_refuses_whole_frames_and_sends_the_rest_in_order() -> None:
    """A receiver that does not read: frames queue up to the limit, then are refused whole."""

    async def scenario() -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        errors: list[OSError] = []
        out = protocol.Outbox(loop, a, errors.append, limit=64 * 1024)
        frame = protocol.frame(Kind.DATA, protocol.packed("10.0.0.2"), b"z" * 1400)
        sent = 0
        while out.send(frame):
            sent += 1
        received = bytearray()
        while len(received) < sent * len(frame):
            await asyncio.sleep(0.001)
            try:
                received += b.recv(1 << 20)
            except BlockingIOError:
                pass
        assert not out.queue and not errors
        a.close()
        b.close()
        return sent, bytes(received)

    sent, received = asyncio.run(scenario())
    frame = protocol.frame(Kind.DATA, protocol.packed("10.0.0.2"), b"z" * 1400)
    assert received == frame * sent


def test_one_buffer_serves_many_streams_one_read_at_a_time() -> None:
    """The relay reads every connection into one buffer, keeping each one's incomplete tail."""
    streams = {
        name: b"".join(
            protocol.frame(Kind.DATA, protocol.packed(address), bytes([i]) * (300 + i))
            for i in range(40)
        )
        for name, address in (("a", "10.0.0.2"), ("b", "10.0.0.3"))
    }
    pairs = {name: socket.socketpair() for name in streams}
    rx, tails = protocol.FrameBuffer(), dict.fromkeys(streams, b"")
    seen: dict[str, list[bytes]] = {name: [] for name in streams}
    try:
        for i in range(0, len(streams["a"]), 777):
            for name, (w, r) in pairs.items():  # interleaved, as readiness comes
                w.sendall(streams[name][i : i + 777])
                rx.load(tails[name])
                assert rx.read(r) > 0
                seen[name] += [bytes(rx.view[s:e]) for _p, _k, _a, s, e in rx.frames()]
                tails[name] = rx.rest()
    finally:
        for w, r in pairs.values():
            w.close()
            r.close()
    for name in streams:
        assert seen[name] == [bytes([i]) * (300 + i) for i in range(40)]
        assert tails[name] == b""
