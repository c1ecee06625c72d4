"""`kalavai-like pool start | join | pause | resume | stop`: the node's pool membership,
through the agent's LocalAPI (`NodeClient`).

The user's API token (or account key) stays on this side: it is passed to the agent for the one
redeem (or hub registration) call and never stored there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt, StartAgentOpt
from kalavai_like.cli.pool.owner import parse_params
from kalavai_like.cli.token_cmd import ARG_HELP
from kalavai_like.client.account import logged_in
from kalavai_like.errors import AuthError, InvalidInput, NotFound

if TYPE_CHECKING:
    from kalavai_like.client.records import Step

app = typer.Typer()
DEFAULT_PORT = 51820


def parse_gpus(text: str) -> int:
    """GPUs from "none" or a whole number."""
    if text.strip().lower() in ("none", "no", "0"):
        return 0
    if not text.strip().isdigit():
        raise InvalidInput("Invalid GPU count", f"{text!r}: give a whole number or 'none'.")
    return int(text)


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
    relay_only: Annotated[
        bool,
        typer.Option(
            "--relay-only",
            help="Volunteers reach this hub only through the platform's relay (TCP): for a seed "
            "behind NAT with no UDP port forwarded. Without it they try UDP first, then the relay.",
        ),
    ] = False,
    start_agent: StartAgentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Run this machine as a pool's seed: hub, head container, and a worker join token."""
    from kalavai_like.client.records import StartPoolRequest

    home = context.home()
    api_token = home.token()
    if not api_token:
        raise AuthError("Not logged in", "Log in first: kalavai-like login")
    node = context.node(start_agent)
    with logged_in(home) as client:
        try:
            pool = client.pool(name)
        except NotFound:
            pool = client.create_pool(name, template, parse_params(param or []), public)
            if not json:
                console.data(f"Created pool '{pool['name']}' ({pool['template']}).")
        req = StartPoolRequest(
            home.platform, pool["id"], api_token, endpoint or _default_endpoint(), relay_only
        )
        seed = node.start_pool(req, None if json else _print_step)
        made = client.create_token(pool["id"], uses, 3600)
    command = f"kalavai-like pool join {made['token']}"
    if json:
        console.emit_json({**seed.to_dict(), "token": made["token"], "join_command": command})
        return
    state = "already running" if seed.already else "started"
    console.success(f"Pool '{seed.pool_name}' {state}: hub {seed.address} at {seed.endpoint}.")
    if seed.relay:
        how = "only through" if seed.relay_only else "through"
        console.data(f"Volunteers whose UDP is blocked reach it {how} the relay at {seed.relay}.")
    console.data("Worker join token (valid 1 h):")
    console.raw(made["token"])
    console.data("On each volunteer machine, run:")
    console.raw(f"  {command}")


_DEFAULT = " Default: what your preferences lend while you use the computer (`prefs show`: in_use)."
CpusOpt = Annotated[float | None, typer.Option("--cpus", help="Cores to lend." + _DEFAULT, min=0.1)]
MemoryOpt = Annotated[
    str | None, typer.Option("--memory", help="Memory to lend: 512m, 2g." + _DEFAULT)
]
GpusOpt = Annotated[
    str | None, typer.Option("--gpus", help="GPUs to lend: a number or none." + _DEFAULT)
]
NameOpt = Annotated[str, typer.Option("--name", help="This machine's name in the pool.")]
DiskOpt = Annotated[
    str, typer.Option("--disk", help="Disk for the worker's kept data (BOINC): 10g, or none.")
]


