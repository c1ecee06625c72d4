"""The `kalavai-like` root command: global options, sub-apps and the one error edge."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kalavai_like import __version__
from kalavai_like.cli.platform_cmd import app as platform_app
from kalavai_like.errors import KalavaiError

app = typer.Typer(
    name="kalavai-like",
    help="Join volunteer computing pools and see what you contributed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # tokens live in locals
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(platform_app, name="platform")

_debug = False


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
) -> None:
    global _debug
    _debug = debug


def run() -> None:
    """Entry point: run the app and turn project errors into a message and an exit code."""
    try:
        app(standalone_mode=True)
    except KalavaiError as exc:
        if _debug:
            raise
        print(f"Error: {exc.title}", file=sys.stderr)
        if exc.message:
            print(exc.message, file=sys.stderr)
        sys.exit(exc.exit_code)
