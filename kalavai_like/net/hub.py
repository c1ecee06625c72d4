"""The pool's hub: WireGuard at overlay .1 in its own namespace, peers applied as a diff.

Layout mirrors a spoke: namespace `p-n` holding the WireGuard interface `p-nw`, created in the
host namespace and moved in, so it listens on the pool's UDP port on the host's own addresses
(no port forwarding, no NAT). Inside, the hub forwards between spokes within the pool subnet
only, and the pool's head container can join the namespace to sit on overlay .1 and reach
nothing but the pool.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from kalavai_like.errors import Conflict, SystemProblem
from kalavai_like.net import firewall, namespace, paths, spoke, validate, wireguard
from kalavai_like.net.config import BackendInfo, HubConfig, HubStatus, Names, Peer, PeerStatus
from kalavai_like.net.relay import route as bridge
from kalavai_like.net.runner import CommandRunner
from kalavai_like.net.wireguard import Device, PeerSpec
from kalavai_like.rollback import Rollback


def _start(runner: CommandRunner, cfg: HubConfig, dev: Device) -> None:
    """Start the interface, listen on the pool's port and address it."""
    spoke.start_device(runner, dev, cfg.mtu)
    try:
        conf = wireguard.render_conf(cfg.private_key, cfg.listen_port, [])
        wireguard.sync_conf(runner, dev, conf)
    except SystemProblem as exc:
        if "in use" not in exc.message:
            raise
        raise SystemProblem(
            f"UDP port {cfg.listen_port} is in use",
            f"something on this host already listens on UDP {cfg.listen_port}: stop it or give "
            "the pool another listen port",
        ) from None
    addrs = [cfg.address] + ([cfg.address6] if cfg.address6 else [])
    namespace.configure_wg_link(cfg.names.netns, cfg.names.wg, addrs, cfg.mtu)


def up(runner: CommandRunner, cfg: HubConfig, backend: BackendInfo) -> None:
    """Build the hub; on any failure undo everything and raise naming the step."""
    n = cfg.names
    spoke.check_subnet_free(cfg.pool_subnet)
    if cfg.pool_subnet6:
        spoke.check_subnet_free(cfg.pool_subnet6)
    if namespace.exists(n.netns):
        raise Conflict("Already up", f"namespace {n.netns} exists: bring it down first")
    steps = Rollback(f"Bringing up hub {n.stem}")
    dev = spoke.device(n, backend)
    with steps.step("creating the namespace"):
        namespace.create(n.netns)
        steps.undo("namespace", lambda: namespace.remove(n.netns))
    with steps.step("enabling forwarding between spokes"):
        namespace.sysctl(n.netns, "net/ipv4/ip_forward", "1")
        if cfg.pool_subnet6:
            namespace.sysctl(n.netns, "net/ipv6/conf/all/forwarding", "1")
    with steps.step("loading the namespace firewall"):
        rules = firewall.hub_ruleset(n.wg, cfg.pool_subnet, cfg.pool_subnet6)
        firewall.apply(runner, rules, n.netns)
    with steps.step(f"starting WireGuard ({backend.kind}) on UDP {cfg.listen_port}"):
        steps.undo("WireGuard", lambda: spoke.stop_device(runner, n))
        _start(runner, cfg, dev)
    if cfg.relay is not None:
        with steps.step(f"starting the bridge to the relay at {cfg.relay.relay}"):
            steps.undo("relay bridge", lambda: bridge.stop(runner, n))
            _keep_bridge(runner, cfg)


def _keep_bridge(runner: CommandRunner, cfg: HubConfig) -> None:
    """Workers that cannot reach the hub's UDP port come through the relay: a bridge keeps a
    connection to it and carries any device of the pool (a NAT'd seed needs nothing else)."""
    if cfg.relay is not None and bridge.running(cfg.names) is None:
        bridge.spawn(runner, cfg.names, cfg.relay, cfg.listen_port)


