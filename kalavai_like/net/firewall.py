"""nftables rules: the membership namespace's lockdown and the host's NAT and guard rules.

Rules are rendered as text (pure, unit-tested) and applied atomically with `nft -f -` through
the `CommandRunner`: each table is declared, deleted and re-declared in one transaction, so
re-applying replaces it without a window where nothing filters. nft rather than iptables: one
atomic ruleset per table, inet family for IPv4 and IPv6 together, and no global chains that
other software (docker, firewalld) also edits.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kalavai_like.errors import SystemProblem
from kalavai_like.net.runner import CommandRunner

NS_TABLE = "kalavai"
# Never reachable with the `internet` policy: "this" network, RFC 1918, CGNAT, loopback,
# link-local, IETF protocol assignments, benchmarking, multicast and reserved space.
BLOCKED4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3",
)  # fmt: skip
BLOCKED6 = ("::1/128", "fc00::/7", "fe80::/10", "ff00::/8")


@dataclass(frozen=True)
class PoolRules:
    """What a membership namespace may talk to."""

    wg: str
    underlay: str
    pool4: str
    pool6: str | None
    hub_ip: str
    hub_port: int


def _merged(nets: Iterable[str], version: int) -> str:
    same = [ipaddress.IPv4Network(n, strict=False) for n in nets if ":" not in n]
    if version == 6:
        return ", ".join(str(n) for n in ipaddress.collapse_addresses(
            ipaddress.IPv6Network(n, strict=False) for n in nets if ":" in n))  # fmt: skip
    return ", ".join(str(n) for n in ipaddress.collapse_addresses(same))


def spoke_ruleset(r: PoolRules, policy: str, host_nets: Sequence[str]) -> str:
    """The membership namespace: pool over WireGuard, UDP to the hub over the underlay.

    With `policy == "internet"` IPv4 egress over the underlay is allowed too, except private,
    link-local, CGNAT and reserved ranges and the host's own networks.
    """
    v6_in = f'iifname "{r.wg}" ip6 saddr {r.pool6} accept' if r.pool6 else ""
    v6_out = f'oifname "{r.wg}" ip6 daddr {r.pool6} accept' if r.pool6 else ""
    internet = ""
    if policy == "internet":
        blocked = _merged([*BLOCKED4, *host_nets], 4)
        internet = f'oifname "{r.underlay}" ip daddr != {{ {blocked} }} accept'
    return _table(
        "inet",
        NS_TABLE,
        f"""
  chain input {{
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    iifname "{r.wg}" ip saddr {r.pool4} accept
    {v6_in}
    iifname "{r.underlay}" ip saddr {r.hub_ip} udp sport {r.hub_port} accept
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
  }}
  chain output {{
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    oifname "{r.wg}" ip daddr {r.pool4} accept
    {v6_out}
    oifname "{r.underlay}" ip daddr {r.hub_ip} udp dport {r.hub_port} accept
    {internet}
  }}""",
    )


def hub_ruleset(wg: str, underlay: str, pool4: str, pool6: str | None, port: int) -> str:
    """The hub namespace: WireGuard on `port`, pool traffic, spoke-to-spoke inside the pool."""
    v6 = pool6 is not None
    return _table(
        "inet",
        NS_TABLE,
        f"""
  chain input {{
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    iifname "{underlay}" udp dport {port} accept
    iifname "{wg}" ip saddr {pool4} accept
    {f'iifname "{wg}" ip6 saddr {pool6} accept' if v6 else ""}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    iifname "{wg}" oifname "{wg}" ip saddr {pool4} ip daddr {pool4} accept
    {f'iifname "{wg}" oifname "{wg}" ip6 saddr {pool6} ip6 daddr {pool6} accept' if v6 else ""}
  }}
  chain output {{
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    oifname "{wg}" ip daddr {pool4} accept
    {f'oifname "{wg}" ip6 daddr {pool6} accept' if v6 else ""}
    oifname "{underlay}" udp sport {port} accept
  }}""",
    )


def host_spoke_ruleset(
    table: str, veth: str, underlay_net: str, hub_ip: str, hub_port: int, policy: str,
    host_nets: Sequence[str],
) -> str:  # fmt: skip
    """Host side of a spoke: masquerade its underlay; let in only what the namespace may send.

    A second line of defence: even if the namespace's own rules were flushed, the host still
    refuses everything but UDP to the hub (and public addresses with the `internet` policy).
    """
    internet = ""
    if policy == "internet":
        blocked = _merged([*BLOCKED4, *host_nets], 4)
        internet = f'iifname "{veth}" ip daddr != {{ {blocked} }} accept'
    # Match the destination before DNAT: a hub on this same host rewrites it.
    to_hub = f"meta l4proto udp ct original ip daddr {hub_ip} ct original proto-dst {hub_port}"
    return _table(
        "inet",
        table,
        f"""
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {underlay_net} oifname != "{veth}" masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{veth}" {to_hub} accept
    oifname "{veth}" ct state established,related accept
    {internet}
    iifname "{veth}" drop
    oifname "{veth}" drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{veth}" {to_hub} accept
    iifname "{veth}" drop
  }}""",
    )


def host_hub_ruleset(table: str, veth: str, underlay_net: str, ns_ip: str, port: int) -> str:
    """Host side of a hub: DNAT UDP `port` on the host's addresses into the hub namespace."""
    return _table(
        "inet",
        table,
        f"""
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname != "{veth}" fib daddr type local meta l4proto udp th dport {port} \\
      dnat ip to {ns_ip}:{port}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {underlay_net} oifname != "{veth}" masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname "{veth}" ip daddr {ns_ip} udp dport {port} accept
    iifname "{veth}" udp sport {port} accept
    oifname "{veth}" ct state established,related accept
    iifname "{veth}" drop
    oifname "{veth}" drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{veth}" ct state established,related accept
    iifname "{veth}" drop
  }}""",
    )


def _table(family: str, name: str, body: str) -> str:
    lines = [line for line in body.splitlines() if line.strip()]
    body = "\n".join(lines)
    # add + delete + declare in one transaction: replaces an old table atomically.
    head = f"add table {family} {name}\ndelete table {family} {name}\n"
    return f"{head}table {family} {name} {{\n{body}\n}}\n"


def apply(runner: CommandRunner, ruleset: str, netns: str | None = None) -> None:
    """Load a ruleset atomically.

    Raises:
        SystemProblem: nft refused it (message carries nft's reason).
    """
    res = runner.run(["nft", "-f", "-"], stdin=ruleset, netns=netns)
    if not res.ok:
        raise SystemProblem("Firewall rules failed", f"nft: {res.stderr.strip()[:400]}")


def delete_table(runner: CommandRunner, name: str, netns: str | None = None) -> None:
    """Delete a table if present (idempotent)."""
    apply(runner, f"add table inet {name}\ndelete table inet {name}\n", netns)


def tables(runner: CommandRunner, netns: str | None = None) -> list[str]:
    """Names of the inet tables present."""
    res = runner.run(["nft", "-j", "list", "tables", "inet"], netns=netns)
    if not res.ok:
        return []
    try:
        data = json.loads(res.stdout)
    except json.JSONDecodeError:
        return []
    return [item["table"]["name"] for item in data.get("nftables", []) if "table" in item]
