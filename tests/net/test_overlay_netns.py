"""The real overlay on simulated hosts: connectivity, isolation, live peers, crash recovery.

Every address probed lives in a namespace these tests created (see sim.py).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess

import pytest

from kalavai_like.errors import SystemProblem
from tests.support import netsim as sim
from tests.support.overlay_pool import Member, Pool
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def test_spokes_reach_the_hub_and_each_other(two_spokes: Pool) -> None:
    s1, s2 = two_spokes.members["s1"], two_spokes.members["s2"]
    st = s1.host.spoke_status(s1.cfg.prefix, s1.cfg.name)
    assert st is not None and st.address == "10.42.0.2/16" and st.process_alive
    assert st.netns_path == "/run/netns/kt4a-s1" and st.backend == "userspace"
    assert st.latest_handshake_age is not None
    assert sim.ping(s1.ns, "10.42.0.1") and sim.ping(s2.ns, "10.42.0.1")
    assert sim.ping(s1.ns, "fd42::1")
    # spoke to spoke goes through the hub
    assert sim.ping(s1.ns, s2.ip) and sim.ping(s2.ns, s1.ip)
    assert sim.ping(s2.ns, "fd42::2")
    # the pool's head container sits in the hub namespace and reaches the spokes
    assert sim.ping(two_spokes.hub_ns, s1.ip)


def test_membership_namespace_reaches_only_the_pool(two_spokes: Pool) -> None:
    s1 = two_spokes.members["s1"]
    # WireGuard's UDP socket is the host's: the namespace holds no way out but the tunnel
    assert sorted(sim.links(s1.ns)) == ["kt4a-s1w", "lo"]
    assert "wireguard-go" in sim.sh("ip", "netns", "exec", "kt4-ph1", "ss", "-uanp").stdout
    assert sim.ping(s1.ns, "10.42.0.1")  # the pool
    for addr in (
        "198.18.0.11",  # this host's own address
        "198.18.0.12",  # another host
        "198.18.0.10",  # the hub's host, other than its WireGuard port
        "198.18.0.1",  # the LAN's gateway
        sim.LAN,  # the volunteer's LAN
        sim.INTERNET,  # the internet, with the default `pool` policy
    ):
        assert not sim.ping(s1.ns, addr), f"{addr} reachable from the membership namespace"
    # even with the namespace's own rules gone, there is no route off the machine
    sim.sh("ip", "netns", "exec", s1.ns, "nft", "delete", "table", "inet", "kalavai")
    try:
        assert not sim.ping(s1.ns, sim.LAN) and not sim.ping(s1.ns, "198.18.0.11")
    finally:
        s1.host.ensure_spoke(s1.cfg)  # puts the rules back
    assert "kalavai" in sim.nft_tables(s1.ns)


def test_hub_listens_on_its_hosts_own_port(two_spokes: Pool) -> None:
    hub_host = two_spokes.hub_host.netns
    sockets = sim.sh("ip", "netns", "exec", hub_host, "ss", "-uanp").stdout
    assert any(":51820 " in line and "wireguard-go" in line for line in sockets.splitlines())
    assert sorted(sim.links(two_spokes.hub_ns)) == ["kt4c-hubw", "lo"]
    assert sim.nft_tables(hub_host) == []  # no port forwarding, no NAT


def test_hub_on_a_port_the_host_already_uses_fails_clearly_and_leaves_nothing(
    two_spokes: Pool,
) -> None:
    pool = two_spokes
    second = dataclasses.replace(
        pool.hub_cfg, name="hub2", address="10.43.0.1/16", pool_subnet="10.43.0.0/16",
        address6=None, pool_subnet6=None,
    )  # fmt: skip
    with pytest.raises(SystemProblem) as err:
        pool.hub_host.up_hub(second)  # 51820 is the first hub's
    assert "UDP 51820" in err.value.title and "already listens on UDP 51820" in err.value.message
    assert not sim.netns_exists("kt4c-hub2")
    assert "kt4c-hub2w" not in sim.links(pool.hub_host.netns)
    assert not any("hub2" in item for item in sim.leftovers("kt4c"))
    assert sim.ping(pool.members["s1"].ns, "10.42.0.1")  # the first hub is untouched


def test_cleanup_stops_an_interface_a_crash_left_in_the_host_namespace(two_spokes: Pool) -> None:
    host = two_spokes.members["s1"].host
    # A crash between creating the interface and moving it leaves it in the host namespace.
    proc = subprocess.Popen(
        ["ip", "netns", "exec", host.netns, "wireguard-go", "-f", "kt4e-s9w"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: "kt4e-s9w" in sim.links(host.netns), timeout=10, what="interface")
        left = host.cleanup("kt4e")
        assert proc.pid in left.processes
        wait_for(lambda: "kt4e-s9w" not in sim.links(host.netns), timeout=10, what="interface gone")
        assert sim.leftovers("kt4e") == []
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert sim.ping(two_spokes.members["s1"].ns, "10.42.0.1")  # other prefixes untouched


def test_a_spoke_reaches_its_hub_over_ipv6(two_spokes: Pool) -> None:
    pool = two_spokes
    m = pool.member("h2", "s6", 6)
    m.cfg = dataclasses.replace(m.cfg, hub_endpoint=f"[{sim.LAN6}10]:51820")
    pool.publish()
    try:
        m.host.up_spoke(m.cfg)
        assert sim.ping(m.ns, "10.42.0.1") and sim.ping(m.ns, pool.members["s1"].ip)
        endpoints = dict(
            line.split("\t")
            for line in sim.sh("wg", "show", "kt4c-hubw", "endpoints").stdout.split("\n")
            if line
        )
        assert endpoints[m.keys.public].startswith(f"[{sim.LAN6}12]:")  # h2's IPv6 address
    finally:
        m.host.down_spoke("kt4b", "s6")
        del pool.members["s6"]
        pool.publish()


def test_third_spoke_joins_live_without_disturbing_the_others(two_spokes: Pool) -> None:
    pool = two_spokes
    s1, s2 = pool.members["s1"], pool.members["s2"]
    before = {p.public_key: p.rx_bytes for p in pool.hub_host.hub_status("kt4c", "hub").peers}
    pings = [sim.spawn_pings(s1.ns, s2.ip, 60), sim.spawn_pings(s2.ns, "10.42.0.1", 60)]
    s3 = pool.member("h3", "s3", 4, policy="internet")
    pool.publish()
    s3.host.up_spoke(s3.cfg)
    assert sim.ping(s3.ns, "10.42.0.1") and sim.ping(s3.ns, s1.ip)
    for proc in pings:
        sent, got = sim.received(proc)
        assert got == sent, f"lost {sent - got} of {sent} pings while a spoke joined"
    after = {p.public_key: p.rx_bytes for p in pool.hub_host.hub_status("kt4c", "hub").peers}
    for key in (s1.keys.public, s2.keys.public):  # a re-added peer would restart from 0
        assert after[key] > before[key]
    assert len(after) == 3


def internet_spoke(pool: Pool) -> Member:
    """s3 on h3 with the internet policy: the one an earlier test made, or a new one."""
    s3 = pool.members.get("s3")
    if s3 is None or s3.host.spoke_status("kt4d", "s3") is None:
        s3 = pool.member("h3", "s3", 4, policy="internet")
        pool.publish()
        s3.host.up_spoke(s3.cfg)
    return s3


def test_internet_policy_reaches_public_addresses_but_no_private_ones(two_spokes: Pool) -> None:
    pool = two_spokes
    s3 = internet_spoke(pool)
    assert sim.ping(s3.ns, sim.INTERNET)
    assert sim.ping(s3.ns, "10.42.0.1")
    for addr in (sim.LAN, "198.18.0.13", "198.18.0.12", "198.18.0.1",
                 sim.ipv4_of("kt4-ph3", "kt4d-s3h")):  # fmt: skip
        assert not sim.ping(s3.ns, addr), f"{addr} reachable with the internet policy"


def test_dead_wireguard_go_is_restarted_by_ensure(two_spokes: Pool) -> None:
    s1 = two_spokes.members["s1"]
    st = s1.host.spoke_status("kt4a", "s1")
    assert st is not None and st.pid is not None
    os.kill(st.pid, signal.SIGKILL)
    wait_for(lambda: not s1.host.spoke_status("kt4a", "s1").process_alive, timeout=10, what="death")
    assert not sim.ping(s1.ns, "10.42.0.1")
    repaired = s1.host.ensure_spoke(s1.cfg)
    assert repaired.process_alive and repaired.pid != st.pid
    assert repaired.address == "10.42.0.2/16"
    assert sim.eventually_pings(s1.ns, "10.42.0.1")
    assert sim.eventually_pings(s1.ns, two_spokes.members["s2"].ip)


def test_crashed_agent_is_cleaned_up_and_rejoins_with_the_same_address(two_spokes: Pool) -> None:
    s2 = two_spokes.members["s2"]
    old = s2.host.spoke_status("kt4b", "s2")
    assert old is not None and old.pid is not None
    s2.host.kill()  # the owning process dies; its wireguard-go and namespace stay behind
    os.kill(old.pid, signal.SIGKILL)  # and the daemon too
    s2.host.start()
    left = s2.host.cleanup("kt4b")
    assert "kt4b-s2" in left.namespaces
    assert sim.leftovers("kt4b") == []
    assert "kt4b-s2h" not in sim.links("kt4-ph2") and "kt4b_s2" not in sim.nft_tables("kt4-ph2")
    st = s2.host.up_spoke(s2.cfg)
    assert st.address == "10.42.0.3/16"
    assert sim.ping(s2.ns, "10.42.0.1")
    assert sim.eventually_pings(s2.ns, two_spokes.members["s1"].ip)


def test_unanswered_handshake_rolls_everything_back(two_spokes: Pool) -> None:
    pool = two_spokes
    stranger = pool.member("h1", "x9", 99)  # not published: the hub ignores it
    del pool.members["x9"]
    with pytest.raises(SystemProblem) as err:
        stranger.host.up_spoke(stranger.cfg, handshake_timeout=1.0)
    assert "waiting for the first handshake" in err.value.title
    assert "UDP" in err.value.message and "198.18.0.10:51820" in err.value.message
    assert stranger.host.spoke_status("kt4a", "x9") is None
    assert not sim.netns_exists("kt4a-x9")
    assert "kt4a-x9h" not in sim.links("kt4-ph1") and "kt4a_x9" not in sim.nft_tables("kt4-ph1")
    assert not any("x9" in item for item in sim.leftovers("kt4a"))


def test_down_is_idempotent_and_leaves_nothing(two_spokes: Pool) -> None:
    pool = two_spokes
    extra = pool.member("h2", "s5", 5)
    pool.publish()
    extra.host.up_spoke(dataclasses.replace(extra.cfg))
    extra.host.down_spoke("kt4b", "s5")
    extra.host.down_spoke("kt4b", "s5")
    del pool.members["s5"]
    pool.publish()
    assert extra.host.spoke_status("kt4b", "s5") is None
    assert not any("s5" in item for item in sim.leftovers("kt4b"))
    assert "kt4b-s5h" not in sim.links("kt4-ph2") and "kt4b_s5" not in sim.nft_tables("kt4-ph2")
    # the others are unaffected
    assert sim.ping(pool.members["s1"].ns, pool.members["s2"].ip)


def test_host_rules_still_guard_the_lan_if_the_namespace_rules_are_gone(two_spokes: Pool) -> None:
    pool = two_spokes
    s3 = internet_spoke(pool)
    sim.sh("ip", "netns", "exec", s3.ns, "nft", "delete", "table", "inet", "kalavai")
    try:
        assert sim.ping(s3.ns, sim.INTERNET)
        assert not sim.ping(s3.ns, sim.LAN) and not sim.ping(s3.ns, "198.18.0.13")
    finally:
        s3.host.ensure_spoke(s3.cfg)  # puts the namespace's rules back
    assert "kalavai" in sim.nft_tables(s3.ns)
    assert not sim.ping(s3.ns, sim.LAN)


def test_restarted_hub_gets_its_peers_back_and_spokes_reconnect(two_spokes: Pool) -> None:
    pool = two_spokes
    s1 = pool.members["s1"]
    st = pool.hub_host.hub_status("kt4c", "hub")
    assert st is not None and st.pid is not None
    os.kill(st.pid, signal.SIGKILL)
    wait_for(
        lambda: not pool.hub_host.hub_status("kt4c", "hub").process_alive, timeout=10, what="death"
    )
    peers = [m.peer for m in pool.members.values()]
    repaired = pool.hub_host.ensure_hub(pool.hub_cfg, peers)
    assert repaired.process_alive and repaired.address == "10.42.0.1/16"
    assert {p.public_key for p in repaired.peers} == {p.public_key for p in peers}
    # The spokes hold stale sessions; WireGuard's own timers make them handshake again.
    assert sim.eventually_pings(s1.ns, "10.42.0.1", timeout=60)
