"""Seed role at run time: the pool's hub follows the platform's peer list (long-poll) and the
pool's head container runs in the hub's namespace on overlay .1.

`PeerFollower` is a daemon thread: it asks the platform for peer-list changes since the last
version it applied, and applies each new list to the hub as a diff. Errors back off and show as
a condition; they never stop the thread. Beside it, the head's witness reporter
(kalavai_like.agent.witness) sends what the head witnessed, mapped through the same peer list.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kalavai_like.agent import specs
from kalavai_like.agent.boinc_witness import BoincWitness, witnessed_accounts
from kalavai_like.agent.pool_tls import EnrolServer, SeedTLS
from kalavai_like.agent.ports import PlatformPort, Ports
from kalavai_like.agent.progress import Progress
from kalavai_like.agent.state import SeedRole
from kalavai_like.agent.witness import PendingReports, WitnessReporter, head_dir, pending_path
from kalavai_like.client.records import SeedResult, bare, with_prefixlen
from kalavai_like.container.spec import ContainerInfo, ContainerSpec
from kalavai_like.errors import Condition, KalavaiError, PlatformUnavailable, SystemProblem
from kalavai_like.net import HubConfig, HubStatus, OverlayAPI, Peer, backend_label

log = logging.getLogger(__name__)


def hub_config(s: SeedRole, backend: str = "auto", relay_dir: Path | None = None) -> HubConfig:
    """The hub's overlay configuration from the persisted seed record (with a bridge to the
    pool's relay when there is one and `relay_dir` says where its files go)."""
    return HubConfig(
        prefix=s.prefix,
        name=s.name,
        private_key=s.private_key,
        address=with_prefixlen(s.address, s.subnet),
        address6=with_prefixlen(s.address6, s.subnet6) if s.address6 and s.subnet6 else None,
        listen_port=s.listen_port,
        pool_subnet=s.subnet,
        pool_subnet6=s.subnet6 if s.address6 else None,
        backend=backend,
        relay=specs.relay_route(s, relay_dir) if relay_dir is not None else None,
    )


def peers_from(payload: dict[str, Any]) -> list[Peer]:
    """Overlay peers from the platform's peer list."""
    out = []
    for p in payload.get("peers", []):
        a6 = bare(p.get("address6"))
        out.append(Peer(p["public_key"], f"{bare(p['address'])}/32", f"{a6}/128" if a6 else None))
    return out


def devices_from(payload: dict[str, Any]) -> dict[str, str]:
    """Overlay IPv4 address -> device id, from the platform's peer list."""
    out = {}
    for p in payload.get("peers", []):
        address, device = bare(p.get("address")), p.get("device_id")
        if address and isinstance(device, str):
            out[address] = device
    return out


def identities_from(payload: dict[str, Any]) -> dict[str, Any]:
    """The pool head's table of overlay IPv4 hosts -> device and user (its pseudonym in the
    pool), from the platform's peer list: how kalavai_redundancy tells users apart."""
    hosts = {}
    for p in payload.get("peers", []):
        address, device, user = bare(p.get("address")), p.get("device_id"), p.get("user")
        if address and isinstance(device, str) and isinstance(user, str) and user:
            hosts[address] = {"device": device, "user": user}
    return {"format": 1, "hosts": hosts}


