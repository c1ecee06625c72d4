"""Config validation: bad input fails with a message a person can act on."""

from __future__ import annotations

import dataclasses

import pytest

from kalavai_like.errors import InvalidInput
from kalavai_like.net import HubConfig, Peer, SpokeConfig, generate_keypair, public_key

KEYS = generate_keypair()
HUB = generate_keypair()


def spoke(**changes: object) -> SpokeConfig:
    base = dict(
        prefix="kl", name="m1", private_key=KEYS.private, address="10.42.0.5/16",
        address6=None, hub_public_key=HUB.public, hub_endpoint="203.0.113.1:51820",
        pool_subnet="10.42.0.0/16", pool_subnet6=None,
    )  # fmt: skip
    base.update(changes)
    return SpokeConfig(**base)  # type: ignore[arg-type]


def hub(**changes: object) -> HubConfig:
    base = dict(
        prefix="kl", name="hub", private_key=HUB.private, address="10.42.0.1/16", address6=None,
        listen_port=51820, pool_subnet="10.42.0.0/16", pool_subnet6=None,
    )  # fmt: skip
    base.update(changes)
    return HubConfig(**base)  # type: ignore[arg-type]


def test_valid_configs_pass() -> None:
    assert spoke().names.wg == "kl-m1w"
    assert spoke(address6="fd42::5/64", pool_subnet6="fd42::/64", policy="internet").policy
    assert hub().listen_port == 51820
    assert spoke(hub_endpoint="[fd00::1]:51820").hub_endpoint
    assert spoke(hub_endpoint="hub.example.org:443").hub_endpoint


def test_keypair_is_x25519_base64() -> None:
    kp = generate_keypair()
    assert len(kp.private) == 44 and len(kp.public) == 44
    assert public_key(kp.private) == kp.public
    assert kp.private not in repr(kp)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: hub(listen_port=70000), "port 70000 is out of range 1-65535"),
        (lambda: hub(listen_port=0), "port 0 is out of range 1-65535"),
        (lambda: spoke(hub_endpoint="203.0.113.1:70000"), "port 70000 is out of range 1-65535"),
        (lambda: spoke(hub_endpoint="203.0.113.1"), "is not host:port"),
        (lambda: spoke(hub_endpoint="bad host!:51820"), "is not a host name or address"),
        (lambda: spoke(hub_public_key="not-a-key"), "hub_public_key is not a WireGuard key"),
        (lambda: spoke(private_key="A" * 43 + "!"), "private_key is not valid base64"),
        (lambda: spoke(address="10.42.0.5"), "is not an IPv4 address with a prefix"),
        (lambda: spoke(address="10.43.0.5/16"), "outside the pool 10.42.0.0/16"),
        (lambda: spoke(pool_subnet="10.42.0.1/16"), "is not an IPv4 subnet"),
        (lambda: spoke(address="10.42.0.0/16"), "network or broadcast"),
        (lambda: spoke(address6="fd42::5/64"), "must be given together"),
        (lambda: spoke(mtu=100), "mtu 100 is out of range"),
        (lambda: spoke(keepalive=-1), "keepalive -1 is out of range"),
        (lambda: spoke(policy="everything"), "must be one of pool, internet"),
        (lambda: spoke(backend="magic"), "must be one of auto, kernel, userspace"),
        (lambda: spoke(prefix="Bad-"), "prefix 'Bad-'"),
        (lambda: spoke(name="much-too-long-name"), "name 'much-too-long-name'"),
        (lambda: spoke(prefix="kalavai1", name="abcdefghi"), "too long for an interface name"),
        (lambda: Peer(KEYS.public, "10.42.0.5/24"), "must be a /32"),
        (lambda: Peer("x", "10.42.0.5/32"), "peer public_key is not a WireGuard key"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(make: object, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        make()  # type: ignore[operator]
    assert message in err.value.message


def test_private_key_never_shows_in_errors_or_repr() -> None:
    cfg = spoke()
    assert KEYS.private not in repr(cfg)
    with pytest.raises(InvalidInput) as err:
        dataclasses.replace(cfg, private_key=KEYS.private[:-2] + "!!")
    assert KEYS.private[:-2] not in str(err.value)


def test_subnet_free_reads_routes_and_addresses_only_when_needed() -> None:
    import ipaddress

    from kalavai_like.errors import Conflict
    from kalavai_like.net import validate

    def unread() -> list[ipaddress.IPv4Network]:
        raise AssertionError("read although the subnet is malformed or already refused")

    with pytest.raises(InvalidInput, match=r"is not a subnet like 10\.42\.0\.0/16"):
        validate.subnet_free("10.42.0.1/16", unread, unread)
    routes = [ipaddress.ip_network("10.42.7.0/24")]
    with pytest.raises(Conflict, match=r"overlaps the local route 10\.42\.7\.0/24"):
        validate.subnet_free("10.42.0.0/16", lambda: routes, unread)
    addrs = [ipaddress.ip_interface("10.43.0.9/32"), ipaddress.ip_interface("127.0.0.1/8")]
    with pytest.raises(Conflict, match=r"contains this machine's address 10\.43\.0\.9/32"):
        validate.subnet_free("10.43.0.0/16", lambda: routes, lambda: addrs)
    validate.subnet_free("10.44.0.0/16", lambda: routes, lambda: addrs)


def test_peer_lists_name_each_key_and_address_once() -> None:
    from kalavai_like.net import validate

    a, b = generate_keypair().public, generate_keypair().public
    validate.peers([Peer(a, "10.42.0.5/32"), Peer(b, "10.42.0.6/32")])
    with pytest.raises(InvalidInput, match="is listed twice"):
        validate.peers([Peer(a, "10.42.0.5/32"), Peer(a, "10.42.0.6/32")])
    with pytest.raises(InvalidInput, match=r"10\.42\.0\.5/32 is given to two peers"):
        validate.peers([Peer(a, "10.42.0.5/32"), Peer(b, "10.42.0.5/32")])
