"""The node's seed role: register the hub with the platform, bring up the hub and the head
(kalavai_like.agent.seed.SeedRunner), follow the peer list, and tear it all down."""

from __future__ import annotations

from kalavai_like.agent.node.core import NodeCore
from kalavai_like.agent.progress import OnStep, Progress, rephrase
from kalavai_like.agent.seed import seed_result
from kalavai_like.agent.state import SeedRole
from kalavai_like.client.records import SeedResult, StartPoolRequest
from kalavai_like.errors import Conflict, KalavaiError


class PoolSeeding(NodeCore):
    """Start and stop the seed role (under the node's lock)."""

    def start_pool(self, req: StartPoolRequest, on_step: OnStep | None = None) -> SeedResult:
        """Become the pool's seed: register the hub, bring it up, start the head container.

        Raises:
            Conflict: this node is already the seed of another pool.
            KalavaiError: a step failed (named in the title); everything it set up was undone.
        """
        with self._lock:
            s = self._p.seed
            if s is not None:
                if s.pool_id == req.pool_id:
                    return seed_result(s, already=True)
                raise Conflict(
                    "Already a seed", f"This node runs pool {s.pool_name}; stop it first."
                )
            steps = Progress(on_step, self._wall)
            try:
                seed = self._start_pool(req, steps)
            except KalavaiError as exc:
                left = steps.rollback()
                self._p.seed = None
                note = "" if not left else " Could not remove: " + "; ".join(left) + "."
                detail = f"{exc.title}: {exc.message}" if exc.message else exc.title
                title = f"Pool start failed while {steps.current}"
                raise rephrase(exc, title, detail + note) from exc
            self._notify()
            return seed_result(seed, already=False)

    def _start_pool(self, req: StartPoolRequest, steps: Progress) -> SeedRole:
        keys = self._keygen()
        steps.step("Registering the hub with the platform", current="registering the hub")
        hub = self._platform.register_hub(
            req.platform, req.api_token, req.pool_id, public_key=keys.public, endpoint=req.endpoint
        )
        pool = hub["pool"]
        port = int(req.endpoint.rpartition(":")[2])
        seed = SeedRole(
            device_id=str(hub["device_id"]), pool_id=str(pool["id"]), pool_name=pool["name"],
            platform=req.platform, credential=hub["credential"], private_key=keys.private,
            public_key=keys.public, prefix=self.config.prefix, name=self.config.hub_name,
            address=str(hub["address"]), address6=hub.get("address6"), subnet=pool["subnet"],
            subnet6=pool.get("subnet6"), endpoint=req.endpoint, listen_port=port,
            template=pool["template"], params=dict(pool.get("params") or {}),
            started_at=self._wall(),
        )  # fmt: skip
        self._seed.start(seed, steps)
        self._p.seed = seed
        self._save()
        steps.undo("saved seed", self._forget_seed)
        self._seed.follow(seed)
        steps.step("Following the platform's peer list")
        return seed

    def _stop_seed(self, s: SeedRole) -> list[str]:
        warnings = self._seed.stop(s)
        self._forget_seed()
        return warnings
