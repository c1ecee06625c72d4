"""What a membership and a seed role become on this node: the persisted record from the
platform's answer, the overlay configuration and the container specs (pure functions)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from kalavai_like.agent.ports import TemplatePort
from kalavai_like.agent.state import Membership, SeedRole
from kalavai_like.client.records import JoinRequest, bare, with_prefixlen
from kalavai_like.container.spec import ContainerSpec, Limits
from kalavai_like.container.templates import template
from kalavai_like.net import KeyPair, RelayRoute, SpokeConfig


def membership_from(
    red: dict[str, Any], platform: str, keys: KeyPair, req: JoinRequest, *, prefix: str,
    name: str, joined_at: float,
) -> Membership:  # fmt: skip
    """The membership record from a redeem answer (docs/API.md `Redeemed`)."""
    dev, pool, worker = red["device"], red["pool"], red.get("worker") or {}
    hub = red.get("hub") or {"public_key": "", "endpoint": ""}
    return Membership(
        device_id=str(dev["id"]), pool_id=str(pool["id"]), pool_name=pool["name"],
        platform=platform, credential=red["credential"], private_key=keys.private,
        public_key=keys.public, prefix=prefix, name=name,
        address=dev["address"], address6=dev.get("address6"), subnet=pool["subnet"],
        subnet6=pool.get("subnet6"), hub_public_key=hub["public_key"],
        hub_endpoint=hub["endpoint"], template=worker.get("template", pool["template"]),
        params=dict(worker.get("params") or pool.get("params") or {}),
        head_address=bare(worker.get("head_address") or hub.get("address")),
        cpus=req.cpus, memory_bytes=req.memory_bytes, gpus=req.gpus,
        joined_at=joined_at, platform_desired=dev.get("desired_state") or "running",
        disk_bytes=req.disk_bytes,
    )  # fmt: skip


def relay_route(
    pool: Membership | SeedRole, run_dir: Path, direct_timeout: float = 1.5
) -> RelayRoute | None:
    """The way through the pool's relay for a worker (to the hub at the subnet's .1) or a hub
    (any device of the pool); None when the platform runs no relay."""
    if not pool.relay:
        return None
    worker = isinstance(pool, Membership)
    hub = str(ipaddress.ip_network(pool.subnet).network_address + 1) if worker else ""
    relay_only = pool.hub_relay_only if isinstance(pool, Membership) else pool.relay_only
    return RelayRoute(
        pool.relay, pool.device_id, pool.credential, str(run_dir), hub_address=hub,
        relay_only=relay_only, direct_timeout=direct_timeout,
    )  # fmt: skip


def spoke_config(
    m: Membership, backend: str, run_dir: Path, direct_timeout: float = 1.5
) -> SpokeConfig:
    """The membership's overlay spoke; its way out is the template's (BOINC: the internet,
    but never the volunteer's LAN)."""
    six = m.address6 is not None and m.subnet6 is not None
    return SpokeConfig(
        prefix=m.prefix, name=m.name, private_key=m.private_key,
        address=with_prefixlen(m.address, m.subnet),
        address6=with_prefixlen(m.address6, m.subnet6) if six else None,  # type: ignore[arg-type]
        hub_public_key=m.hub_public_key, hub_endpoint=m.hub_endpoint,
        pool_subnet=m.subnet, pool_subnet6=m.subnet6 if six else None,
        policy=template(m.template).network_policy, backend=backend,
        relay=relay_route(m, run_dir, direct_timeout),
    )  # fmt: skip


def worker_spec(
    templates: TemplatePort, m: Membership, secrets_dir: str | None = None
) -> ContainerSpec:
    """The membership's worker container, named `<prefix>-<name>`, in its namespace (with
    its TLS certificates from the host directory `secrets_dir` when given)."""
    return templates.worker(
        m.template, m.params, name=f"{m.prefix}-{m.name}", membership_id=m.id,
        limits=Limits(m.cpus, m.memory_bytes, m.gpus, m.disk_bytes), head_address=m.head_address,
        netns_path=f"/run/netns/{m.prefix}-{m.name}", secrets_dir=secrets_dir,
    )  # fmt: skip


def head_spec(
    templates: TemplatePort, s: SeedRole, witness_dir: str | None = None,
    secrets_dir: str | None = None,
) -> ContainerSpec | None:  # fmt: skip
    """The pool's head container in the hub's namespace (None when the template has none),
    writing its witness totals into the host directory `witness_dir` when given, speaking
    mutual TLS with the files in `secrets_dir` when given."""
    return templates.head(
        s.template, s.params, name=f"{s.prefix}-{s.name}-head", membership_id=s.device_id,
        netns_path=f"/run/netns/{s.prefix}-{s.name}", head_address=bare(s.address),
        witness_dir=witness_dir, secrets_dir=secrets_dir,
    )  # fmt: skip
