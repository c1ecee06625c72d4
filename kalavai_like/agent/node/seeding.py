"""The node's seed role: register the hub with the platform, bring up the hub and the head
(kalavai_like.agent.seed.SeedRunner, which this part owns), follow the peer list, adopt and
repair it after a restart, report it, and tear it all down."""

from __future__ import annotations

from collections.abc import Callable

from kalavai_like.agent import snapshot
from kalavai_like.agent.node.journal import Journal
from kalavai_like.agent.node.shared import Shared
from kalavai_like.agent.progress import OnStep, Progress
from kalavai_like.agent.seed import SeedRunner, seed_result
from kalavai_like.agent.state import SeedRole, Unfinished
from kalavai_like.client.records import SeedResult, SeedStatus, StartPoolRequest
from kalavai_like.errors import Condition, Conflict, KalavaiError
from kalavai_like.net import KeyPair


class Seeding:
    """Start, adopt, check and stop the seed role (under the node's lock)."""

    def __init__(self, shared: Shared, journal: Journal, keygen: Callable[[], KeyPair]) -> None:
        self._sh = shared
        self._journal = journal
        self._keygen = keygen
        c = shared.config
        self._runner = SeedRunner(
            shared.ports, backend=c.backend, peers_wait=c.peers_wait, state_dir=c.state_dir,
            witness_interval=c.witness_interval, relay_dir=c.relay_dir, dask_tls=c.dask_tls,
            project_poll_interval=c.project_poll_interval,
        )  # fmt: skip

    def start_pool(self, req: StartPoolRequest, on_step: OnStep | None = None) -> SeedResult:
        """Become the pool's seed: register the hub, bring it up, start the head container.

        Raises:
            Conflict: this node is already the seed of another pool.
            KalavaiError: a step failed (named in the title); everything it set up was undone.
        """
        sh = self._sh
        with sh.lock:
            s = sh.persisted.seed
            if s is not None:
                if s.pool_id == req.pool_id:
                    return seed_result(s, already=True)
                raise Conflict(
                    "Already a seed", f"This node runs pool {s.pool_name}; stop it first."
                )
            steps = Progress(on_step, sh.wall)
            u: Unfinished | None = None
            try:
                u = self._journal.begin("pool start", "hub", sh.config.hub_name)
                seed = self._start_pool(req, steps, u)
            except KalavaiError as exc:
                err = steps.failed(exc, f"Pool start failed while {steps.current}")
                sh.persisted.seed = None
                if u is not None:
                    self._journal.settle(u, cleaned=not steps.left)
                    sh.save()
                raise err from exc
            sh.notify()
            return seed_result(seed, already=False)

    def _start_pool(self, req: StartPoolRequest, steps: Progress, u: Unfinished) -> SeedRole:
        sh = self._sh
        keys = self._keygen()
        steps.report("Registering the hub with the platform", current="registering the hub")
        hub = sh.ports.platform.register_hub(
            req.platform, req.api_token, req.pool_id, public_key=keys.public,
            endpoint=req.endpoint, relay_only=req.relay_only,
        )  # fmt: skip
        pool = hub["pool"]
        port = int(req.endpoint.rpartition(":")[2])
        seed = SeedRole(
            device_id=str(hub["device_id"]), pool_id=str(pool["id"]), pool_name=pool["name"],
            platform=req.platform, credential=hub["credential"], private_key=keys.private,
            public_key=keys.public, prefix=sh.config.prefix, name=sh.config.hub_name,
            address=str(hub["address"]), address6=hub.get("address6"), subnet=pool["subnet"],
            subnet6=pool.get("subnet6"), endpoint=req.endpoint, listen_port=port,
            template=pool["template"], params=dict(pool.get("params") or {}),
            started_at=sh.wall(), relay_only=req.relay_only,
        )  # fmt: skip
        seed.relay = sh.relay_of(seed.platform, seed.credential)[0]
        if req.relay_only and not seed.relay:
            sh.ports.platform.leave(seed.platform, seed.credential)
            raise Conflict("No relay", "The platform runs no relay, so a relay-only hub would "
                           "be unreachable: start the pool without --relay-only, with a UDP port "
                           "open to the volunteers.")  # fmt: skip
        steps.current = "preparing the head container"
        head = self._runner.head_spec(seed)
        # Both written down before either is set up: undoing a part never set up is harmless.
        self._journal.note(u, platform=seed.platform, credential=seed.credential, network=True,
                           container=head.name if head else "")  # fmt: skip
        self._runner.start(seed, steps)
        sh.persisted.seed = seed
        self._journal.settle(u)  # in the same save: the seed owns what the start set up
        sh.save(required=True)
        steps.undo("saved seed", self._forget)
        self._runner.follow(seed)
        steps.report("Following the platform's peer list")
        return seed

    def adopt(self) -> None:
        """After a restart: repair the hub, adopt the head, follow the peers again.

        Raises:
            KalavaiError: the hub could not be restored.
        """
        s = self._sh.persisted.seed
        if s is not None:
            self._runner.adopt(s)

    def check(self) -> None:
        """Restart a dead hub and a lost head container (errors are logged)."""
        s = self._sh.persisted.seed
        if s is not None:
            self._runner.check(s)

    def stop(self) -> list[str]:
        """Tear the seed role down; returns what could not be removed."""
        s = self._sh.persisted.seed
        if s is None:
            return []
        warnings = self._runner.stop(s)
        self._forget()
        return warnings

    def head_image(self, s: SeedRole) -> str | None:
        """The image of the pool's head (a `pool run` job runs in it)."""
        spec = self._runner.head_spec(s)
        return None if spec is None else spec.image

    def status(self) -> SeedStatus | None:
        s, r = self._sh.persisted.seed, self._runner
        return snapshot.seed_status(s, r.follower, r.head_state, r.hub) if s else None

    def conditions(self) -> list[Condition]:
        r = self._runner
        found = [r.follower.condition if r.follower else None,
                 r.reporter.condition if r.reporter else None]  # fmt: skip
        return [c for c in found if c is not None]

    def close(self) -> None:
        """Stop following the peer list (the hub keeps running)."""
        self._runner.close()

    def _forget(self) -> None:
        self._sh.persisted.seed = None
        self._sh.save()