def down(runner: CommandRunner, names: Names) -> None:
    """Remove the hub. Idempotent."""
    spoke.down(runner, names)


def _norm(ips: Sequence[str]) -> frozenset[str]:
    return frozenset(str(ipaddress.ip_network(ip, strict=False)) for ip in ips)


def set_peers(
    runner: CommandRunner, names: Names, backend: BackendInfo, peers: Sequence[Peer]
) -> None:
    """Make the hub's peers exactly `peers`, touching only those added, removed or changed.

    Raises:
        InvalidInput: duplicate keys or addresses.
        NotFound-like SystemProblem: the hub interface is not running.
    """
    validate.peers(peers)
    kind, _ = spoke.backend_of(names, backend)
    dev = Device(names.wg, names.netns, kind)
    current = {k: _norm(p.allowed_ips) for k, p in wireguard.read_device(runner, dev)[1].items()}
    wanted = {p.public_key: p for p in peers}
    remove = [k for k in current if k not in wanted]
    upsert = [
        PeerSpec(p.public_key, p.allowed_ips)
        for k, p in wanted.items()
        if current.get(k) != _norm(p.allowed_ips)
    ]
    wireguard.update_peers(runner, dev, upsert, remove)


def status(runner: CommandRunner, names: Names, probed: BackendInfo) -> HubStatus | None:
    """The hub as it is, None when its namespace does not exist."""
    if not namespace.exists(names.netns):
        return None
    kind, pid = spoke.backend_of(names, probed)
    alive = pid is not None if kind == "userspace" else namespace.link_exists(names.netns, names.wg)
    addrs = namespace.addresses_of(names.netns, names.wg)
    v4 = next((a for a in addrs if ipaddress.ip_interface(a).version == 4), None)
    v6 = next((a for a in addrs if ipaddress.ip_interface(a).version == 6), None)
    peers: list[PeerStatus] = []
    port = None
    if alive:
        dev = Device(names.wg, names.netns, kind)
        try:
            port, info = wireguard.read_device(runner, dev)
            for key, p in sorted(info.items()):
                age = wireguard.handshake_age({key: p.handshake}, key)
                relayed = (p.endpoint or "").startswith(paths.LOCAL)
                peers.append(PeerStatus(key, p.allowed_ips, age, p.rx, p.tx, relayed))
        except SystemProblem:
            alive, peers, port = False, [], None  # dying right now: no control socket
    relay = bridge.status(names)
    return HubStatus(
        prefix=names.prefix, name=names.name, netns=names.netns, netns_path=names.netns_path,
        interface=names.wg, address=v4, address6=v6, listen_port=port, peers=tuple(peers),
        backend=kind, backend_version=probed.version if probed.kind == kind else "unknown",
        process_alive=alive, pid=pid, relay=relay.relay if relay else None,
        relay_state=relay.state if relay else None,
    )  # fmt: skip


def ensure(
    runner: CommandRunner, cfg: HubConfig, backend: BackendInfo, peers: Sequence[Peer] | None
) -> bool:
    """Repair the hub toward `cfg` (and `peers` when given); True when something was rebuilt."""
    n = cfg.names
    rebuilt = False
    if not namespace.exists(n.netns):
        down(runner, n)
        up(runner, cfg, backend)
        rebuilt = True
    elif not namespace.link_exists(n.netns, n.wg) or (
        backend.kind == "userspace" and wireguard.find_pid(n.wg) is None
    ):
        steps = Rollback(f"Repairing hub {n.stem}")
        with steps.step("restarting WireGuard"):
            spoke.stop_device(runner, n)
            _start(runner, cfg, spoke.device(n, backend))
        rebuilt = True
    if rebuilt:
        bridge.stop(runner, n)  # it would still carry the old wireguard-go's port
    _keep_bridge(runner, cfg)
    if peers is not None:
        set_peers(runner, n, backend, peers)
    return rebuilt
