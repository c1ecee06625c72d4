"""`kalavai-like prefs show | set | reset`: the volunteer's preferences (limits, idle-only,
battery, load, schedule, timed pause).

The agent keeps them (the `[prefs]` table of settings.toml) and applies a change to the running
worker at once, with no rejoin. `show` reads the saved table when no agent runs; `set` and
`reset` need the agent (`--start-agent` starts it).
"""

from __future__ import annotations

from typing import Annotated

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt, StartAgentOpt
from kalavai_like.errors import AgentUnavailable

app = typer.Typer(help="Show and change what the pool may use, and when.", no_args_is_help=True)
TIMEOUT = 30.0


def _show(flat: dict[str, str], json: bool) -> None:
    from kalavai_like.client.prefs import KEYS

    if json:
        console.emit_json(flat)
        return
    console.table(["Key", "Value", "Meaning"], [(k, v, KEYS.get(k, "")) for k, v in flat.items()])


@app.command()
def show(json: JsonOpt = False) -> None:
    """Every preference with its value and meaning."""
    try:
        flat = context.node(timeout=TIMEOUT).prefs()
    except AgentUnavailable:
        from kalavai_like.client.prefs import saved

        flat = saved(context.home()).to_flat()
    _show(flat, json)


@app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="The preference: cpu, memory, schedule, ...")],
    value: Annotated[str, typer.Argument(help='Its value: 0.5, 50%, 4G, "mon-fri 18:00-08:00".')],
    start_agent: StartAgentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Change one preference; the agent applies it at once (no rejoin, no restart)."""
    from kalavai_like.client.prefs import shown

    flat = context.node(start_agent, TIMEOUT).set_pref(key, value)
    if json:
        console.emit_json(flat)
        return
    console.success(f"{key} = {shown(flat, key)}: applied now.")


@app.command()
def reset(
    key: Annotated[str | None, typer.Argument(help="The preference (default: all).")] = None,
    start_agent: StartAgentOpt = False,
    json: JsonOpt = False,
) -> None:
    """Put one preference (or all) back to the default."""
    from kalavai_like.client.prefs import shown

    flat = context.node(start_agent, TIMEOUT).reset_prefs(key)
    if json:
        console.emit_json(flat)
        return
    what = f"{key} = {shown(flat, key)}" if key else "Every preference is back to its default"
    console.success(what + ": applied now.")
