"""`kalavai-like pool connect | disconnect | run`: the pool owner's Dask client access, on
the seed, through the agent (kalavai_like.agent.dask_access). The scheduler speaks only
mutual TLS; these hand out the owner's client certificate, never a volunteer."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt, PoolArg
from kalavai_like.errors import InvalidInput

if TYPE_CHECKING:
    from kalavai_like.client.local import NodeClient

app = typer.Typer()

SNIPPET = """from distributed import Client
from distributed.security import Security

security = Security(tls_ca_file="{ca}", tls_client_cert="{cert}",
                    tls_client_key="{key}", require_encryption=True)
client = Client("{scheduler}", security=security)"""


def _check_pool(node: NodeClient, named: str | None) -> None:
    """A pool named on the command line must be the one this machine is the seed of."""
    seed = node.status().seed
    if named and seed is not None and named not in (seed.pool_name, seed.pool_id):
        raise InvalidInput("Not this seed's pool", f"This machine is the seed of {seed.pool_name}.")


def _show(info: dict[str, Any]) -> None:
    console.data(f"Pool {info['pool']}: Dask scheduler at {info['scheduler']} (this machine only)")
    if info.get("dashboard"):
        console.data(f"Dashboard: {info['dashboard']}")
    console.data("\nIn Python:\n")
    console.raw(SNIPPET.format(**info) + "\n")
    console.data("\nOr, for unchanged Dask scripts (`Client()` with no arguments):\n")
    console.raw("".join(f"export {k}={v}\n" for k, v in info["env"].items()))


@app.command()
def connect(
    pool: PoolArg = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="Return at once; `pool disconnect` ends it.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Reach the pool's Dask scheduler (and dashboard) on this machine's loopback, until Ctrl-C."""
    node = context.node()
    _check_pool(node, pool)
    info = node.dask_connect()
    if json:
        console.emit_json(info)
    else:
        _show(info)
    if detach:
        return
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    console.note("Connected. Press Ctrl-C to disconnect.")
    try:
        while not done.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    node.dask_disconnect()
    console.note("Disconnected.")


@app.command()
def disconnect(pool: PoolArg = None, json: JsonOpt = False) -> None:
    """End `pool connect --detach`: the loopback forwarding closes."""
    closed = context.node().dask_disconnect()
    if json:
        console.emit_json({"closed": closed})
    else:
        console.data("Disconnected." if closed else "Nothing was connected.")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    args: Annotated[list[str], typer.Argument(metavar="[POOL] SCRIPT.py [ARGS]...")],
) -> None:
    """Run a Python script as a Dask client of the pool in a sandboxed job container; its
    output is streamed and its exit code is this command's."""
    pool = None
    if args and not args[0].endswith(".py") and len(args) > 1:
        pool, args = args[0], args[1:]
    if not args:
        raise InvalidInput("No script", "Usage: kalavai-like pool run [POOL] SCRIPT.py [ARGS]...")
    path = Path(args[0])
    try:
        script = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("Cannot read the script", f"{path}: {exc}.") from exc
    node = context.node(timeout=24 * 3600.0)  # a job may be silent for long

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    _check_pool(node, pool)
    done = SystemExit(node.dask_run(script, args[1:], out))
    done.passthrough = True  # type: ignore[attr-defined]  # kept as is, even 2 (cli/main.py)
    raise done