class PeerFollower(threading.Thread):
    """Keeps the hub's peers equal to the platform's list for the pool, and the head's table
    of identities (`identities`: a file in the head's witness directory) with them."""

    def __init__(
        self, seed: SeedRole, platform: PlatformPort, overlay: OverlayAPI, wait: float = 25.0,
        identities: Path | None = None,
        on_change: Callable[[dict[str, str]], None] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name="peer-follower", daemon=True)
        self.seed = seed
        self._platform = platform
        self._overlay = overlay
        self._wait = wait
        self._identities = identities
        self._on_change = on_change  # given each new address -> device id map
        self._halt = threading.Event()
        self.version = -1
        self.peers: list[Peer] = []
        self.devices: dict[str, str] = {}  # overlay address -> device id, as last applied
        self.condition: Condition | None = None
        self.applied = threading.Event()  # set after the first list is applied

    def stop(self) -> None:
        self._halt.set()

    def _write_identities(self, payload: dict[str, Any]) -> None:
        """Refresh the head's identities table; a failure is logged, the peers still apply."""
        if self._identities is None:
            return
        path = self._identities
        # The directory is the head container's to write: no path that a link could redirect
        # (O_EXCL | O_NOFOLLOW, mode set at creation), then an atomic rename.
        tmp = path.with_name(f".identities.{secrets.token_hex(8)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(identities_from(payload), f)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("identities for the pool head not written: %s", exc)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def run(self) -> None:
        backoff = 0.5
        while not self._halt.is_set():
            try:
                first = self.version < 0
                payload = self._platform.peers(
                    self.seed.platform,
                    self.seed.credential,
                    max(self.version, 0),
                    0 if first else self._wait,
                )
                if self._halt.is_set():
                    return
                version = int(payload.get("version", 0))
                if version != self.version:
                    peers = peers_from(payload)
                    self._overlay.set_peers(self.seed.prefix, self.seed.name, peers)
                    self.devices = devices_from(payload)
                    if self._on_change is not None:
                        self._on_change(self.devices)
                    self.peers, self.version = peers, version
                    self._write_identities(payload)
                    log.info("hub peers now %d (version %d)", len(peers), version)
                self.applied.set()
                self.condition = None
                backoff = 0.5
            except KalavaiError as exc:
                self.condition = Condition(
                    "peers_stale",
                    "Hub peer list not updating",
                    f"{exc.title}: {exc.message} New workers cannot connect until this clears.",
                )
                log.warning("peer list: %s", exc)
                self._halt.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # keep following: one bad answer must not stop the hub
                log.exception("peer follower")
                self._halt.wait(backoff)
                backoff = min(backoff * 2, 10.0)


class SeedRunner:
    """The seed role's moving parts on this node: hub network, head container, peer follower
    and the head's witness reporter (when the template has a head and `state_dir` is given).

    The `Node` registers the hub at the platform and persists the `SeedRole`; this brings the
    rest up, adopts it after a restart, repairs it on each check and tears it down.
    """

    def __init__(
        self, ports: Ports, *, backend: str = "auto", peers_wait: float = 25.0,
        state_dir: Path | None = None, witness_interval: float = 10.0, dask_tls: bool = False,
        relay_dir: Path | None = None, project_poll_interval: float = 300.0,
    ) -> None:  # fmt: skip
        self._overlay = ports.overlay
        self._runtime = ports.runtime
        self._templates = ports.templates
        self._platform = ports.platform
        self._backend = backend
        self._peers_wait = peers_wait
        self._state_dir = state_dir
        self._witness_interval = witness_interval
        self._project_poll = project_poll_interval
        self._relay_dir = relay_dir
        self.hub: HubStatus | None = None  # as last read
        self._dask_tls = dask_tls
        self.enrol: EnrolServer | None = None
        self.follower: PeerFollower | None = None
        self.reporter: WitnessReporter | None = None
        self.project_witness: BoincWitness | None = None
        self.head_state = "missing"
        self.network = ""  # backend_label of the hub, as last read

    def _config(self, s: SeedRole) -> HubConfig:
        return hub_config(s, self._backend, self._relay_dir)

    def _read(self, st: HubStatus) -> None:
        self.hub, self.network = st, backend_label(st)

    def _witness_dir(self, s: SeedRole) -> Path | None:
        return None if self._state_dir is None else head_dir(self._state_dir, s.pool_id)

    def tls(self, s: SeedRole) -> SeedTLS | None:
        """The pool's TLS files, when its Dask cluster speaks mutual TLS."""
        if not self._dask_tls or self._state_dir is None or s.template != "dask":
            return None
        return SeedTLS(self._state_dir, s.pool_id)

    def head_spec(self, s: SeedRole) -> ContainerSpec | None:
        wd, tls = self._witness_dir(s), self.tls(s)
        return specs.head_spec(self._templates, s, witness_dir=str(wd) if wd else None,
                               secrets_dir=str(tls.head_dir) if tls else None)  # fmt: skip

    def _ensure_head(self, s: SeedRole, spec: ContainerSpec) -> ContainerInfo:
        """Start (or adopt) the head, its witness directory and certificates made first."""
        tls = self.tls(s)
        if tls is not None:
            tls.prepare()
        wd = self._witness_dir(s)
        if wd is not None:
            try:
                wd.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise SystemProblem("Cannot make the head's witness directory",
                                    f"{wd}: {exc.strerror or exc}.") from exc  # fmt: skip
        return self._runtime.ensure(spec)

    def start(self, s: SeedRole, steps: Progress) -> None:
        """Bring up the hub and the head of a freshly registered seed, with undo steps.

        Raises:
            KalavaiError: a step failed (the caller rolls `steps` back).
        """
        steps.undo("hub device", lambda: self._platform.leave(s.platform, s.credential))
        steps.report(f"Bringing up the hub at {bare(s.address)}, UDP {s.listen_port}",
                     current="bringing up the hub")  # fmt: skip
        self._read(self._overlay.up_hub(self._config(s)))
        steps.undo("hub network", lambda: self._overlay.down_hub(s.prefix, s.name))
        spec = self.head_spec(s)
        if spec is not None:
            steps.report(f"Starting the pool head {spec.name} ({spec.image})",
                         current="starting the head container")  # fmt: skip
            steps.undo("head container", lambda: self._runtime.remove(spec.name))
            info = self._ensure_head(s, spec)
            self.head_state = info.state
            if info.state != "running":
                raise SystemProblem("Head container did not start", info.describe_exit())

    def follow(self, s: SeedRole) -> None:
        """(Re)start following the platform's peer list, and reporting the head's witness."""
        self.close()
        tls = self.tls(s)
        wd = self._witness_dir(s)
        ids = wd / "identities.json" if wd is not None and self.head_spec(s) else None
        self.follower = PeerFollower(s, self._platform, self._overlay, self._peers_wait, ids,
                                     on_change=tls.write_members if tls else None)  # fmt: skip
        self.follower.start()
        if tls is not None:
            self._serve_enrolment(s, tls)
        project = s.template == "boinc" and witnessed_accounts(s.params)
        if project and wd is not None:  # the project witnesses (kalavai_like.agent.boinc_witness)
            every = max(self._witness_interval, 0.05)
            poll = max(self._project_poll, every)
            self.project_witness = BoincWitness(
                s.pool_id, s.params, wd, self._peer_devices, interval=every, poll=poll
            )
            self.project_witness.start()
        if wd is not None and self._state_dir is not None and (project or self.head_spec(s)):
            pending = PendingReports(pending_path(self._state_dir, s.pool_id)).load()
            self.reporter = WitnessReporter(
                s, self._platform, wd, pending, self._peer_devices,
                interval=self._witness_interval, poll=min(2.0, max(self._witness_interval, 0.05)),
            )  # fmt: skip
            self.reporter.start()

    def _serve_enrolment(self, s: SeedRole, tls: SeedTLS) -> None:
        """Sign members' CSRs on the hub's overlay address (a failure is logged: workers then
        cannot join, and the next start retries)."""
        try:
            ca = tls.prepare()
            self.enrol = EnrolServer(
                ca,
                f"{s.prefix}-{s.name}",
                bare(s.address) or "",
                lambda: dict(self.follower.devices) if self.follower else {},
            )
            self.enrol.start()
        except (OSError, KalavaiError) as exc:
            log.error("dask enrolment not served: %s", exc)

    def _peer_devices(self) -> dict[str, str] | None:
        f = self.follower
        return f.devices if f is not None and f.applied.is_set() else None

    def adopt(self, s: SeedRole) -> None:
        """After a restart: repair the hub, adopt the head, follow the peers again."""
        self._read(self._overlay.ensure_hub(self._config(s)))
        spec = self.head_spec(s)
        if spec is not None:
            self.head_state = self._ensure_head(s, spec).state
        self.follow(s)

    def check(self, s: SeedRole) -> None:
        """Restart a dead hub (with the peers it had) and a lost head container."""
        try:
            st = self._overlay.hub_status(s.prefix, s.name)
            bridge_gone = bool(s.relay) and st is not None and st.relay_state is None
            if st is None or not st.process_alive or bridge_gone:
                peers = self.follower.peers if self.follower else None
                st = self._overlay.ensure_hub(self._config(s), peers)
            self._read(st)
            spec = self.head_spec(s)
            if spec is not None:
                self.head_state = self._ensure_head(s, spec).state
        except KalavaiError as exc:
            log.warning("seed check: %s", exc)

    def stop(self, s: SeedRole) -> list[str]:
        """Tear the seed down; returns what could not be removed. The head stops gracefully
        first, so its witness writes its last totals and they are reported before the hub
        device leaves."""
        warnings: list[str] = []
        if self.follower is not None:
            self.follower.stop()
        spec = self.head_spec(s)
        actions: list[tuple[str, Callable[[], None]]] = [
            ("network", lambda: self._overlay.down_hub(s.prefix, s.name)),
            ("hub device at the platform", lambda: self._platform.leave(s.platform, s.credential)),
        ]
        if spec is not None:
            actions.insert(0, ("head container", lambda: self._remove_head(spec.name)))
            actions.insert(1, ("last witness report", self._last_report))
        for what, action in actions:
            try:
                action()
            except KalavaiError as exc:
                warnings.append(f"{what}: {exc.title}: {exc.message}")
        self.close()
        self.follower = self.reporter = None
        self._forget_witness(s)
        tls = self.tls(s)
        if tls is not None:
            tls.remove()
        self.head_state = "missing"
        return warnings

    def _remove_head(self, name: str) -> None:
        try:
            self._runtime.stop(name, timeout=10)  # SIGTERM: the witness writes its last totals
        except KalavaiError as exc:
            log.warning("head stop: %s", exc)
        self._runtime.remove(name)

    def _last_report(self) -> None:
        r = self.reporter
        if r is None:
            return
        r.stop(final=True)
        r.join(45.0)
        if r.is_alive() or r.condition is not None:
            why = r.condition.text if r.condition else "the platform did not answer in time."
            raise PlatformUnavailable("Last witnessed work not reported", why)

    def _forget_witness(self, s: SeedRole) -> None:
        if self._state_dir is None:
            return
        try:
            shutil.rmtree(head_dir(self._state_dir, s.pool_id), ignore_errors=True)
            pending_path(self._state_dir, s.pool_id).unlink(missing_ok=True)
        except (OSError, KalavaiError) as exc:
            log.warning("witness files not removed: %s", exc)

    def close(self) -> None:
        """Stop the follower and the reporter (the hub and the head keep running)."""
        if self.follower is not None:
            self.follower.stop()
        if self.reporter is not None:
            self.reporter.stop()
        if self.enrol is not None:
            self.enrol.stop()
            self.enrol = None
        if self.project_witness is not None:
            self.project_witness.stop()


def seed_result(s: SeedRole, *, already: bool) -> SeedResult:
    """What `pool start` reports."""
    return SeedResult(
        s.pool_id, s.pool_name, bare(s.address) or "", s.endpoint, f"{s.prefix}-{s.name}-head",
        already, s.relay, s.relay_only,
    )  # fmt: skip
