"""`kalavai-like relay serve`: run the relay (WireGuard packets over TCP) in this process.

It reads the platform's database (the same --data-dir or PostgreSQL URL as `platform serve`);
several replicas may serve one PostgreSQL, each pool's devices being sent to one of them by
the platform's `relay_addresses` setting.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from kalavai_like.cli.platform_cmd import DatabaseOpt, DataDirOpt, default_data_dir
from kalavai_like.errors import InvalidInput

app = typer.Typer(
    help="Run the relay that carries WireGuard packets over TCP for devices without UDP.",
    no_args_is_help=True,
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port (0 picks a free one).", envvar="KALAVAI_LIKE_RELAY_PORT")
    ] = 8701,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = "",
    recheck: Annotated[
        float, typer.Option(help="Seconds between checks that connected devices are still in.")
    ] = 3.0,
    keepalive: Annotated[
        int, typer.Option(help="Seconds of silence before a keepalive (3x: the link is dead).")
    ] = 10,
    fd: Annotated[int | None, typer.Option(hidden=True)] = None,
    exit_with_parent: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Serve the relay until stopped (Ctrl-C or SIGTERM)."""
    from kalavai_like.platform.relay import serve as relay
    from kalavai_like.platform.settings import PlatformSettings

    if not 0.1 <= recheck <= 300:
        raise InvalidInput("Bad re-check interval", "--recheck must be 0.1-300 seconds.")
    if not 1 <= keepalive <= 600:
        raise InvalidInput("Bad keepalive", "--keepalive must be 1-600 seconds.")
    data = (data_dir or default_data_dir()).expanduser().resolve()
    url = PlatformSettings(data, "http://localhost", database_url).resolved_database_url
    if fd is None and not database_url and not (data / "platform.sqlite3").exists():
        raise InvalidInput(
            "No platform database",
            f"{data} holds no platform database: give the platform's --data-dir or --database-url.",
        )
    db = relay.open_database(url)
    listener = socket.socket(fileno=fd) if fd is not None else relay.listen(host, port, "--port")
    address = listener.getsockname()
    shown = f"[{address[0]}]" if ":" in address[0] else address[0]
    print(f"kalavai-like relay serving at {shown}:{address[1]} ({db.dialect})", flush=True)
    relay.run(
        db, listener, recheck=recheck, keepalive=keepalive,
        parent=os.getppid() if exit_with_parent else None,
    )  # fmt: skip
