"""The relay end to end on loopback: the platform's relay and bridges in real processes, the
platform's real database (SQLite and PostgreSQL), UDP stand-ins for WireGuard's sockets.

What a user would notice: datagrams cross between a spoke and its hub both ways; nobody who
cannot prove to be a live device of the pool gets a single datagram to it; a removed device
is cut off while connected and told why; a relay restart heals by itself.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kalavai_like.net.relay import protocol
from kalavai_like.net.relay.protocol import Kind, Reason
from kalavai_like.platform.local import LocalPlatform
from tests.support.platform_api import Api
from tests.support.processes import stop
from tests.support.relay import (
    Bridges,
    Device,
    Pool,
    RawClient,
    WireGuardEnd,
    cmdline,
    enrol_pool,
    kill,
    start_relay,
)

Ends = Callable[[], WireGuardEnd]


def relay_of(api: Api, device: Device) -> str:
    r = api.as_(device.credential).get("/api/v1/device/relay")
    assert r.status_code == 200, r.text
    return str(r.json()["address"])


def connect_pool(api: Api, bridges: Bridges, wg: Ends, pool: Pool) -> dict[str, WireGuardEnd]:
    """Bridges for the pool's hub ("hub") and workers ("w0", "w1", ...), all connected."""
    relay = relay_of(api, pool.hub)
    ends = {"hub": wg()}
    bridges.start("hub", relay, pool.hub, ends["hub"])
    for i, worker in enumerate(pool.workers):
        ends[f"w{i}"] = wg()
        bridges.start(f"w{i}", relay, worker, ends[f"w{i}"], (pool.hub.address,))
    for name in ends:
        bridges.wait(name, "connected")
    return ends


def spoke_port(bridges: Bridges, name: str, pool: Pool) -> int:
    """The local port of a spoke's bridge that WireGuard's hub peer points at."""
    return bridges.status(name).ports[pool.hub.address]


def only_marker_arrives(bridges: Bridges, ends: dict[str, WireGuardEnd], pool: Pool) -> None:
    """A marker from the pool's own w0 reaches the hub, and it is all the hub ever received."""
    ends["w0"].send(b"marker", spoke_port(bridges, "w0", pool))
    ends["hub"].wait_for(b"marker")
    assert [d for d, _ in ends["hub"].drain(0.2)] == [b"marker"]


def shut_out(client: RawClient, to: str) -> None:
    """The client sends frames anyway; the relay hangs up on it."""
    client.send_data(to, b"stranger", count=20)
    assert client.closed_by_relay()
    client.close()


def test_datagrams_cross_the_relay_both_ways(api: Api, bridges: Bridges, wg: Ends) -> None:
    pool = enrol_pool(api, workers=2)
    ends = connect_pool(api, bridges, wg, pool)
    w0_port, w1_port = spoke_port(bridges, "w0", pool), spoke_port(bridges, "w1", pool)
    ends["w0"].send(b"from w0", w0_port)
    ends["w1"].send(b"from w1", w1_port)
    hub_w0, hub_w1 = ends["hub"].wait_for(b"from w0"), ends["hub"].wait_for(b"from w1")
    # One local port per peer at the hub, so WireGuard's endpoint roaming tells them apart.
    assert hub_w0 != hub_w1
    assert bridges.status("hub").ports == {
        pool.workers[0].address: hub_w0,
        pool.workers[1].address: hub_w1,
    }
    ends["hub"].send(b"to w0", hub_w0)
    ends["hub"].send(b"to w1", hub_w1)
    assert ends["w0"].wait_for(b"to w0") == w0_port
    assert ends["w1"].wait_for(b"to w1") == w1_port
    assert [d for d, _ in ends["w0"].drain(0.2)] == [b"to w0"]
    status = bridges.status("w0")
    assert (status.address, status.hub) == (pool.workers[0].address, pool.hub.address)


def test_a_burst_arrives_as_the_same_datagrams(api: Api, bridges: Bridges, wg: Ends) -> None:
    """Batched on the way (one TCP write, one send of many datagrams), yet WireGuard gets
    each datagram whole, alone and in order."""
    pool = enrol_pool(api)
    ends = connect_pool(api, bridges, wg, pool)
    ends["w0"].send(b"hello", spoke_port(bridges, "w0", pool))
    hub_w0 = ends["hub"].wait_for(b"hello")
    burst = [bytes([i % 251]) * 1400 + i.to_bytes(4, "big") for i in range(300)]
    burst += [b"short one", b"x" * 1404, b"end"]
    for datagram in burst:
        ends["hub"].send(datagram, hub_w0)
    ends["w0"].wait_for(b"end")
    assert [d for d, _ in ends["w0"].drain(0.2)] == burst


@pytest.mark.parametrize("who", ["no credential", "wrong credential", "unknown device"])
def test_a_client_that_cannot_prove_a_device_gets_nothing_through(
    api: Api, bridges: Bridges, wg: Ends, who: str
) -> None:
    pool = enrol_pool(api)
    ends = connect_pool(api, bridges, wg, pool)
    client = RawClient(relay_of(api, pool.hub))
    nonce = client.nonce()
    if who != "no credential":  # else straight to data, no handshake at all
        device = pool.workers[0].id if who == "wrong credential" else "ab" * 16
        client.sock.sendall(protocol.auth(device, "kld_" + "A" * 43, nonce))
        reason, text = client.close_reason()
        assert reason == (
            Reason.BAD_CREDENTIAL if who == "wrong credential" else Reason.UNKNOWN_DEVICE
        )
        assert text.startswith("refused: ")
    shut_out(client, pool.hub.address)
    only_marker_arrives(bridges, ends, pool)


