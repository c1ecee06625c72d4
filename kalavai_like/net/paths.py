"""Which way a spoke's datagrams take to its hub: direct (UDP to the hub's endpoint) or through
the relay (UDP to a local bridge that carries them over TCP). The first choice when the spoke
comes up, the move back to direct when it works again, the fall-back when it stops working.

Relayed, the hub peer's endpoint is the bridge's `127.0.0.1:PORT`; WireGuard keeps the same
keys, addresses and sessions either way, and roams each side to wherever the other's last
authenticated datagram came from, so the hub follows a spoke that moves without being told.
"""

from __future__ import annotations

import time

from kalavai_like.errors import SystemProblem
from kalavai_like.net import wireguard
from kalavai_like.net.config import SpokeConfig
from kalavai_like.net.relay import route as bridge
from kalavai_like.net.runner import CommandRunner
from kalavai_like.net.wireguard import Device, PeerSpec
from kalavai_like.rollback import Rollback

LOCAL = "127.0.0.1:"
STALE = 180.0  # seconds without a handshake: the path is broken (WireGuard rekeys every 120 s)


def hub_peer(cfg: SpokeConfig, endpoint: str | None) -> PeerSpec:
    """The hub as the spoke's one peer, its datagrams sent to `endpoint`."""
    allowed = (cfg.pool_subnet, cfg.pool_subnet6) if cfg.pool_subnet6 else (cfg.pool_subnet,)
    return PeerSpec(cfg.hub_public_key, allowed, endpoint, cfg.keepalive)


def set_endpoint(runner: CommandRunner, dev: Device, peer: PeerSpec, *, fresh: bool) -> None:
    """Point `peer` at `peer.endpoint`. `fresh`: remove and add it again, so WireGuard starts
    a handshake there at once (a peer keeps its session otherwise, and retries a handshake only
    5 s after the last one)."""
    if fresh:
        wireguard.update_peers(runner, dev, [], [peer.public_key])
    wireguard.update_peers(runner, dev, [peer], [])


def _handshake(runner: CommandRunner, dev: Device, key: str, timeout: float) -> bool:
    """True once the hub peer has a handshake, False when none came within `timeout`."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        hub = wireguard.read_device(runner, dev)[1].get(key)
        if hub is not None and hub.handshake:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)


def wait_handshake(runner: CommandRunner, dev: Device, cfg: SpokeConfig, timeout: float) -> None:
    """Poll until the hub peer has a handshake over the direct path.

    Raises:
        SystemProblem: none within `timeout`, with what to check.
    """
    if not _handshake(runner, dev, cfg.hub_public_key, timeout):
        raise SystemProblem(
            "No handshake with the hub",
            f"no reply from the hub at {cfg.hub_endpoint} within {timeout:g} s: check that "
            "UDP to that port is not blocked (firewall, router port forward), that the "
            "endpoint is right, and that the hub has this device's public key",
        )


def connect(
    runner: CommandRunner, cfg: SpokeConfig, dev: Device, timeout: float, steps: Rollback
) -> str:
    """The first handshake: direct first, through the relay when none comes within the route's
    `direct_timeout` (at once when the hub is relay-only). Returns the path taken: "direct",
    "relay (UDP blocked)" or "relay (the hub takes no direct UDP)".

    Raises:
        SystemProblem: no handshake either way within `timeout` (named).
    """
    route = cfg.relay
    if route is None:
        wait_handshake(runner, dev, cfg, timeout)
        return "direct"
    start = time.monotonic()
    port = wireguard.read_device(runner, dev)[0]
    if port is None:
        raise SystemProblem("WireGuard has no port", f"{dev.ifname} listens on no UDP port")
    pid = bridge.spawn(runner, cfg.names, route, port)  # starts while the direct try runs
    steps.undo("relay bridge", lambda: bridge.stop(runner, cfg.names, route.run_dir))
    if not route.relay_only:
        if _handshake(runner, dev, cfg.hub_public_key, min(route.direct_timeout, timeout)):
            bridge.stop(runner, cfg.names, route.run_dir)
            return "direct"
    left = max(1.0, timeout - (time.monotonic() - start))
    local = bridge.local_endpoint(runner, cfg.names, route, pid, left)
    set_endpoint(runner, dev, hub_peer(cfg, local), fresh=True)
    left = max(1.0, timeout - (time.monotonic() - start))
    if not _handshake(runner, dev, cfg.hub_public_key, left):
        st = bridge.status(cfg.names)
        state = "the bridge does not answer"
        if st is not None:
            state = f"the bridge is {st.state}" + (f": {st.error}" if st.error else "")
        raise SystemProblem(
            "No handshake with the hub",
            f"no reply from the hub at {cfg.hub_endpoint}, nor through the relay at "
            f"{route.relay} ({state}) within "
            f"{timeout:g} s: check that this machine can open a TCP connection to the relay",
        )
    return "relay (the hub takes no direct UDP)" if route.relay_only else "relay (UDP blocked)"


def relayed(runner: CommandRunner, dev: Device, cfg: SpokeConfig) -> bool:
    """True when the hub peer's datagrams go to a local bridge now."""
    hub = wireguard.read_device(runner, dev)[1].get(cfg.hub_public_key)
    return hub is not None and (hub.endpoint or "").startswith(LOCAL)


def relay_endpoint(runner: CommandRunner, cfg: SpokeConfig, dev: Device) -> str | None:
    """Where the hub's datagrams should go when the spoke is (or must be) relayed: its bridge's
    local endpoint, (re)starting the bridge when none runs. None without a route."""
    route = cfg.relay
    if route is None:
        return None
    pid = bridge.running(cfg.names)
    if pid is None:
        port = wireguard.read_device(runner, dev)[0]
        if port is None:
            return None
        pid = bridge.spawn(runner, cfg.names, route, port)
    return bridge.local_endpoint(runner, cfg.names, route, pid, 10.0)


def probe_direct(runner: CommandRunner, cfg: SpokeConfig, dev: Device, direct: str) -> bool:
    """A relayed spoke tries the direct path again: it points the hub peer at `direct` and pings
    the hub through the tunnel. When the reply came directly (WireGuard roamed there: the hub
    heard us and answered), it stays direct and the bridge stops; otherwise the endpoint goes
    back to the bridge (a hub datagram through the relay would have moved it back anyway)."""
    route = cfg.relay
    if route is None or route.relay_only or not relayed(runner, dev, cfg):
        return False
    local = relay_endpoint(runner, cfg, dev)
    set_endpoint(runner, dev, hub_peer(cfg, direct), fresh=False)
    ping = ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", route.hub_address]
    answered = runner.run(ping, netns=cfg.names.netns).ok
    hub = wireguard.read_device(runner, dev)[1].get(cfg.hub_public_key)
    if answered and hub is not None and hub.endpoint == direct:
        bridge.stop(runner, cfg.names, route.run_dir)
        return True
    set_endpoint(runner, dev, hub_peer(cfg, local), fresh=False)
    return False


def fall_back(runner: CommandRunner, cfg: SpokeConfig, dev: Device) -> bool:
    """A direct spoke whose handshakes stopped (the network changed under it) moves to the
    relay. Returns True when it moved."""
    if cfg.relay is None or relayed(runner, dev, cfg):
        return False
    hub = wireguard.read_device(runner, dev)[1].get(cfg.hub_public_key)
    if hub is None or (hub.handshake and time.time() - hub.handshake < STALE):
        return False
    local = relay_endpoint(runner, cfg, dev)
    set_endpoint(runner, dev, hub_peer(cfg, local), fresh=True)
    return True
