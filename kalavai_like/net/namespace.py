"""Network namespaces, veth underlays, addresses, routes and sysctls, over netlink (pyroute2).

"Host" means the namespace this process runs in (the agent's); membership namespaces are
named ones under /run/netns. Netlink errors become `SystemProblem`/`Conflict` here.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pyroute2 import IPRoute, NetNS, netns
from pyroute2.netlink.exceptions import NetlinkError

from kalavai_like.errors import Conflict, SystemProblem
from kalavai_like.net.config import NETNS_DIR

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000
# Underlay /30s come from link-local space: never routed, so they cannot collide with a real
# LAN. 169.254.169.0/24 (cloud metadata) lies outside this default.
DEFAULT_UNDERLAY_RANGE = "169.254.200.0/21"


@contextlib.contextmanager
def _netlink(ns: str | None, what: str) -> Iterator[Any]:
    """An rtnetlink socket in `ns` (None: the host); netlink errors become our errors."""
    try:
        sock = NetNS(ns) if ns is not None else IPRoute()
    except (OSError, NetlinkError) as exc:
        raise SystemProblem(f"Cannot open namespace {ns}", f"{what}: {exc}") from None
    try:
        yield sock
    except NetlinkError as exc:
        if exc.code == 17:  # EEXIST
            raise Conflict(f"{what} failed", "it already exists: run cleanup first") from None
        raise SystemProblem(f"{what} failed", f"netlink error {exc.code}: {exc.args[-1]}") from None
    finally:
        sock.close()


def _index(nl: Any, ifname: str, ns: str | None = None) -> int:
    """The interface's index, or SystemProblem when it is gone (its process died meanwhile)."""
    found = nl.link_lookup(ifname=ifname)
    if not found:
        raise SystemProblem(
            f"Interface {ifname} is gone", f"it vanished from {ns or 'the host namespace'}: "
            "its WireGuard process may have died; run cleanup and try again",
        )  # fmt: skip
    return int(found[0])


def kernel_wireguard_available() -> bool:
    """True when the kernel can create WireGuard interfaces."""
    name = f"klprobe{os.getpid() % 100000}"
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=name, kind="wireguard")
        except NetlinkError:
            return False
        with contextlib.suppress(NetlinkError):
            ipr.link("del", index=ipr.link_lookup(ifname=name)[0])
    return True


def exists(ns: str) -> bool:
    return os.path.exists(f"{NETNS_DIR}/{ns}")


def names_with(prefix: str) -> list[str]:
    """Named namespaces whose name starts with `prefix`."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def create(ns: str) -> None:
    """Create a named namespace with loopback up.

    Raises:
        Conflict: it already exists.
    """
    if exists(ns):
        raise Conflict("Namespace exists", f"namespace {ns} already exists: run cleanup first")
    try:
        netns.create(ns)
    except OSError as exc:
        raise SystemProblem("Cannot create namespace", f"{ns}: {exc}") from None
    with _netlink(ns, "bringing up loopback") as nl:
        nl.link("set", index=nl.link_lookup(ifname="lo")[0], state="up")


def remove(ns: str) -> None:
    """Delete a named namespace (its interfaces go with it); no error if absent."""
    if exists(ns):
        with contextlib.suppress(FileNotFoundError):
            netns.remove(ns)


def run_in(ns: str | None, fn: Callable[[], T]) -> T:
    """Run `fn` in a thread that has entered `ns` (setns is per thread, the caller stays put)."""
    if ns is None:
        return fn()
    box: dict[str, Any] = {}

    def body() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            fd = os.open(f"{NETNS_DIR}/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def sysctl(ns: str | None, key: str, value: str) -> None:
    """Set a net sysctl (e.g. net/ipv4/ip_forward) in `ns` only."""

    def write() -> None:
        with open(f"/proc/sys/{key}", "w") as fh:
            fh.write(value)

    try:
        run_in(ns, write)
    except OSError as exc:
        raise SystemProblem("Cannot set sysctl", f"{key} in {ns or 'host'}: {exc}") from None


def host_addresses() -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    """Every address of the host namespace, with its prefix."""
    with _netlink(None, "reading addresses") as nl:
        return [
            ipaddress.ip_interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
            for a in nl.get_addr()
        ]


def host_routes() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Destinations of the host's main-table routes, default routes left out."""
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    with _netlink(None, "reading routes") as nl:
        for r in nl.get_routes(table=254):
            dst = r.get_attr("RTA_DST")
            if dst and r["dst_len"] > 0:
                out.append(ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False))
    return out


def allocate_underlay(pool: str = DEFAULT_UNDERLAY_RANGE) -> ipaddress.IPv4Network:
    """A /30 in `pool` that no host address uses yet.

    Raises:
        Conflict: every /30 of the range is taken.
    """
    used = [a for a in host_addresses() if a.version == 4]
    for net in ipaddress.IPv4Network(pool).subnets(new_prefix=30):
        if not any(a.ip in net for a in used):
            return net
    raise Conflict("No underlay address free", f"every /30 in {pool} is in use")


