"""`kalavai-like demo`: a whole pool on this machine (platform, seed, two volunteers, a real
Dask computation), shown step by step, then torn down."""

from __future__ import annotations

from typing import Annotated

import typer

from kalavai_like.cli import console

app = typer.Typer()


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave everything running to explore; prints how.")
    ] = False,
    down: Annotated[
        bool, typer.Option("--down", help="Remove a demo left running with --keep.")
    ] = False,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Name prefix of what it makes.")
    ] = "kldemo",
) -> None:
    """Run the local demo: platform, seed with a dask pool, two volunteers, a Dask job."""
    from kalavai_like.devtools.demo import run_demo, tear_down

    if down:
        tear_down(prefix, say=console.data)
        return
    try:
        run_demo(prefix=prefix, keep=keep, say=console.data)
    except KeyboardInterrupt:
        console.warn("Interrupted: everything the demo started was removed.")
        raise typer.Exit(130) from None
