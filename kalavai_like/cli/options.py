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
