"""The `kalavai-like` root command: global options, sub-apps and the one error edge."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kalavai_like import __version__
from kalavai_like.cli import (
    account,
    account_key,
    agent_cmd,
    console,
    context,
    credits,
    demo_cmd,
    platform_cmd,
    pool,
    prefs_cmd,
    relay_cmd,
    sessions_cmd,
    token_cmd,
)
from kalavai_like.errors import KalavaiError

app = typer.Typer(
    name="kalavai-like",
    help="Join volunteer computing pools and see what you contributed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # the error edge in run() reports; tokens live in locals
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Every sub-app module defines its `app`; those without a name add their commands at the top.
app.add_typer(agent_cmd.app)  # agent: runs the agent in its own process
app.add_typer(demo_cmd.app)  # demo: runs the devtools' demo in this process
app.add_typer(credits.app)
app.add_typer(account.app)  # signup, login, logout, whoami
app.add_typer(pool.app, name="pool")
app.add_typer(token_cmd.app, name="token")
app.add_typer(account_key.app, name="account-key")
app.add_typer(sessions_cmd.app, name="sessions")
app.add_typer(platform_cmd.app, name="platform")  # platform serve: runs the platform in-process
app.add_typer(prefs_cmd.app, name="prefs")
app.add_typer(relay_cmd.app, name="relay")  # relay serve: runs the relay in-process


def _version(value: bool) -> None:
    if value:
        print(f"kalavai-like {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show tracebacks for errors.", envvar="KALAVAI_LIKE_DEBUG"),
    ] = False,
    home: Annotated[
        str | None,
        typer.Option(
            "--home",
            help="Keep config, state, data, logs and run files under this directory "
            "(default: your OS's usual places).",
            envvar="KALAVAI_LIKE_HOME",
            show_default=False,
        ),
    ] = None,
) -> None:
    context.configure(home, debug)


def run() -> None:
    """Entry point: run the app and turn errors into a message and an exit code."""
    try:
        app(standalone_mode=True)
    except KalavaiError as exc:
        if context.debug():
            raise
        console.error(exc.title, exc.message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if context.debug():
            raise
        console.error(
            f"Unexpected error ({type(exc).__name__})",
            "This is a bug in kalavai-like. Run the command again with --debug to see where.",
        )
        sys.exit(1)
