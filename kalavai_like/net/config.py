"""What the overlay is asked to build (configs) and what it reports (statuses), validated.

Configs are frozen dataclasses checked in `__post_init__`, so a bad field fails with
`InvalidInput` before anything touches the system. `Names` derives every system name of one
membership from its prefix and name, so creation, status and cleanup agree.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kalavai_like.errors import InvalidInput
from kalavai_like.net import validate

POLICIES = ("pool", "internet")
BACKENDS = ("auto", "kernel", "userspace")
NETNS_DIR = "/run/netns"


@dataclass(frozen=True)
class Names:
    """System names of one membership: `<prefix>-<name>` plus a role letter."""

    prefix: str
    name: str

    @classmethod
    def checked(cls, prefix: str, name: str) -> Names:
        """The names of `name` under `prefix`.

        Raises:
            InvalidInput: the prefix or the name is malformed.
        """
        validate.prefix(prefix)
        validate.name(name, prefix)
        return cls(prefix, name)

    @property
    def stem(self) -> str:
        return f"{self.prefix}-{self.name}"

    @property
    def netns(self) -> str:
        return self.stem

    @property
    def netns_path(self) -> str:
        return f"{NETNS_DIR}/{self.netns}"

    @property
    def wg(self) -> str:
        """WireGuard interface; unique machine-wide (wireguard-go's sockets are global)."""
        return f"{self.stem}w"

    @property
    def underlay(self) -> str:
        """Underlay veth end inside the membership namespace."""
        return f"{self.stem}u"

    @property
    def host_veth(self) -> str:
        """Underlay veth end in the host namespace."""
        return f"{self.stem}h"

    @property
    def host_table(self) -> str:
        """nftables table in the host namespace (NAT and guard rules)."""
        return f"{self.prefix}_{self.name}"


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair, base64. Never log `private`."""

    private: str = field(repr=False)
    public: str


@dataclass(frozen=True)
class BackendInfo:
    """Which WireGuard implementation runs: `kernel` or `userspace` (wireguard-go)."""

    kind: str
    version: str


@dataclass(frozen=True)
class _Endpoint:
    """What a spoke and a hub both are: one membership's names, key and overlay addresses."""

    prefix: str
    name: str
    private_key: str = field(repr=False)
    address: str
    address6: str | None

    @property
    def names(self) -> Names:
        return Names(self.prefix, self.name)

    def _check(self, pool_subnet: str, pool_subnet6: str | None, mtu: int, backend: str) -> None:
        """Raises InvalidInput naming the first malformed field found."""
        validate.prefix(self.prefix)
        validate.name(self.name, self.prefix)
        validate.key(self.private_key, "private_key")
        validate.choice(backend, BACKENDS, "backend")
        address, address6 = self.address, self.address6
        validate.interface_address(address, 4, "address")
        validate.network(pool_subnet, 4, "pool_subnet")
        validate.inside(address, pool_subnet, "address")
        if (address6 is None) != (pool_subnet6 is None):
            why = "address6 and pool_subnet6 must be given together"
            raise InvalidInput("Invalid address", why)
        if address6 is not None and pool_subnet6 is not None:
            validate.interface_address(address6, 6, "address6")
            validate.network(pool_subnet6, 6, "pool_subnet6")
            validate.inside(address6, pool_subnet6, "address6")
        validate.mtu(mtu, ipv6=address6 is not None)


@dataclass(frozen=True)
class RelayRoute:
    """The relay a membership may use. `hub_address`: the hub's overlay IPv4 (a spoke; "" for a
    hub); `relay_only`: the hub takes no direct UDP, so a spoke does not try it;
    `direct_timeout`: how long a spoke waits for a direct handshake before the relay."""

    relay: str
    device_id: str
    credential: str = field(repr=False)
    run_dir: str
    hub_address: str = ""
    relay_only: bool = False
    direct_timeout: float = 1.5

    def __post_init__(self) -> None:
        validate.endpoint(self.relay, "relay")
        if not 0.1 <= self.direct_timeout <= 60:
            raise InvalidInput("Invalid relay route", "direct_timeout must be 0.1-60 s")


@dataclass(frozen=True)
class SpokeConfig(_Endpoint):
    """One membership on a worker: a namespace with WireGuard to the pool's hub."""

    hub_public_key: str
    hub_endpoint: str
    pool_subnet: str
    pool_subnet6: str | None
    policy: str = "pool"
    mtu: int = 1280
    keepalive: int = 25
    backend: str = "auto"
    relay: RelayRoute | None = None  # None: direct only (the platform has no relay)

    def __post_init__(self) -> None:
        self._check(self.pool_subnet, self.pool_subnet6, self.mtu, self.backend)
        validate.key(self.hub_public_key, "hub_public_key")
        validate.endpoint(self.hub_endpoint)
        validate.choice(self.policy, POLICIES, "policy")
        validate.keepalive(self.keepalive)


@dataclass(frozen=True)
class HubConfig(_Endpoint):
    """A pool's hub: WireGuard at overlay .1 in its own namespace, reached on listen_port."""

    listen_port: int
    pool_subnet: str
    pool_subnet6: str | None
    mtu: int = 1280
    backend: str = "auto"
    relay: RelayRoute | None = None  # a bridge to the relay carries relayed workers' datagrams

    def __post_init__(self) -> None:
        self._check(self.pool_subnet, self.pool_subnet6, self.mtu, self.backend)
        validate.port(self.listen_port, "listen_port")


@dataclass(frozen=True)
class Peer:
    """A spoke as the hub sees it: its key and its overlay address(es) as /32 and /128."""

    public_key: str
    address: str
    address6: str | None = None

    def __post_init__(self) -> None:
        validate.key(self.public_key, "peer public_key")
        a = ipaddress.ip_interface(validate.interface_address(self.address, 4, "peer address"))
        if a.network.prefixlen != 32:
            raise InvalidInput("Invalid address", f"peer address {self.address} must be a /32")
        if self.address6 is not None:
            a6 = ipaddress.ip_interface(
                validate.interface_address(self.address6, 6, "peer address6")
            )
            if a6.network.prefixlen != 128:
                raise InvalidInput(
                    "Invalid address", f"peer address6 {self.address6} must be a /128"
                )

    @property
    def allowed_ips(self) -> tuple[str, ...]:
        ips = [str(ipaddress.ip_interface(self.address).network)]
        if self.address6:
            ips.append(str(ipaddress.ip_interface(self.address6).network))
        return tuple(ips)


@dataclass(frozen=True)
class _EndpointStatus:
    """What a spoke's and a hub's statuses both say first: where the tunnel is, its address."""

    prefix: str
    name: str
    netns: str
    netns_path: str
    interface: str
    address: str | None
    address6: str | None


@dataclass(frozen=True)
class SpokeStatus(_EndpointStatus):
    """A spoke as it is now. `netns_path` is what a container joins (`--network ns:PATH`)."""

    latest_handshake_age: float | None  # seconds; None before the first handshake
    rx_bytes: int
    tx_bytes: int
    backend: str
    backend_version: str
    process_alive: bool  # wireguard-go running (always True for the kernel backend)
    pid: int | None
    path: str = "direct"  # or "relay": the hub's datagrams go through the relay's bridge
    relay: str | None = None  # the relay's host:port, when relayed
    relay_state: str | None = None  # the bridge's: connecting, connected, waiting, refused

    @property
    def healthy(self) -> bool:
        return self.process_alive and self.address is not None


@dataclass(frozen=True)
class PeerStatus:
    """One peer on the hub: its allowed IPs and handshake age."""

    public_key: str
    allowed_ips: tuple[str, ...]
    latest_handshake_age: float | None
    rx_bytes: int
    tx_bytes: int
    relayed: bool = False  # its datagrams come through the relay


@dataclass(frozen=True)
class HubStatus(_EndpointStatus):
    """A hub as it is now. The pool's head container joins `netns_path`."""

    listen_port: int | None
    peers: tuple[PeerStatus, ...]
    backend: str
    backend_version: str
    process_alive: bool
    pid: int | None
    relay: str | None = None  # the relay its bridge keeps a connection to, if any
    relay_state: str | None = None


def backend_label(st: SpokeStatus | HubStatus) -> str:
    """How a tunnel runs, for people: `wireguard-go v0.0.20220316` or `kernel WireGuard 1.0.0`."""
    if st.backend == "userspace":
        return f"wireguard-go {st.backend_version}"
    return f"kernel WireGuard {st.backend_version}"
