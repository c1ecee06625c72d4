"""Pool templates: what a pool's worker (and head) containers run. Each names the image, command,
environment, network policy, head container and default limits:

- `dask`: the head runs `dask scheduler` on the hub's overlay address (port 8786); each worker
  runs `dask worker tcp://<head>:8786` with threads and memory from the volunteer's limits.
  Given a witness directory, the head preloads the witness plugin (`kalavai_witness`, shipped
  in the dask image; a pool's own image must carry it too) and writes its totals there.
- `boinc`: the BOINC client attached to a project URL with a weak account key, or through an
  account manager (`account_manager_url`, `account_manager_user`, `account_manager_password`:
  the client posts to its rpc.php and attaches the projects it lists); needs `internet`.
  Its data directory persists (`persistent_data`): a task that ran for hours survives the
  container's replacement; BOINC's own disk preferences follow the `disk` limit.
- `generic`: an image and a command from the pool's parameters.

Images default to the ones packaging/images/build makes (`localhost/kalavai-like/<name>:latest`);
in the field `params["image"]` names a registry image instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from kalavai_like import pool_params
from kalavai_like.container.spec import (
    MEMBERSHIP_LABEL,
    POOL_LABEL,
    ROLE_LABEL,
    SECRETS_MOUNT,
    ContainerSpec,
    Limits,
)
from kalavai_like.errors import InvalidInput

NetworkPolicy = Literal["pool", "internet", "none"]
TemplateName = Literal["dask", "boinc", "generic"]

IMAGE_REPO = "localhost/kalavai-like"
TEMPLATE_LABEL = "kalavai-like.template"
DASK_PORT = 8786
DASK_DASHBOARD_PORT = 8787
# dask pauses and spills before its limit; leave the kernel's limit some headroom above it.
DASK_MEMORY_FRACTION = 0.9
# The pool head's witness: the scheduler plugin's module and where it writes in the head.
WITNESS_PRELOAD = "kalavai_witness"
WITNESS_MOUNT = "/data"
# Mutual TLS: the certificates and the guard (kalavai_like/container/dask_guard.py) are mounted
# read-only here; the guard is preloaded in the scheduler and every worker. Workers also preload
# kalavai_like/container/dask_finish.py: SIGUSR1 retires them gracefully (`pool stop --finish`).
GUARD_PRELOAD = "kalavai_guard"
GUARD_FILE = f"{GUARD_PRELOAD}.py"
FINISH_PRELOAD = "kalavai_finish"
FINISH_FILE = f"{FINISH_PRELOAD}.py"
# On a worker container started with that preload: the signal that retires it.
FINISH_LABEL = "kalavai-like.finish-signal"
FINISH_SIGNAL = "USR1"
MEMBERS_FILE = "members.json"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
_HOSTNAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Template:
    """What a pool template is made of."""

    name: TemplateName
    image: str
    network_policy: NetworkPolicy
    default_limits: Limits
    has_head: bool
    description: str
    # Parameters that are secrets: the platform shows them to the pool's owner and, in the
    # worker spec, to its workers only (kalavai_like.platform.views.SECRET_PARAMS names them).
    secret_params: tuple[str, ...] = ()
    # The worker's /data outlives its container (kept per membership until the volunteer
    # leaves); otherwise it is scratch space.
    persistent_data: bool = False


TEMPLATES: dict[str, Template] = {
    "dask": Template(
        "dask",
        f"{IMAGE_REPO}/dask:latest",
        "pool",
        Limits(cpus=1.0, memory_bytes=2 * 2**30),
        True,
        "Dask workers joined to the pool head's scheduler over the overlay",
    ),
    "boinc": Template(
        "boinc",
        f"{IMAGE_REPO}/boinc:latest",
        "internet",
        Limits(cpus=1.0, memory_bytes=2 * 2**30),
        False,
        "BOINC client attached to a volunteer-computing project",
        # the manager's login is often the owner's email (Science United's is)
        secret_params=(
            "weak_key",
            "gui_rpc_password",
            "account_manager_user",
            "account_manager_password",
        ),
        persistent_data=True,
    ),
    "generic": Template(
        "generic",
        f"{IMAGE_REPO}/busybox:latest",
        "pool",
        Limits(cpus=1.0, memory_bytes=512 * 2**20),
        False,
        "Any image and command",
        secret_params=("env",),
    ),
}


def template(name: str) -> Template:
    """The template called `name`.

    Raises:
        InvalidInput: no such template.
    """
    if name not in TEMPLATES:
        raise InvalidInput("Unknown pool template", f"{name!r}: use one of {', '.join(TEMPLATES)}.")
    return TEMPLATES[name]


def render(
    template_name: str,
    params: dict[str, Any],
    *,
    membership_id: str,
    limits: Limits,
    head_address: str | None,
    netns_path: str | None,
    secrets_dir: str | None = None,
) -> ContainerSpec:
    """The worker container for one membership of a pool using `template_name`; a dask worker
    speaks mutual TLS with the certificates in the host directory `secrets_dir` when given.

    Raises:
        InvalidInput: a parameter is missing or malformed (kalavai_like.pool_params).
    """
    t = template(template_name)
    pool_params.check(t.name, params)
    _check(_ID, membership_id, "membership id")
    image = _image(t, params)
    labels = {MEMBERSHIP_LABEL: membership_id, ROLE_LABEL: "worker", TEMPLATE_LABEL: t.name}
    common: dict[str, Any] = {
        "name": f"kalavai-worker-{membership_id}",
        "image": image,
        "labels": labels,
        "netns_path": netns_path if t.network_policy != "none" else None,
        "cpus": limits.cpus,
        "memory_bytes": limits.memory_bytes,
        "gpus": limits.gpus,
        "data_volume": f"kalavai-data-{membership_id}",
    }
    worker = _WORKERS[t.name](params, membership_id, limits, head_address)
    if t.name == "dask" and secrets_dir is not None:
        worker["command"][2] = worker["command"][2].replace("tcp://", "tls://", 1)
        worker["command"] += [*tls_args("worker"), "--preload", FINISH_PRELOAD]
        common["labels"] = {**labels, FINISH_LABEL: FINISH_SIGNAL}
        worker["env"] = tls_env()
        common["secrets_dir"] = secrets_dir
    return ContainerSpec(**common, **worker)


def tls_args(role: str) -> list[str]:
    """`dask scheduler|worker` arguments for mutual TLS with the mounted `role` certificate,
    behind the guard."""
    d = SECRETS_MOUNT
    return ["--tls-ca-file", f"{d}/ca.pem", "--tls-cert", f"{d}/{role}.pem",
            "--tls-key", f"{d}/{role}.key", "--preload", GUARD_PRELOAD]  # fmt: skip


def tls_env() -> dict[str, str]:
    """The environment the guard needs, and Dask refusing any plain connection."""
    return {"PYTHONPATH": SECRETS_MOUNT, "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
            "KALAVAI_GUARD_MEMBERS": f"{SECRETS_MOUNT}/{MEMBERS_FILE}"}  # fmt: skip


def _dask_worker(
    params: dict[str, Any], membership_id: str, limits: Limits, head_address: str | None
) -> dict[str, Any]:
    """`dask worker` joined to the head's scheduler, with threads and memory from `limits`."""
    if not head_address:
        raise InvalidInput("No pool head", "A dask worker needs the head's overlay address.")
    _check(_HOST, head_address, "head address")
    command = [
        "dask", "worker", f"tcp://{_host_port(head_address, DASK_PORT)}",
        "--nthreads", str(max(1, math.ceil(limits.cpus))),
        "--memory-limit", str(int(limits.memory_bytes * DASK_MEMORY_FRACTION)),
        "--name", membership_id,
        "--local-directory", "/data/dask",
        "--no-nanny", "--no-dashboard",
    ]  # fmt: skip
    return {"command": command, "pids_limit": 512, "workdir": "/data"}


