"""The one composition root: picks the real backends (userspace or kernel WireGuard, podman or
docker, the platform over HTTP) and builds the agent's `Node` from them. Everything else takes
protocol-typed ports, so tests build a `Node` from fakes instead.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from kalavai_like.agent.node import Node, NodeConfig
from kalavai_like.agent.policy import build_policy
from kalavai_like.agent.store import JsonStore, agent_dir
from kalavai_like.client.platform import PlatformClient
from kalavai_like.container.spec import MEMBERSHIP_LABEL, ContainerSpec, Limits
from kalavai_like.errors import SystemProblem
from kalavai_like.home.paths import Paths
from kalavai_like.home.settings import Settings


class HttpPlatform:
    """`PlatformPort` over the platform's HTTP API (kalavai_like.client.platform)."""

    def __init__(self, connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        self._timeouts = (connect_timeout, read_timeout)
        self._clients: dict[tuple[str, str], PlatformClient] = {}

    def _client(self, platform: str, credential: str, read: float | None = None) -> PlatformClient:
        key = (platform, credential if read is None else f"{credential}#long")
        client = self._clients.get(key)
        if client is None:
            client = PlatformClient(
                platform,
                credential,
                connect_timeout=self._timeouts[0],
                read_timeout=read or self._timeouts[1],
                retries=1,
            )
            self._clients[key] = client
        return client

    def redeem(self, platform: str, api_token: str, **body: Any) -> dict[str, Any]:
        # A one-off client: the user's API token is used for this call and not kept.
        with PlatformClient(platform, api_token, connect_timeout=self._timeouts[0],
                            read_timeout=self._timeouts[1], retries=0) as c:  # fmt: skip
            return c.request("POST", "/devices", json=body)  # type: ignore[no-any-return]

    def register_hub(
        self, platform: str, api_token: str, pool_id: str, *, public_key: str, endpoint: str,
        relay_only: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        with PlatformClient(platform, api_token, connect_timeout=self._timeouts[0],
                            read_timeout=self._timeouts[1], retries=0) as c:  # fmt: skip
            body = {"public_key": public_key, "endpoint": endpoint, "relay_only": relay_only}
            return c.request("POST", f"/pools/{pool_id}/hub", json=body)  # type: ignore[no-any-return]

    def heartbeat(self, platform: str, credential: str, body: dict[str, Any]) -> dict[str, Any]:
        c = self._client(platform, credential)
        return c.request("POST", "/device/heartbeat", json=body)  # type: ignore[no-any-return]

    def resumed(self, platform: str, credential: str) -> dict[str, Any]:
        c = self._client(platform, credential)
        return c.request("POST", "/device/resumed")  # type: ignore[no-any-return]

    def peers(self, platform: str, credential: str, since: int, wait: float) -> dict[str, Any]:
        c = self._client(platform, credential, read=wait + 15.0)
        params = {"since": since, "wait": int(wait)}
        return c.request("GET", "/device/peers", params=params)  # type: ignore[no-any-return]

    def witness(self, platform: str, credential: str, report: dict[str, Any]) -> dict[str, Any]:
        return self._client(platform, credential).witness(report)

    def relay(self, platform: str, credential: str) -> dict[str, Any]:
        return self._client(platform, credential).request("GET", "/device/relay")  # type: ignore[no-any-return]

    def leave(self, platform: str, credential: str) -> None:
        c = self._client(platform, credential)
        c.request("DELETE", "/device")
        for key in [k for k in self._clients if k[1].split("#")[0] == credential]:
            self._clients.pop(key).close()


class PoolTemplates:
    """`TemplatePort` over kalavai_like.container.templates, with our names and our volumes.

    Containers are named after the node's prefix (so cleanup by name finds them). A template
    whose data persists (BOINC) keeps /data in a host directory per membership under
    `data_root`, which outlives the container and goes when the membership does
    (`remove_data`); other workers keep scratch space on a tmpfs at /data. A host directory
    (the head's witness directory) stays mounted.
    """

    def __init__(self, data_root: Path | None = None) -> None:
        self.data_root = data_root

    def data_dir(self, membership_id: str) -> Path | None:
        """The host directory keeping the membership's persistent data (None: no root)."""
        return None if self.data_root is None else self.data_root / membership_id

    def remove_data(self, membership_id: str) -> None:
        """Remove the membership's persistent data (it left the pool)."""
        d = self.data_dir(membership_id)
        if d is None or not d.exists():
            return
        try:
            shutil.rmtree(d)
        except OSError as exc:
            raise SystemProblem(
                "Worker data not removed", f"{d}: {exc.strerror}; remove it by hand."
            ) from exc

    def _ours(self, spec: ContainerSpec, name: str, membership_id: str) -> ContainerSpec:
        from kalavai_like.container.templates import TEMPLATE_LABEL, template

        labels = {**spec.labels, MEMBERSHIP_LABEL: membership_id}
        volume, tmpfs = spec.data_volume, spec.tmpfs
        keep = TEMPLATE_LABEL in labels and template(labels[TEMPLATE_LABEL]).persistent_data
        d = self.data_dir(membership_id)
        if volume is not None and not volume.startswith("/"):
            if keep and d is not None:
                d.mkdir(parents=True, exist_ok=True, mode=0o700)
                volume = str(d)
            else:
                volume, tmpfs = None, [*spec.tmpfs, "/data:rw,U"]
        return dataclasses.replace(spec, name=name, labels=labels, data_volume=volume, tmpfs=tmpfs)

    def worker(
        self,
        template: str,
        params: dict[str, Any],
        *,
        name: str,
        membership_id: str,
        limits: Limits,
        head_address: str | None,
        netns_path: str,
        secrets_dir: str | None = None,
    ) -> ContainerSpec:
        from kalavai_like.container.templates import render

        spec = render(
            template, params, membership_id=membership_id, limits=limits,
            head_address=head_address, netns_path=netns_path, secrets_dir=secrets_dir,
        )  # fmt: skip
        return self._ours(spec, name, membership_id)

    def head(
        self, template: str, params: dict[str, Any], *, name: str, membership_id: str,
        netns_path: str, head_address: str | None = None, witness_dir: str | None = None,
        secrets_dir: str | None = None,
    ) -> ContainerSpec | None:  # fmt: skip
        from kalavai_like.container.templates import render_head

        spec = render_head(template, params, membership_id, netns_path, head_address=head_address,
                           witness_dir=witness_dir, secrets_dir=secrets_dir)  # fmt: skip
        return None if spec is None else self._ours(spec, name, membership_id)


def node_config(paths: Paths, settings: Settings, **overrides: Any) -> NodeConfig:
    """The node's configuration from the instance's settings (`[agent]` table) and overrides."""
    agent = dict(settings.extra.get("agent") or {})
    fields = {f.name for f in dataclasses.fields(NodeConfig)}
    values: dict[str, Any] = {k: v for k, v in agent.items() if k in fields}
    values.update(overrides)
    values.setdefault("prefix", settings.network.prefix)
    values.setdefault("backend", settings.network.backend)
    values.setdefault("dask_tls", True)
    values["state_dir"] = Path(values.get("state_dir") or agent_dir(paths))
    return NodeConfig(**values)


def build_node(paths: Paths, settings: Settings, **overrides: Any) -> Node:
    """The agent's `Node` with the real overlay, container runtime and platform.

    Raises:
        SystemProblem: the container engine is missing or broken (says how to fix it).
    """
    from kalavai_like.container.config import RuntimeConfig
    from kalavai_like.container.runtime import ContainerRuntime
    from kalavai_like.net import Overlay

    config = node_config(paths, settings, **overrides)
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    rs = settings.runtime
    if rs.extra_global_args or rs.extra_run_args or rs.containers_conf:
        rc = RuntimeConfig(
            engine=rs.engine,  # type: ignore[arg-type]
            extra_global_args=list(rs.extra_global_args),
            extra_run_args=list(rs.extra_run_args),
            containers_conf=rs.containers_conf or None,
        )
    else:
        rc = RuntimeConfig.detect(rs.engine, probe=False)  # type: ignore[arg-type]
    p = settings.platform
    return Node(
        config,
        overlay=Overlay(),
        runtime=ContainerRuntime(rc),
        templates=PoolTemplates(config.state_dir / "data"),
        platform=HttpPlatform(p.connect_timeout, p.read_timeout),
        store=JsonStore(config.state_dir / "node.json"),
        policy=build_policy(paths.settings_file, config.state_dir),
    )
