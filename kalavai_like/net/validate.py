"""Validation of every overlay field before it reaches `wg`, nft or netlink.

`wg` silently accepts nonsense such as port 70000; these checks turn bad input into an
`InvalidInput` with a message a person can act on. Each function returns the normalised value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from kalavai_like.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from kalavai_like.net.config import Peer

IFNAMSIZ = 15  # usable characters in a Linux interface name
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_NAME_RE = re.compile(r"^[a-z0-9]{1,12}$")
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
# Interface names are `<prefix>-<name>` plus a one-letter role suffix, within IFNAMSIZ.
_MAX_STEM = IFNAMSIZ - 2


def port(value: int, field: str = "port") -> int:
    """Check a UDP port is an integer in 1-65535."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("Invalid port", f"{field} {value!r} is not a whole number")
    if not 1 <= value <= 65535:
        raise InvalidInput("Invalid port", f"{field} {value} is out of range 1-65535")
    return value


def key(value: str, field: str = "key") -> str:
    """Check a WireGuard key: base64 of exactly 32 bytes. The value is never echoed back."""
    if not isinstance(value, str) or len(value) != 44:
        raise InvalidInput(
            "Invalid WireGuard key", f"{field} is not a WireGuard key (44 base64 characters)"
        )
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidInput("Invalid WireGuard key", f"{field} is not valid base64 of a 32-byte key")
    return value


def interface_address(value: str, version: int, field: str) -> str:
    """Check an address with its prefix length, e.g. 10.42.0.5/16 (host part not zero)."""
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise InvalidInput(
            "Invalid address", f"{field} {value!r} is not an IPv{version} address with a prefix"
        ) from None
    if iface.version != version or "/" not in value:
        raise InvalidInput(
            "Invalid address", f"{field} {value!r} is not an IPv{version} address with a prefix"
        )
    net = iface.network
    if net.num_addresses > 2 and iface.ip in (net.network_address, net.broadcast_address):
        raise InvalidInput(
            "Invalid address", f"{field} {value} is the network or broadcast address"
        )
    return str(iface)


def _subnet(value: str, why: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise InvalidInput("Invalid subnet", why) from None


def network(value: str, version: int, field: str) -> str:
    """Check a subnet in CIDR form with no host bits set, e.g. 10.42.0.0/16."""
    net = _subnet(value, f"{field} {value!r} is not an IPv{version} subnet like 10.42.0.0/16")
    if net.version != version:
        raise InvalidInput("Invalid subnet", f"{field} {value!r} is not an IPv{version} subnet")
    if net.prefixlen == 0:
        raise InvalidInput("Invalid subnet", f"{field} {value} covers every address")
    return str(net)


def inside(address: str, subnet: str, field: str) -> None:
    """Check an interface address lies in the pool subnet."""
    if ipaddress.ip_interface(address).ip not in ipaddress.ip_network(subnet):
        raise InvalidInput("Invalid address", f"{field} {address} is outside the pool {subnet}")


def endpoint(value: str, field: str = "hub_endpoint") -> tuple[str, int]:
    """Check `host:port` or `[v6]:port`; returns (host, port)."""
    if not isinstance(value, str) or ":" not in value:
        raise InvalidInput("Invalid endpoint", f"{field} {value!r} is not host:port")
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]:")
        if not sep:
            raise InvalidInput("Invalid endpoint", f"{field} {value!r} is not [address]:port")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInput(
                "Invalid endpoint", f"{field} {host!r} is not an IPv6 address"
            ) from None
    else:
        host, _, rest = value.rpartition(":")
        if not _HOST_RE.match(host):
            raise InvalidInput(
                "Invalid endpoint", f"{field} host {host!r} is not a host name or address"
            )
    if not rest.isdigit():
        raise InvalidInput("Invalid endpoint", f"{field} port {rest!r} is not a number")
    return host, port(int(rest), f"{field} port")


def mtu(value: int, ipv6: bool) -> int:
    """Check the MTU: 1280 is the floor with IPv6 (and WireGuard's default for overlays)."""
    low = 1280 if ipv6 else 576
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 9000:
        raise InvalidInput("Invalid MTU", f"mtu {value!r} is out of range {low}-9000")
    return value


def keepalive(value: int) -> int:
    """Check the persistent keepalive interval in seconds (0 turns it off)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise InvalidInput("Invalid keepalive", f"keepalive {value!r} is out of range 0-65535")
    return value


def prefix(value: str) -> str:
    """Check a name prefix: a lowercase letter then up to 7 lowercase letters or digits."""
    if not isinstance(value, str) or not _PREFIX_RE.match(value):
        raise InvalidInput(
            "Invalid prefix",
            f"prefix {value!r} must be a lowercase letter then up to 7 lowercase letters or digits",
        )
    return value


def name(value: str, prefix_value: str) -> str:
    """Check a membership name; with its prefix it must fit an interface name."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise InvalidInput(
            "Invalid name", f"name {value!r} must be 1-12 lowercase letters or digits"
        )
    if len(prefix_value) + len(value) > _MAX_STEM:
        raise InvalidInput(
            "Invalid name",
            f"prefix and name {prefix_value!r}+{value!r} are too long for an interface name "
            f"(at most {_MAX_STEM} characters together)",
        )
    return value


def choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    """Check a value is one of the allowed words."""
    if value not in allowed:
        raise InvalidInput(
            f"Invalid {field}", f"{field} {value!r} must be one of {', '.join(allowed)}"
        )
    return value


def subnet_free(
    subnet: str,
    routes: Callable[[], Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]],
    addresses: Callable[[], Iterable[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = tuple,
) -> None:
    """Refuse a pool subnet that overlaps one of this machine's `routes()` or `addresses()`
    (each read only when needed).

    Raises:
        InvalidInput: the subnet is malformed.
        Conflict: it overlaps a local route or address (named in the message).
    """
    net = _subnet(subnet, f"{subnet!r} is not a subnet like 10.42.0.0/16")
    for route in routes():
        if route.version == net.version and route.overlaps(net):
            raise Conflict(
                "Pool subnet overlaps a local network",
                f"pool subnet {net} overlaps the local route {route}: this machine already uses "
                "those addresses, so the pool needs a different subnet",
            )
    for addr in addresses():
        if addr.version == net.version and addr.ip in net and not addr.ip.is_loopback:
            raise Conflict(
                "Pool subnet overlaps a local network",
                f"pool subnet {net} contains this machine's address {addr}",
            )


def peers(listed: Sequence[Peer]) -> None:
    """Refuse a hub's peer list that names a key, or gives an address, twice.

    Raises:
        InvalidInput: naming the key or the address (and the two peers given it).
    """
    keys: set[str] = set()
    ips: dict[str, str] = {}
    for p in listed:
        if p.public_key in keys:
            raise InvalidInput("Duplicate peer", f"public key {p.public_key} is listed twice")
        keys.add(p.public_key)
        for ip in p.allowed_ips:
            if ip in ips:
                raise InvalidInput(
                    "Duplicate peer address",
                    f"{ip} is given to two peers ({ips[ip]}, {p.public_key})",
                )
            ips[ip] = p.public_key