def test_a_replayed_handshake_is_refused(api: Api, bridges: Bridges, wg: Ends) -> None:
    pool = enrol_pool(api, workers=2)
    ends = connect_pool(api, bridges, wg, pool)
    worker = pool.workers[1]  # its bridge is replaced by the genuine handshake below
    genuine = RawClient(relay_of(api, pool.hub))
    sniffed = protocol.auth(worker.id, worker.credential, genuine.nonce())
    genuine.sock.sendall(sniffed)
    assert genuine.reply()[0] == Kind.WELCOME
    genuine.close()
    replay = RawClient(relay_of(api, pool.hub))
    replay.nonce()
    replay.sock.sendall(sniffed)
    assert replay.close_reason()[0] == Reason.BAD_CREDENTIAL
    shut_out(replay, pool.hub.address)
    only_marker_arrives(bridges, ends, pool)


def test_a_device_that_left_is_refused(api: Api, bridges: Bridges, wg: Ends) -> None:
    pool = enrol_pool(api, workers=2)
    ends = connect_pool(api, bridges, wg, pool)
    gone = pool.workers[1]
    relay = relay_of(api, gone)
    assert api.as_(gone.credential).delete("/api/v1/device").status_code == 204
    left_end = wg()
    bridges.start("left", relay, gone, left_end, (pool.hub.address,))
    status = bridges.wait("left", "refused")
    assert (status.reason, status.permanent) == ("left", True)
    assert "left its pool" in (status.error or "")
    left_end.send(b"after leaving", status.ports[pool.hub.address])
    only_marker_arrives(bridges, ends, pool)


def test_another_pools_device_reaches_only_its_own_pool(
    api: Api, bridges: Bridges, wg: Ends
) -> None:
    pool = enrol_pool(api)
    ends = connect_pool(api, bridges, wg, pool)
    other = enrol_pool(api)
    other_hub = wg()
    bridges.start("other-hub", relay_of(api, other.hub), other.hub, other_hub)
    bridges.wait("other-hub", "connected")
    intruder = other.workers[0]
    client = RawClient(relay_of(api, intruder))
    client.sock.sendall(protocol.auth(intruder.id, intruder.credential, client.nonce()))
    assert client.reply()[0] == Kind.WELCOME
    for target in (pool.hub.address, pool.workers[0].address):
        client.send_data(target, b"intruder", count=50)
    client.send_data(other.hub.address, b"own pool")  # the same stream: read after the rest
    other_hub.wait_for(b"own pool")
    client.close()
    only_marker_arrives(bridges, ends, pool)
    assert ends["w0"].drain(0.2) == []


def test_a_device_removed_while_connected_is_cut_off(api: Api, bridges: Bridges, wg: Ends) -> None:
    pool = enrol_pool(api, workers=2)
    ends = connect_pool(api, bridges, wg, pool)
    removed = pool.workers[1]
    port = spoke_port(bridges, "w1", pool)
    ends["w1"].send(b"while in", port)
    ends["hub"].wait_for(b"while in")
    ends["hub"].received.clear()
    r = pool.owner.delete(f"/api/v1/devices/{removed.id}")
    assert r.status_code == 204, r.text
    status = bridges.wait("w1", "refused")  # within the relay's re-check interval
    assert status.reason == "left"
    assert "left its pool" in (status.error or "")
    ends["w1"].send(b"after removal", port)
    only_marker_arrives(bridges, ends, pool)


def test_bridges_reconnect_after_the_relay_restarts(
    platform: LocalPlatform, api: Api, bridges: Bridges, wg: Ends
) -> None:
    """A standalone `relay serve` against the platform's database, killed and started again
    on its port: the bridges find it again and datagrams flow."""
    relay, address = start_relay(platform.data_dir, platform.database_url)
    try:
        pool = enrol_pool(api)
        hub_end, spoke_end = wg(), wg()
        bridges.start("hub", address, pool.hub, hub_end)
        bridges.start("w0", address, pool.workers[0], spoke_end, (pool.hub.address,))
        for name in ("hub", "w0"):
            bridges.wait(name, "connected")
        port = spoke_port(bridges, "w0", pool)
        spoke_end.send(b"before", port)
        hub_end.wait_for(b"before")
        kill(relay)
        bridges.wait("w0", "waiting")
        relay, _ = start_relay(platform.data_dir, platform.database_url, int(address.split(":")[1]))
        for name in ("hub", "w0"):
            assert bridges.wait(name, "connected").connects == 2
        spoke_end.send(b"after", port)
        hub_end.wait_for(b"after")
    finally:
        stop(relay)


def test_no_secret_is_on_any_command_line(
    platform: LocalPlatform, api: Api, bridges: Bridges, wg: Ends
) -> None:
    pool = enrol_pool(api)
    connect_pool(api, bridges, wg, pool)
    import psutil

    relays = [c.pid for c in psutil.Process(platform.pid).children()]
    assert relays, "the platform runs its relay in a child process"
    secrets = [pool.hub.credential, pool.workers[0].credential]
    secrets += [platform.database_url] if platform.database_url else []
    for pid in [platform.pid, *relays, *bridges.pids.values()]:
        line = cmdline(pid)
        assert not [s for s in secrets if s in line], f"a secret in the argv of {line}"
