"""The `kalavai-like` root command: global options, sub-apps and the one error edge."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from kalavai_like import __version__
from kalavai_like.cli import (
    account,
    account_cmd,
    account_key,
    agent_cmd,
    console,
    context,
    credits,
    demo_cmd,
    link_cmd,
    operator_cmd,
    platform_cmd,
    platform_reset,
    pool,
    prefs_cmd,
    relay_cmd,
    sessions_cmd,
    token_cmd,
)
from kalavai_like.errors import KalavaiError

USAGE = 64  # sysexits' EX_USAGE: the command line itself is wrong, not a value in it
EXIT_CODES = (
    (0, "done"),
    (1, "unexpected error (a bug: run again with --debug)"),
    (2, "bad input: a value, token or file was refused; fix it and run again"),
    (3, "not logged in, or not allowed"),
    (4, "the platform is unreachable or failing; try again later"),
    (5, "no such pool, token, device or key (or not yours)"),
    (6, "conflicts with the current state (name taken, already in a pool)"),
    (7, "this machine lacks something the step needs"),
    (8, "the agent is not running"),
    (USAGE, "usage: unknown command or option, missing argument, a value of the wrong type"),
    (130, "interrupted"),
)
GLOBAL_OPTIONS = ("--home", "--debug")  # root options also accepted after the subcommand

app = typer.Typer(
    name="kalavai-like",
    help="Join volunteer computing pools and see what you contributed.",
    epilog="Exit codes: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES) + ".",
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
app.add_typer(link_cmd.app)  # join-link: the web's "Open in app"
app.add_typer(token_cmd.app, name="token")
app.add_typer(account_cmd.app, name="account")
app.add_typer(account_key.app, name="account-key")
app.add_typer(sessions_cmd.app, name="sessions")
platform_reset.register(platform_cmd.app)  # platform reset-link
app.add_typer(platform_cmd.app, name="platform")  # platform serve: runs the platform in-process
app.add_typer(prefs_cmd.app, name="prefs")
app.add_typer(operator_cmd.app, name="operator")
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


def normalized(argv: list[str]) -> list[str]:
    """`argv` with the root's options moved to the front and `--json` to the end, so both
    work anywhere on the line (nothing after `--` is touched)."""
    end = argv.index("--") if "--" in argv else len(argv)
    head, tail = argv[:end], argv[end:]
    front: list[str] = []
    rest: list[str] = []
    wants_json = False
    i = 0
    while i < len(head):
        arg = head[i]
        if arg == "--home" and i + 1 < len(head):
            front += head[i : i + 2]
            i += 2
            continue
        if arg.startswith("--home=") or arg in GLOBAL_OPTIONS:
            front.append(arg)
        elif arg == "--json":
            wants_json = True
        else:
            rest.append(arg)
        i += 1
    return front + rest + (["--json"] if wants_json else []) + tail


def run() -> None:
    """Entry point: run the app and turn errors into a message and an exit code."""
    argv = normalized(sys.argv[1:])
    as_json = "--json" in argv
    try:
        try:
            app(args=argv, standalone_mode=True)
        except SystemExit as done:
            # Typer exits 2 only for a command line it refused (our commands raise errors, which
            # are handled below, and never exit 2 themselves): that is a usage error. `pool run`
            # passes its script's exit code through as it is.
            if done.code == 2 and not getattr(done, "passthrough", False):
                sys.exit(USAGE)
            raise
    except KalavaiError as exc:
        if context.debug():
            raise
        _report(exc, as_json)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if context.debug():
            raise
        bug = KalavaiError(
            f"Unexpected error ({type(exc).__name__})",
            "This is a bug in kalavai-like. Run the command again with --debug to see where.",
        )
        _report(bug, as_json)
        sys.exit(1)


def _report(exc: KalavaiError, as_json: bool) -> None:
    """The error on stderr: for people, or under --json as one JSON document."""
    if as_json:
        body = {**exc.to_dict(), "exit_code": exc.exit_code}
        sys.stderr.write(json.dumps({"error": body}, indent=2, sort_keys=True) + "\n")
        return
    console.error(exc.title, exc.message)
