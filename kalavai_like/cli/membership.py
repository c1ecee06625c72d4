"""`kalavai-like pool start | join | pause | resume | stop | status | workers`: the node's pool
membership, through the agent's LocalAPI (`NodeClient`). Importing this module registers the
commands on the `pool` sub-app.

The user's API token (or account key) stays on this side: it is passed to the agent for the one
redeem (or hub registration) call and never stored there.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.pool import JsonOpt, app, owned_pool, parse_duration, parse_params
from kalavai_like.client.account import logged_in
from kalavai_like.errors import AgentUnavailable, AuthError, InvalidInput, NotFound

if TYPE_CHECKING:
    from kalavai_like.client.local import NodeClient
    from kalavai_like.client.records import Step, WorkerStatus

StartAgentOpt = Annotated[
    bool,
    typer.Option("--start-agent", help="Start the agent in the background if it is not running."),
]
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.I)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
DEFAULT_PORT = 51820


def parse_size(text: str) -> int:
    """Bytes in "512m", "2g", "1.5GiB", "1073741824".

    Raises:
        InvalidInput: anything else.
    """
    m = _SIZE.match(text)
    if not m:
        raise InvalidInput("Invalid size", f"{text!r}: use e.g. 512m, 2g or 4GiB.")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_gpus(text: str) -> int:
    """GPUs from "none" or a whole number."""
    if text.strip().lower() in ("none", "no", "0"):
        return 0
    if not text.strip().isdigit():
        raise InvalidInput("Invalid GPU count", f"{text!r}: give a whole number or 'none'.")
    return int(text)


def _client(start_agent: bool) -> NodeClient:
    from kalavai_like.client.local import NodeClient, listen_path, socket_path

    home = context.home()
    hint = str(home.paths.home) if home.paths.home else ""
    client = NodeClient(socket_path(home.paths), home_hint=hint)
    if start_agent:
        try:
            client.ping()
        except AgentUnavailable:
            from kalavai_like.client.local import start_background

            pid = start_background(home.paths, hint or None)
            console.note(f"Started the agent in the background (PID {pid}).")
            client = NodeClient(listen_path(home.paths), home_hint=hint)  # where it listens
    return client


def _print_step(step: Step) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(step.at)) + f".{int(step.at % 1 * 1000):03d}"
    console.data(f"[{stamp}] {step.text}")


def _default_endpoint() -> str:
    import psutil

    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family.name == "AF_INET" and not a.address.startswith(("127.", "169.254.")):
                return f"{a.address}:{DEFAULT_PORT}"
    raise InvalidInput(
        "No address for the hub", "This machine has no usable IPv4 address: give --endpoint."
    )


@app.command()
def start(
    name: Annotated[str, typer.Argument(help="The pool (created if you have none by that name).")],
    template: Annotated[
        str, typer.Option("--template", help="Template for a new pool: dask, boinc, generic.")
    ] = "dask",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Template parameter KEY=VALUE; repeat.")
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="HOST:PORT where volunteers reach the hub (UDP)."),
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="List a new pool publicly.")] = False,
    uses: Annotated[int, typer.Option("--uses", min=1, help="Uses of the join token.")] = 10,
    start_agent: StartAgentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Run this machine as a pool's seed: hub, head container, and a worker join token."""
    from kalavai_like.client.records import StartPoolRequest

    home = context.home()
    api_token = home.token()
    if not api_token:
        raise AuthError("Not logged in", "Log in first: kalavai-like login")
    node = _client(start_agent)
    with logged_in(home) as client:
        try:
            pool = client.pool(name)
        except NotFound:
            pool = client.create_pool(name, template, parse_params(param or []), public)
            if not json:
                console.data(f"Created pool '{pool['name']}' ({pool['template']}).")
        req = StartPoolRequest(
            home.platform, pool["id"], api_token, endpoint or _default_endpoint()
        )
        seed = node.start_pool(req, None if json else _print_step)
        made = client.create_token(pool["id"], uses, 3600)
    command = f"kalavai-like pool join {made['token']}"
    if json:
        console.emit_json({**seed.to_dict(), "token": made["token"], "join_command": command})
        return
    state = "already running" if seed.already else "started"
    console.success(f"Pool '{seed.pool_name}' {state}: hub {seed.address} at {seed.endpoint}.")
    console.data("Worker join token (valid 1 h):")
    console.raw(made["token"])
    console.data("On each volunteer machine, run:")
    console.raw(f"  {command}")


