"""The `wg`/`nft` command layer, on a recording runner with outputs recorded from real runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from kalavai_like.errors import SystemProblem
from kalavai_like.net import firewall, wireguard
from kalavai_like.net.config import Names
from kalavai_like.net.runner import Result
from kalavai_like.net.wireguard import Device, PeerSpec

RECORDED = Path(__file__).parent / "recorded"
DEV = Device("kl-hubw", "kl-hub", "userspace")
A = "egjTJ5NtkpcuPsgs5plElA5XH4Rx9Xs5G4kFLVMhc2Y="
B = "2xfBQ7Bm9LQGMR3jN9nFAWRXxpqpgqJSQ0yv4PLVV1o="


class RecordingRunner:
    """Answers `wg show IF WHAT` from recorded files and records every call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[str], str | None, str | None]] = []
        self.fail = fail

    def run(self, argv: Sequence[str], *, stdin: str | None = None, netns: str | None = None,
            timeout: float = 15.0) -> Result:  # fmt: skip
        self.calls.append((list(argv), stdin, netns))
        if self.fail:
            return Result(1, "", "Unable to modify interface: Protocol not supported\n")
        if argv[:2] == ["wg", "show"]:
            return Result(0, (RECORDED / f"hub-{argv[3]}.txt").read_text(), "")
        if argv[0] == "wireguard-go":
            return Result(0, (RECORDED / "wireguard-go-version.txt").read_text(), "")
        return Result(0, "", "")

    def spawn(self, argv: Sequence[str], *, netns: str | None = None,
              env: Mapping[str, str] | None = None) -> int:  # fmt: skip
        raise AssertionError("not expected")

    def reap(self) -> None:
        pass


def test_show_outputs_are_parsed() -> None:
    r = RecordingRunner()
    stamps = wireguard.latest_handshakes(r, DEV)
    assert stamps[A] > 0 and stamps[B] == 0
    assert wireguard.handshake_age(stamps, B) is None
    assert wireguard.transfer(r, DEV) == {A: (436, 348), B: (0, 0)}
    assert wireguard.allowed_ips(r, DEV) == {
        A: ("10.42.0.2/32", "fd42::2/128"),
        B: ("10.42.0.7/32",),
    }
    assert wireguard.listen_port(r, DEV) == 51820
    assert wireguard.wireguard_go_version(r) == "v0.0.20220316"
    assert all(netns is None for _, _, netns in r.calls)  # userspace: the socket is global


def test_private_key_goes_on_stdin_never_argv() -> None:
    r = RecordingRunner()
    secret = "kJjCNUBkK4a0bBZ8yJhbxA3nNnTiVN2j3M8gx2rW3Fg="
    conf = wireguard.render_conf(secret, 51820, [PeerSpec(A, ("10.42.0.0/16",), "1.2.3.4:5", 25)])
    wireguard.sync_conf(r, DEV, conf)
    argv, stdin, _ = r.calls[0]
    assert argv == ["wg", "syncconf", "kl-hubw", "/dev/stdin"]
    assert stdin is not None and secret in stdin and "PersistentKeepalive = 25" in stdin
    assert all(secret not in arg for arg in argv)


def test_kernel_devices_run_wg_inside_their_namespace() -> None:
    r = RecordingRunner()
    wireguard.listen_port(r, Device("kl-hubw", "kl-hub", "kernel"))
    assert r.calls[0][2] == "kl-hub"


def test_peer_diff_is_one_wg_set() -> None:
    r = RecordingRunner()
    wireguard.update_peers(r, DEV, [PeerSpec(B, ("10.42.0.8/32",))], [A])
    assert r.calls[0][0] == ["wg", "set", "kl-hubw", "peer", A, "remove",
                             "peer", B, "allowed-ips", "10.42.0.8/32"]  # fmt: skip
    wireguard.update_peers(r, DEV, [], [])
    assert len(r.calls) == 1  # nothing to change: no command at all


def test_wg_failure_is_a_system_problem_with_wgs_reason() -> None:
    with pytest.raises(SystemProblem, match="Protocol not supported"):
        wireguard.sync_conf(RecordingRunner(fail=True), DEV, "[Interface]\n")


def test_rulesets_name_the_right_interfaces_and_ranges() -> None:
    n = Names("kl", "m1")
    rules = firewall.PoolRules(n.wg, n.underlay, "10.42.0.0/16", "fd42::/64")
    pool = firewall.spoke_ruleset(rules, "pool", ["192.168.1.0/24"])
    assert 'oifname "kl-m1w" ip daddr 10.42.0.0/16 accept' in pool
    assert 'oifname "kl-m1w" ip6 daddr fd42::/64 accept' in pool
    # WireGuard's socket is the host's: with `pool`, nothing may leave but the tunnel
    assert "kl-m1u" not in pool and "policy drop" in pool and "192.168.1.0/24" not in pool
    internet = firewall.spoke_ruleset(rules, "internet", ["198.51.100.0/24", "192.168.1.0/24"])
    assert 'oifname "kl-m1u" ip daddr != {' in internet
    for blocked in ("10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
                    "192.168.0.0/16", "198.51.100.0/24"):  # fmt: skip
        assert blocked in internet
    assert firewall.spoke_ruleset(rules, "pool", []).startswith("add table inet kalavai\n")
    host = firewall.host_egress_ruleset("kl_m1", "kl-m1h", "169.254.200.0/30", ["192.168.1.0/24"])
    assert 'ip saddr 169.254.200.0/30 oifname != "kl-m1h" masquerade' in host
    assert "192.168.0.0/16" in host and 'iifname "kl-m1h" drop' in host
    hub = firewall.hub_ruleset("kl-hubw", "10.42.0.0/16", None)
    assert 'iifname "kl-hubw" oifname "kl-hubw" ip saddr 10.42.0.0/16 ip daddr 10.42.0.0/16' in hub
    assert "ip6" not in hub