@app.command()
def join(
    token: Annotated[str, typer.Argument(metavar="TOKEN|-|@PATH", help=ARG_HELP)],
    cpus: CpusOpt = None,
    memory: MemoryOpt = None,
    gpus: GpusOpt = None,
    disk: DiskOpt = "none",
    account_key: Annotated[
        str | None,
        typer.Option(
            "--account-key",
            help="Enrol with an account key instead of your login (headless machines).",
            envvar="KALAVAI_LIKE_ACCOUNT_KEY",
        ),
    ] = None,
    name: NameOpt = "",
    start_agent: StartAgentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Join a pool: prints each step, and returns once the worker runs and is acknowledged."""
    from kalavai_like.cli.token_cmd import read_token

    opts = JoinOptions(cpus, memory, gpus, account_key, name, disk)
    run_join(read_token(token), opts, start_agent, json)


@dataclass(frozen=True)
class JoinOptions:
    """What `pool join` and `join-link` lend, and as whom."""

    cpus: float | None  # None: the preferences' in-use profile on this machine (as the tray)
    memory: str | None
    gpus: str | None
    account_key: str | None
    name: str
    disk: str = "none"


def _lent(home: Any, opts: JoinOptions) -> Lent:
    """What the join lends: the options given, the rest as the tray's Join offers (the
    preferences' in-use profile on this machine)."""
    from kalavai_like.client import prefs as volunteer_prefs
    from kalavai_like.units import parse_size

    offer = volunteer_prefs.saved(home).in_use.limits(volunteer_prefs.machine())
    return Lent(
        opts.cpus if opts.cpus is not None else offer.cpus,
        parse_size(opts.memory) if opts.memory is not None else offer.memory_bytes,
        parse_gpus(opts.gpus) if opts.gpus is not None else offer.gpus,
        defaulted=None in (opts.cpus, opts.memory, opts.gpus),
    )


@dataclass(frozen=True)
class Lent:
    cpus: float
    memory_bytes: int
    gpus: int
    defaulted: bool

    def text(self) -> str:
        from kalavai_like.units import format_cores, format_size

        gpus = f", {self.gpus} GPU{'s' if self.gpus != 1 else ''}" if self.gpus else ""
        how = " (from your preferences; --cpus/--memory/--gpus choose)" if self.defaulted else ""
        return f"{format_cores(self.cpus)}, {format_size(self.memory_bytes)}{gpus}{how}"


def run_join(text: str, opts: JoinOptions, start_agent: bool, json: bool) -> None:
    """Join with the token `text` (never on a command line of its own): the agent prints each
    step; returns once the worker runs."""
    from kalavai_like import tokens
    from kalavai_like.client.records import JoinRequest
    from kalavai_like.units import parse_size

    home = context.home()
    parsed = tokens.validate(text, now=time.time(), platform=home.platform)
    credential = opts.account_key or home.token()
    if not credential:
        raise AuthError(
            "Not logged in", "Log in first (kalavai-like login), or give --account-key."
        )
    lend = _lent(home, opts)
    req = JoinRequest(
        text, credential, cpus=lend.cpus, memory_bytes=lend.memory_bytes, gpus=lend.gpus,
        device_name=opts.name, disk_bytes=0 if opts.disk == "none" else parse_size(opts.disk),
    )  # fmt: skip
    node = context.node(start_agent)
    if not json:
        console.data(f"Joining pool '{parsed.pool_name}' at {parsed.platform}, lending "
                     f"{lend.text()}")  # fmt: skip
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
    from kalavai_like.units import parse_duration

    result = context.node().pause(int(parse_duration(for_)) if for_ else None)
    _action(result.to_dict(), json)


@app.command()
def resume(
    anyway: Annotated[
        bool,
        typer.Option(
            "--anyway",
            help="Compute even where your rules would pause (schedule, in use, battery, busy "
            "CPU), until you pause again or for --for.",
        ),
    ] = False,
    for_: Annotated[
        str | None,
        typer.Option("--for", help="With --anyway: for how long (1h, 30m) or until (15:00)."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Let the worker run again (with --anyway, even where your rules would pause it)."""
    node = context.node()
    if for_ and not anyway:
        raise InvalidInput("--for needs --anyway", "Pause for a while with `pool pause --for`.")
    if anyway:
        node.set_pref("run_anyway", for_ or "until you pause")
    _action(node.resume().to_dict(), json)


@app.command()
def stop(
    finish: Annotated[
        bool,
        typer.Option(
            "--finish",
            help="Fetch no new work; leave once the current work is done (BOINC: the tasks "
            "are reported, then the client detaches; Dask: the worker retires gracefully, its "
            "results moved to other workers).",
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Leave the pool: final heartbeat, worker and network removed, device deregistered."""
    _action(context.node().stop(finish=finish).to_dict(), json)


def _action(result: dict[str, Any], json: bool) -> None:
    if json:
        console.emit_json(result)
        return
    console.data(result["message"][:1].upper() + result["message"][1:] + ".")
    for w in result.get("warnings", []):
        console.warn(w)
