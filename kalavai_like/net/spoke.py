"""The worker side of a membership: a namespace holding WireGuard to the hub, and a lockdown.

Layout for prefix `p` and name `n`: namespace `p-n` holding the WireGuard interface `p-nw`.
The interface is created in the host namespace and then moved in, so its UDP socket stays in
the host's (the way kernel WireGuard is meant to be used with namespaces): the namespace has
no path off the machine but the tunnel, and tunnel packets cross no extra hop or NAT. The
namespace's nft table drops everything but the pool over WireGuard.

With the `internet` policy the namespace also gets an underlay veth `p-nu` (169.254.x.2/30);
the host keeps `p-nh` (.1) and an nft table `p_n` that masquerades it to public addresses only.
"""

from __future__ import annotations

import ipaddress
import socket

from kalavai_like.errors import Conflict, KalavaiError, SystemProblem
from kalavai_like.net import firewall, namespace, paths, validate, wireguard
from kalavai_like.net.config import BackendInfo, Names, SpokeConfig, SpokeStatus
from kalavai_like.net.relay import route as bridge
from kalavai_like.net.runner import CommandRunner
from kalavai_like.net.wireguard import Device
from kalavai_like.rollback import Rollback


def check_subnet_free(subnet: str) -> None:
    """Refuse a pool subnet that overlaps a route or address of the host namespace.

    Raises:
        InvalidInput: the subnet is malformed.
        Conflict: it overlaps a local route (named in the message).
    """
    validate.subnet_free(subnet, namespace.host_routes, namespace.host_addresses)


def resolve_hub(endpoint: str) -> str:
    """The hub endpoint with its host resolved: `a.b.c.d:port` or `[v6]:port`.

    WireGuard's socket is the host's, so the hub is reached over whatever the host has, IPv4
    or IPv6, in the order the system prefers.

    Raises:
        SystemProblem: the host name does not resolve.
    """
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, int(port), socket.AF_UNSPEC, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError):
        infos = []
    if not infos:
        raise SystemProblem(
            "Hub endpoint does not resolve",
            f"{host} has no address: check the endpoint and this machine's DNS",
        )
    family, addr = infos[0][0], str(infos[0][4][0])
    return f"[{addr}]:{port}" if family == socket.AF_INET6 else f"{addr}:{port}"


def device(names: Names, backend: BackendInfo) -> Device:
    return Device(names.wg, names.netns, backend.kind)


def start_device(runner: CommandRunner, dev: Device, mtu: int) -> None:
    """Create the WireGuard interface in the host namespace, then move it into its own.

    wireguard-go is shown the interface up before the move: it hears that over netlink at
    once, whereas in another namespace it would only notice by polling once a second.
    """
    pid = None
    if dev.kind == "kernel":
        namespace.create_kernel_wg(dev.ifname)
    else:
        pid = wireguard.start_userspace(runner, dev)
    try:
        if pid is not None:
            namespace.set_up(dev.ifname, mtu)
        namespace.move_link(dev.ifname, dev.netns)
    except KalavaiError:
        wireguard.stop_userspace(runner, pid, dev.ifname)
        namespace.delete_link(dev.ifname)
        raise


def stop_device(runner: CommandRunner, names: Names) -> None:
    wireguard.stop_userspace(runner, wireguard.find_pid(names.wg), names.wg)
    namespace.delete_link(names.wg, names.netns)
    namespace.delete_link(names.wg)  # never moved: a start that failed half-way


def _wg_conf(cfg: SpokeConfig, hub: str | None) -> str:
    return wireguard.render_conf(cfg.private_key, None, [paths.hub_peer(cfg, hub)])


def _host_nets() -> list[str]:
    nets = {str(r) for r in namespace.host_routes() if r.version == 4}
    nets |= {f"{a.ip}/32" for a in namespace.host_addresses() if a.version == 4}
    return sorted(nets)


