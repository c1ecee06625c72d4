"""`kalavai-like prefs show | set | reset`: the volunteer's preferences (limits, idle-only,
battery, load, schedule, timed pause).

Through the agent when it runs, so a change applies to the running worker at once with no
rejoin; otherwise the `[prefs]` table of settings.toml is edited (validated the same way) and
the change applies when the agent starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kalavai_like.cli import console, context
from kalavai_like.errors import AgentUnavailable

if TYPE_CHECKING:
    from kalavai_like.agent.policy import PrefsFile
    from kalavai_like.client.local import NodeClient

app = typer.Typer(name="prefs", help="Show and change what the pool may use, and when.",
                  no_args_is_help=True)  # fmt: skip
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _node() -> NodeClient:
    from kalavai_like.client.local import NodeClient, socket_path

    home = context.home()
    return NodeClient(socket_path(home.paths), timeout=30.0)


def _file() -> PrefsFile:
    from kalavai_like.agent.policy import PrefsFile

    return PrefsFile(context.home().paths.settings_file)


def _show(flat: dict[str, str], json: bool) -> None:
    from kalavai_like.volunteer.prefs import KEYS

    if json:
        console.emit_json(flat)
        return
    console.table(["Key", "Value", "Meaning"], [(k, v, KEYS.get(k, "")) for k, v in flat.items()])


@app.command()
def show(json: JsonOpt = False) -> None:
    """Every preference with its value and meaning."""
    try:
        flat = _node().prefs()
    except AgentUnavailable:
        flat = _file().load().to_flat()
    _show(flat, json)


@app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="The preference: cpu, memory, schedule, ...")],
    value: Annotated[str, typer.Argument(help='Its value: 0.5, 50%, 4G, "mon-fri 18:00-08:00".')],
    json: JsonOpt = False,
) -> None:
    """Change one preference; the agent applies it at once (no rejoin, no restart)."""
    try:
        flat = _node().set_pref(key, value)
        live = True
    except AgentUnavailable:
        from kalavai_like.volunteer import hostinfo

        store = _file()
        new = store.load().set(key, value, hostinfo.hardware())
        store.save(new)
        flat, live = new.to_flat(), False
    if json:
        console.emit_json(flat)
        return
    shown = _value_of(flat, key)
    if live:
        console.success(f"{key} = {shown}: applied now.")
    else:
        console.success(f"{key} = {shown}: saved; the agent applies it when it starts.")


@app.command()
def reset(
    key: Annotated[str | None, typer.Argument(help="The preference (default: all).")] = None,
    json: JsonOpt = False,
) -> None:
    """Put one preference (or all) back to the default."""
    try:
        flat = _node().reset_prefs(key)
        live = True
    except AgentUnavailable:
        store = _file()
        new = store.load().reset(key)
        store.save(new)
        flat, live = new.to_flat(), False
    if json:
        console.emit_json(flat)
        return
    what = f"{key} = {_value_of(flat, key)}" if key else "Every preference is back to its default"
    console.success(what + (": applied now." if live else ": applies when the agent starts."))


def _value_of(flat: dict[str, str], key: str | None) -> str:
    from kalavai_like.volunteer.prefs import Prefs

    if not key:
        return ""
    k = key.strip().lower().replace("-", "_")
    if k in flat:
        return flat[k]
    return Prefs().get(k) if k not in ("cpu", "memory", "gpu") else _pair(flat, k)


def _pair(flat: dict[str, str], k: str) -> str:
    in_use, idle = flat[f"in_use.{k}"], flat[f"idle.{k}"]
    return in_use if in_use == idle else f"{in_use} in use, {idle} idle"


def register(root: typer.Typer) -> None:
    """Add `prefs` to the root app."""
    root.add_typer(app, name="prefs")
