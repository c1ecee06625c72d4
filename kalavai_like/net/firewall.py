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


def _merged(nets: Iterable[str], version: int) -> str:
    same = [ipaddress.IPv4Network(n, strict=False) for n in nets if ":" not in n]
    if version == 6:
        return ", ".join(str(n) for n in ipaddress.collapse_addresses(
            ipaddress.IPv6Network(n, strict=False) for n in nets if ":" in n))  # fmt: skip
    return ", ".join(str(n) for n in ipaddress.collapse_addresses(same))


def _pool_lines(wg: str, pool4: str, pool6: str | None, direction: str) -> str:
    """Accept the pool over WireGuard: `iifname ... saddr` in, `oifname ... daddr` out."""
    dev, addr = ("iifname", "saddr") if direction == "in" else ("oifname", "daddr")
    lines = [f'{dev} "{wg}" ip {addr} {pool4} accept']
    if pool6:
        lines.append(f'{dev} "{wg}" ip6 {addr} {pool6} accept')
    return "\n    ".join(lines)


def _lockdown(r: PoolRules, extra_in: str = "", forward: str = "", extra_out: str = "") -> str:
    """A namespace's table: the pool over WireGuard and loopback, plus the extras; drop the rest.

    No `ct` match on the pool's path: without one the namespace needs no connection tracking,
    which would cost every tunnelled packet.
    """
    return _table(
        "inet",
        NS_TABLE,
        f"""
  chain input {{
    type filter hook input priority filter; policy drop;
    {_pool_lines(r.wg, r.pool4, r.pool6, "in")}
    iif "lo" accept
    {extra_in}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    {forward}
  }}
  chain output {{
    type filter hook output priority filter; policy drop;
    {_pool_lines(r.wg, r.pool4, r.pool6, "out")}
    oif "lo" accept
    {extra_out}
  }}""",
    )


def spoke_ruleset(r: PoolRules, policy: str, host_nets: Sequence[str]) -> str:
    """The membership namespace: the pool over WireGuard and nothing else.

    WireGuard's own UDP socket lives in the host namespace, so nothing else needs to leave.
    With `policy == "internet"` IPv4 egress over the underlay is allowed too, except private,
    link-local, CGNAT and reserved ranges and the host's own networks.
    """
    if policy != "internet":
        return _lockdown(r)
    blocked = _merged([*BLOCKED4, *host_nets], 4)
    return _lockdown(
        r,
        extra_in=f'iifname "{r.underlay}" ct state established,related accept',
        extra_out=f'oifname "{r.underlay}" ip daddr != {{ {blocked} }} accept',
    )


def hub_ruleset(wg: str, pool4: str, pool6: str | None) -> str:
    """The hub namespace: pool traffic, and spoke-to-spoke forwarding inside the pool."""
    forward = f'iifname "{wg}" oifname "{wg}" ip saddr {pool4} ip daddr {pool4} accept'
    if pool6:
        forward += f'\n    iifname "{wg}" oifname "{wg}" ip6 saddr {pool6} ip6 daddr {pool6} accept'
    return _lockdown(PoolRules(wg, "", pool4, pool6), forward=forward)


def host_egress_ruleset(table: str, veth: str, underlay_net: str, host_nets: Sequence[str]) -> str:
    """Host side of an `internet` membership's underlay: masquerade it to public addresses only.

    A second line of defence: even if the namespace's own rules were flushed, the host still
    refuses anything private (the volunteer's LAN, the host itself) from the underlay.
    """
    blocked = _merged([*BLOCKED4, *host_nets], 4)
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
    oifname "{veth}" ct state established,related accept
    iifname "{veth}" ip daddr != {{ {blocked} }} accept
    iifname "{veth}" drop
    oifname "{veth}" drop
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
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