def configure(
    runner: CommandRunner, cfg: SpokeConfig, dev: Device, hub: str | None, steps: Rollback
) -> None:
    """Firewalls, egress, WireGuard config (the hub peer sent to `hub`: its direct endpoint,
    the relay bridge's, or nowhere yet) and addresses; every part idempotent."""
    n = cfg.names
    host_nets = _host_nets() if cfg.policy == "internet" else []
    with steps.step("loading the namespace firewall"):
        rules = firewall.PoolRules(n.wg, n.underlay, cfg.pool_subnet, cfg.pool_subnet6)
        firewall.apply(runner, firewall.spoke_ruleset(rules, cfg.policy, host_nets), n.netns)
    underlay = underlay_of(n)
    if cfg.policy == "internet" and underlay is not None:
        with steps.step("enabling forwarding in the host namespace"):
            namespace.sysctl(None, "net/ipv4/ip_forward", "1")
        with steps.step("loading the host's egress rules"):
            rules_text = firewall.host_egress_ruleset(
                n.host_table, n.host_veth, str(underlay), host_nets
            )
            firewall.apply(runner, rules_text)
            steps.undo("host egress rules", lambda: firewall.delete_table(runner, n.host_table))
        with steps.step("routing the underlay"):
            namespace.set_routes(n.netns, str(next(underlay.hosts())), ["0.0.0.0/0"])
    elif underlay is not None:  # the policy changed to `pool`: no way out but the tunnel
        with steps.step("removing the underlay"):
            remove_underlay(runner, n)
    with steps.step("configuring WireGuard"):
        wireguard.sync_conf(runner, dev, _wg_conf(cfg, hub))
    with steps.step("addressing the WireGuard interface"):
        addrs = [cfg.address] + ([cfg.address6] if cfg.address6 else [])
        namespace.configure_wg_link(n.netns, n.wg, addrs, cfg.mtu)


def up(
    runner: CommandRunner, cfg: SpokeConfig, backend: BackendInfo, underlay_range: str,
    handshake_timeout: float,
) -> str:  # fmt: skip
    """Build the membership; on any failure undo everything and raise naming the step.
    Returns the path the first handshake took (`paths.connect`)."""
    n = cfg.names
    check_subnet_free(cfg.pool_subnet)
    if cfg.pool_subnet6:
        check_subnet_free(cfg.pool_subnet6)
    hub = resolve_hub(cfg.hub_endpoint)
    if namespace.exists(n.netns):
        raise Conflict("Already up", f"namespace {n.netns} exists: bring it down first")
    steps = Rollback(f"Bringing up {n.stem}")
    dev = device(n, backend)
    with steps.step("creating the namespace"):
        namespace.create(n.netns)
        steps.undo("namespace", lambda: namespace.remove(n.netns))
    if cfg.policy == "internet":
        with steps.step("creating the underlay"):
            underlay = namespace.allocate_underlay(underlay_range)
            namespace.add_underlay(n.host_veth, n.underlay, n.netns, underlay)
            steps.undo("underlay", lambda: namespace.delete_link(n.host_veth))
    with steps.step(f"starting WireGuard ({backend.kind})"):
        start_device(runner, dev, cfg.mtu)  # cleans up after itself if it fails
        steps.undo("WireGuard", lambda: stop_device(runner, n))
    relay_only = cfg.relay is not None and cfg.relay.relay_only
    configure(runner, cfg, dev, None if relay_only else hub, steps)
    with steps.step("waiting for the first handshake"):
        return paths.connect(runner, cfg, dev, handshake_timeout, steps)


def remove_underlay(runner: CommandRunner, names: Names) -> None:
    """The `internet` policy's veth and host rules, if any. Idempotent."""
    namespace.delete_link(names.host_veth)
    firewall.delete_table(runner, names.host_table)


def down(runner: CommandRunner, names: Names) -> None:
    """Remove the membership: processes, namespace, and any underlay and host rules. Idempotent."""
    bridge.stop(runner, names)
    stop_device(runner, names)
    namespace.remove(names.netns)
    remove_underlay(runner, names)


def underlay_of(names: Names) -> ipaddress.IPv4Network | None:
    for addr in namespace.addresses_of(names.netns, names.underlay):
        iface = ipaddress.ip_interface(addr)
        if iface.version == 4:
            return iface.network
    return None


