"""The options several sub-apps share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
StartAgentOpt = Annotated[
    bool,
    typer.Option("--start-agent", help="Start the agent in the background if it is not running."),
]
PoolOpt = Annotated[
    str | None,
    typer.Option("--pool", help="Pool name or id (default: your only pool).", show_default=False),
]
PoolArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[POOL]", help="Pool name or id (default: your only pool).", show_default=False
    ),
]


def chosen_pool(positional: str | None, option: str | None) -> str | None:
    """The pool a command names, as its argument or as --pool (the same style everywhere)."""
    from kalavai_like.errors import InvalidInput

    if positional and option and positional != option:
        raise InvalidInput("Two pools named", f"Name the pool once: {positional} or {option}.")
    return positional or option