@app.command()
def join(
    token: Annotated[str, typer.Argument(help="The join token, or '-' to read it from stdin.")],
    cpus: Annotated[float, typer.Option("--cpus", help="Cores to lend.", min=0.1)] = 1.0,
    memory: Annotated[str, typer.Option("--memory", help="Memory to lend: 512m, 2g.")] = "1g",
    gpus: Annotated[str, typer.Option("--gpus", help="GPUs to lend: a number or none.")] = "none",
    account_key: Annotated[
        str | None,
        typer.Option(
            "--account-key",
            help="Enrol with an account key instead of your login (headless machines).",
            envvar="KALAVAI_LIKE_ACCOUNT_KEY",
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="This machine's name in the pool.")] = "",
    start_agent: StartAgentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Join a pool: prints each step, and returns once the worker runs and is acknowledged."""
    from kalavai_like import tokens
    from kalavai_like.cli.token_cmd import read_token
    from kalavai_like.client.records import JoinRequest

    text = read_token(token)
    home = context.home()
    parsed = tokens.validate(text, now=time.time(), platform=home.platform)
    credential = account_key or home.token()
    if not credential:
        raise AuthError(
            "Not logged in", "Log in first (kalavai-like login), or give --account-key."
        )
    req = JoinRequest(
        text, credential, cpus=cpus, memory_bytes=parse_size(memory), gpus=parse_gpus(gpus),
        device_name=name,
    )  # fmt: skip
    node = _client(start_agent)
    if not json:
        console.data(f"Joining pool '{parsed.pool_name}' at {parsed.platform}")
    result = node.join(req, None if json else _print_step)
    if json:
        console.emit_json(result.to_dict())
        return
    console.success(f"Joined '{result.pool_name}' as {result.address}: contributing now.")


@app.command()
def pause(
    for_: Annotated[
        str | None, typer.Option("--for", help="Resume by itself after this long: 30m, 1h.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Freeze the worker at once; nothing accrues until you resume."""
    result = _client(False).pause(parse_duration(for_) if for_ else None)
    _action(result.to_dict(), json)


@app.command()
def resume(json: JsonOpt = False) -> None:
    """Let the worker run again."""
    _action(_client(False).resume().to_dict(), json)


@app.command()
def stop(json: JsonOpt = False) -> None:
    """Leave the pool: final heartbeat, worker and network removed, device deregistered."""
    _action(_client(False).stop().to_dict(), json)


def _action(result: dict[str, Any], json: bool) -> None:
    if json:
        console.emit_json(result)
        return
    console.data(result["message"][:1].upper() + result["message"][1:] + ".")
    for w in result.get("warnings", []):
        console.warn(w)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    return f"{s} s ago" if s < 120 else f"{s // 60} min ago"


@app.command()
def status(start_agent: StartAgentOpt = False, json: JsonOpt = False) -> None:
    """This node: pool, overlay address, state and why, worker, uptime, contributed totals."""
    st = _client(start_agent).status()
    if json:
        console.emit_json(st.to_dict())
        return
    now = st.at or time.time()
    rows: list[tuple[str, Any]] = [("State", f"{st.state} ({st.reason})")]
    w = st.worker
    if w is not None:  # why it is (not) computing: kalavai_like.cli.resources
        from kalavai_like.cli.resources import reason_lines

        rows += [("Why", line) for line in reason_lines(w, now)]
    if w is not None:
        up = f"{int(now - w.running_since)} s" if w.running_since else "-"
        rows += [
            ("Pool", f"{w.pool_name} at {w.platform}"),
            ("Address", f"{w.address} ({w.overlay})"),
            ("Last handshake", _age(w.handshake_age)),
            ("Network", f"WireGuard over {w.network}" if w.network else "starting"),
            ("Worker", f"{w.container} ({w.container_state})"),
            ("Limits", limits_text(w)),
            ("Running for", up),
            ("Contributed", _totals(w.totals)),
            ("Not yet acknowledged", _totals(w.pending)),
            ("Last heartbeat", _age(now - w.last_heartbeat_at if w.last_heartbeat_at else None)),
        ]
        if w.paused_until:
            rows.append(("Resumes at", time.strftime("%H:%M", time.localtime(w.paused_until))))
    s = st.seed
    if s is not None:
        rows += [
            ("Seed of", f"{s.pool_name} (hub {s.address}, {s.endpoint})"),
            ("Hub network", f"WireGuard over {s.network}" if s.network else "starting"),
            ("Head", f"{s.head} ({s.head_state})"),
            ("Workers connected", str(len(s.peers))),
        ]
    for c in st.conditions:
        rows.append(("Problem", f"{c.title}: {c.text}"))
    console.pairs(rows)


def _resources(cpus: float, memory_bytes: int, gpus: int) -> str:
    return f"{cpus:g} cores, {memory_bytes / 2**30:.2f} GiB, {gpus} GPUs"


def limits_text(w: WorkerStatus) -> str:
    """The limits in force (preferences and rules may lower what the join lent), and the lent
    ones when they differ."""
    lent = _resources(w.cpus, w.memory_bytes, w.gpus)
    lim = w.limits
    if not lim:
        return lent
    now = _resources(float(lim["cpus"]), int(lim["memory_bytes"]), int(lim["gpus"]))
    return now if now == lent else f"{now} (lent at join: {lent})"


def _totals(t: dict[str, float]) -> str:
    return (
        f"{t.get('cpu_seconds', 0) / 3600:.4f} CPU core-h, "
        f"{t.get('ram_gb_seconds', 0) / 3600:.4f} RAM GiB-h, "
        f"{t.get('gpu_seconds', 0) / 3600:.4f} GPU-h"
    )


def listed_devices(devices: list[dict[str, Any]], include_left: bool) -> list[dict[str, Any]]:
    """The pool's workers: never the hub (the seed's own device); left ones only on request."""
    return [
        d for d in devices
        if d.get("role", "worker") != "hub"
        and (include_left or not (d.get("left_at") or d.get("state") == "left"))
    ]  # fmt: skip


@app.command()
def workers(
    pool: Annotated[str | None, typer.Option("--pool", help="Pool name (default: yours).")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include devices that have left the pool.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """For pool owners: the workers with their user, address, state, resources, last heartbeat."""
    home = context.home()
    if pool is None:
        try:
            seed = _client(False).status().seed
            pool = seed.pool_id if seed else None
        except AgentUnavailable:
            pool = None
    with logged_in(home) as client:
        chosen = owned_pool(client, pool)
        devices = listed_devices(client.request("GET", f"/pools/{chosen['id']}/devices"), all_)
    if json:
        console.emit_json(devices)
        return
    console.table(
        ["Worker", "User", "Address", "State", "Cores", "Memory", "GPUs", "Last heartbeat",
         "CPU core-h"],
        [
            (
                d.get("name"), (d.get("user") or {}).get("email", ""), d.get("address"),
                str(d.get("state") or "") + (f" ({d['reason']})" if d.get("reason") else ""),
                d.get("cores"), f"{(d.get('memory_bytes') or 0) / 2**30:.1f} GiB", d.get("gpus"),
                d.get("last_heartbeat_at") or "never",
                f"{(d.get('totals') or {}).get('cpu_core_hours', 0):.4f}",
            )
            for d in devices
        ],
        title=f"Workers of pool '{chosen['name']}'" + (" (with those that left)" if all_ else ""),
    )  # fmt: skip