def _boinc_worker(
    params: dict[str, Any], membership_id: str, limits: Limits, head_address: str | None
) -> dict[str, Any]:
    """The BOINC client, attached to `project_url` with `weak_key` when given."""
    env = {"BOINC_DATA_DIR": "/data/boinc", "BOINC_NCPUS": str(max(1, math.ceil(limits.cpus)))}
    url = params.get("project_url")
    if url:  # checked by pool_params.check, as the account manager's are
        env.update(BOINC_PROJECT_URL=str(url), BOINC_WEAK_KEY=str(params.get("weak_key") or ""))
    env.update(_account_manager(params))
    password = str(params.get("gui_rpc_password") or "")
    if password:
        env["BOINC_GUI_RPC_PASSWORD"] = password
    if limits.disk_bytes:  # BOINC's own disk preference, so it fetches no work it cannot keep
        env["BOINC_DISK_MAX_GB"] = f"{limits.disk_bytes / 2**30:.3f}"  # BOINC: 2**30
    # The client reports its host name to the project: the device id maps the project's host
    # record (and its credit) back to this device (kalavai_like.agent.boinc_witness).
    host = membership_id.lower() if _HOSTNAME.match(membership_id.lower()) else None
    return {"command": ["/usr/local/bin/kalavai-boinc"], "env": env, "pids_limit": 1024,
            "hostname": host}  # fmt: skip