def add_underlay(host_if: str, ns_if: str, ns: str, net: ipaddress.IPv4Network) -> None:
    """A veth pair: `host_if` (.1) here, `ns_if` (.2) in `ns`, both up."""
    host_ip, ns_ip = list(net.hosts())[:2]
    with _netlink(None, f"creating veth {host_if}") as nl:
        nl.link("add", ifname=host_if, kind="veth", peer={"ifname": ns_if, "net_ns_fd": ns})
        idx = nl.link_lookup(ifname=host_if)[0]
        nl.addr("add", index=idx, address=str(host_ip), prefixlen=net.prefixlen)
        nl.link("set", index=idx, state="up")
    with _netlink(ns, f"configuring {ns_if}") as nl:
        idx = nl.link_lookup(ifname=ns_if)[0]
        nl.addr("add", index=idx, address=str(ns_ip), prefixlen=net.prefixlen)
        nl.link("set", index=idx, state="up")


def delete_link(ifname: str, ns: str | None = None) -> None:
    """Delete an interface if it exists."""
    if ns is not None and not exists(ns):
        return
    with _netlink(ns, f"deleting {ifname}") as nl:
        for idx in nl.link_lookup(ifname=ifname):
            with contextlib.suppress(NetlinkError):
                nl.link("del", index=idx)


def links_with(prefix: str, ns: str | None = None) -> list[str]:
    """Interface names starting with `prefix`."""
    with _netlink(ns, "listing interfaces") as nl:
        names = [link.get_attr("IFLA_IFNAME") for link in nl.get_links()]
    return sorted(n for n in names if n and n.startswith(prefix))


def link_exists(ns: str, ifname: str) -> bool:
    if not exists(ns):
        return False
    with _netlink(ns, f"looking up {ifname}") as nl:
        return bool(nl.link_lookup(ifname=ifname))


def create_kernel_wg(ifname: str) -> None:
    """A kernel WireGuard interface in the host namespace (its UDP socket stays here)."""
    with _netlink(None, f"creating {ifname}") as nl:
        nl.link("add", ifname=ifname, kind="wireguard")


def set_up(ifname: str, mtu: int) -> None:
    """Set MTU and bring a host interface up."""
    with _netlink(None, f"bringing up {ifname}") as nl:
        nl.link("set", index=_index(nl, ifname), mtu=mtu, state="up")


def move_link(ifname: str, ns: str) -> None:
    """Move a host interface into `ns` (it arrives down, without addresses)."""
    with _netlink(None, f"moving {ifname} into {ns}") as nl:
        nl.link("set", index=_index(nl, ifname), net_ns_fd=ns)


def configure_wg_link(ns: str, ifname: str, addresses: list[str], mtu: int) -> None:
    """MTU, addresses (their connected routes cover the pool) and link up."""
    with _netlink(ns, f"configuring {ifname}") as nl:
        idx = _index(nl, ifname, ns)
        nl.link("set", index=idx, mtu=mtu)
        present = {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in nl.get_addr(index=idx)}
        for addr in addresses:
            iface = ipaddress.ip_interface(addr)
            if str(iface) in present:
                continue
            kwargs: dict[str, Any] = {}
            if iface.version == 6:
                kwargs["flags"] = 0x02  # IFA_F_NODAD: usable at once, no duplicate detection
            nl.addr(
                "add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen, **kwargs
            )
        nl.link("set", index=idx, state="up")


def set_routes(ns: str, gateway: str, destinations: list[str]) -> None:
    """Route each destination via the underlay gateway, replacing any older route."""
    with _netlink(ns, "setting routes") as nl:
        for dst in destinations:
            nl.route("replace", dst=dst, gateway=gateway)


def addresses_of(ns: str, ifname: str) -> list[str]:
    """Addresses (with prefix) on an interface in `ns`, link-local IPv6 left out."""
    if not exists(ns):
        return []
    with _netlink(ns, f"reading {ifname}") as nl:
        idx = nl.link_lookup(ifname=ifname)
        if not idx:
            return []
        out = []
        for a in nl.get_addr(index=idx[0]):
            iface = ipaddress.ip_interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
            if not iface.ip.is_link_local or iface.version == 4:
                out.append(str(iface))
        return out


def link_kind(ns: str, ifname: str) -> str | None:
    """The link's kind (`wireguard`, `tun`, `veth` ...), None if absent."""
    if not exists(ns):
        return None
    with _netlink(ns, f"looking up {ifname}") as nl:
        idx = nl.link_lookup(ifname=ifname)
        if not idx:
            return None
        try:
            link = nl.get_links(idx[0])[0]
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:  # gone since the lookup: its process just died
                return None
            raise
        info = link.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        return str(kind) if kind else "unknown"