def backend_of(names: Names, probed: BackendInfo) -> tuple[str, int | None]:
    """Which backend runs this interface now, and wireguard-go's PID if userspace."""
    pid = wireguard.find_pid(names.wg)
    if pid is not None:
        return "userspace", pid
    kind = namespace.link_kind(names.netns, names.wg)
    return ("kernel" if kind == "wireguard" else "userspace"), None


def status(
    runner: CommandRunner, names: Names, probed: BackendInfo, hub_key: str | None = None
) -> SpokeStatus | None:
    """The spoke as it is, None when its namespace does not exist."""
    if not namespace.exists(names.netns):
        return None
    kind, pid = backend_of(names, probed)
    alive = pid is not None if kind == "userspace" else namespace.link_exists(names.netns, names.wg)
    addrs = namespace.addresses_of(names.netns, names.wg)
    v4 = next((a for a in addrs if ipaddress.ip_interface(a).version == 4), None)
    v6 = next((a for a in addrs if ipaddress.ip_interface(a).version == 6), None)
    age, rx, tx, peers_end = None, 0, 0, ""
    if alive:
        dev = Device(names.wg, names.netns, kind)
        try:
            _, peers = wireguard.read_device(runner, dev)
            key = hub_key or next(iter(peers), None)
            if key is not None and key in peers:
                age = wireguard.handshake_age({key: peers[key].handshake}, key)
                rx, tx = peers[key].rx, peers[key].tx
                peers_end = peers[key].endpoint or ""
        except SystemProblem:
            alive = False  # dying right now: its control socket no longer answers
    version = probed.version if probed.kind == kind else "unknown"
    relay = bridge.status(names) if alive and peers_end.startswith(paths.LOCAL) else None
    return SpokeStatus(
        prefix=names.prefix, name=names.name, netns=names.netns, netns_path=names.netns_path,
        interface=names.wg, address=v4, address6=v6, latest_handshake_age=age, rx_bytes=rx,
        tx_bytes=tx, backend=kind, backend_version=version, process_alive=alive, pid=pid,
        path="relay" if peers_end.startswith(paths.LOCAL) else "direct",
        relay=relay.relay if relay else None, relay_state=relay.state if relay else None,
    )  # fmt: skip


def ensure(
    runner: CommandRunner, cfg: SpokeConfig, backend: BackendInfo, underlay_range: str,
    handshake_timeout: float,
) -> bool:  # fmt: skip
    """Repair the spoke toward `cfg`; returns True when something had to be rebuilt.

    A missing namespace (or, with the `internet` policy, underlay) means a full rebuild; a dead
    wireguard-go is restarted and its interface moved back in place (same namespace, so a
    worker container inside keeps running).
    """
    n = cfg.names
    missing = not namespace.exists(n.netns)
    if not missing and cfg.policy == "internet":
        missing = underlay_of(n) is None or not namespace.links_with(n.host_veth)
    if missing:
        down(runner, n)
        up(runner, cfg, backend, underlay_range, handshake_timeout)
        return True
    direct = resolve_hub(cfg.hub_endpoint)
    dev = device(n, backend)
    steps = Rollback(f"Repairing {n.stem}")
    healthy = namespace.link_exists(n.netns, n.wg) and (
        backend.kind == "kernel" or wireguard.find_pid(n.wg) is not None
    )
    if not healthy:
        with steps.step("restarting WireGuard"):
            stop_device(runner, n)
            start_device(runner, dev, cfg.mtu)
        bridge.stop(runner, n)  # it would still carry the old wireguard-go's port
        relay_only = cfg.relay is not None and cfg.relay.relay_only
        configure(runner, cfg, dev, None if relay_only else direct, steps)
        with steps.step("waiting for the first handshake"):
            paths.connect(runner, cfg, dev, handshake_timeout, steps)
        return True
    relayed = paths.relayed(runner, dev, cfg)  # read before the config is applied again
    configure(runner, cfg, dev, paths.relay_endpoint(runner, cfg, dev) if relayed else direct,
              steps)  # fmt: skip
    if not relayed:
        paths.fall_back(runner, cfg, dev)
    return False