def _account_manager(params: dict[str, Any]) -> dict[str, str]:
    """The account manager's URL, the volunteer's name there and the password's hash."""
    login = pool_params.account_manager_login(params)
    if login is None:
        return {}
    url, user, digest = login
    return {"BOINC_AM_URL": url, "BOINC_AM_USER": user, "BOINC_AM_PASSWORD_HASH": digest}


def _generic_worker(
    params: dict[str, Any], membership_id: str, limits: Limits, head_address: str | None
) -> dict[str, Any]:
    """The pool's own `command` (a list of strings) and `env` (checked by pool_params.check)."""
    command, env = params["command"], params.get("env") or {}
    return {"command": list(command), "env": {str(k): str(v) for k, v in env.items()}}


_WORKERS = {"dask": _dask_worker, "boinc": _boinc_worker, "generic": _generic_worker}


def render_head(
    template_name: str,
    params: dict[str, Any],
    pool_id: str,
    netns_path: str | None,
    *,
    head_address: str | None = None,
    limits: Limits | None = None,
    witness_dir: str | None = None,
    secrets_dir: str | None = None,
) -> ContainerSpec | None:
    """The pool's head container (on the hub), or None when the template has none.

    `head_address` is the hub's overlay address (.1); the scheduler listens there only.
    `witness_dir` (a host directory) is mounted where the witness plugin writes its totals.
    `secrets_dir` (a host directory with the scheduler's certificate, the guard and the member
    list) makes the scheduler speak only mutual TLS; its dashboard then listens on the hub's
    loopback only (`pool connect` forwards it).

    Raises:
        InvalidInput: a parameter is malformed.
    """
    t = template(template_name)
    pool_params.check(t.name, params)  # a seed starts no pool its workers could not run
    if not t.has_head:
        return None
    _check(_ID, pool_id, "pool id")
    host = head_address or "0.0.0.0"  # noqa: S104 (inside the hub's own namespace only)
    _check(_HOST, host, "head address")
    lim = limits or Limits(cpus=1.0, memory_bytes=1 * 2**30)
    dash_host = "127.0.0.1" if secrets_dir else ""
    dashboard = ["--dashboard-address", f"{dash_host}:{DASK_DASHBOARD_PORT}"]
    command = ["dask", "scheduler", "--host", host, "--port", str(DASK_PORT)]
    command += dashboard if params.get("dashboard") else ["--no-dashboard"]
    env: dict[str, str] = {}
    if secrets_dir is not None:
        command += ["--protocol", "tls", *tls_args("scheduler")]
        env.update(tls_env())
    if witness_dir is not None:
        command += ["--preload", WITNESS_PRELOAD]
        env["KALAVAI_WITNESS_DIR"] = WITNESS_MOUNT
    return ContainerSpec(
        name=f"kalavai-head-{pool_id}",
        image=_image(t, params),
        command=command,
        env=env,
        labels={POOL_LABEL: pool_id, ROLE_LABEL: "head", TEMPLATE_LABEL: t.name},
        netns_path=netns_path,
        cpus=lim.cpus,
        memory_bytes=lim.memory_bytes,
        pids_limit=512,
        data_volume=witness_dir,
        secrets_dir=secrets_dir,
    )


def _image(t: Template, params: dict[str, Any]) -> str:
    image = params.get("image")
    return str(image) if image else t.image


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.match(value):
        raise InvalidInput(f"Bad {what}", f"{value!r} is not a valid {what}.")
