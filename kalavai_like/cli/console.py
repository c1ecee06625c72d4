"""The one place the CLI writes for people and for machines.

Data goes to stdout (`data`, `table`, `emit_json`); notes, warnings and errors go to stderr
(`note`, `warn`, `error`). rich is imported only when something is printed for people, and
`--json` output never touches it, so scripts start fast. Every string printed passes through
`printable` (kalavai_like.client.text) or JSON's escaping, so no control character from a token,
the platform or the agent ever reaches the terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from kalavai_like.client.text import printable

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console


@cache
def stdout() -> Console:
    import os

    from rich.console import Console

    # In a pipe rich would assume 80 columns and cut ids in tables; ids must stay whole.
    wide = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(highlight=False, soft_wrap=True, width=200 if wide else None)


@cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _escape(text: str) -> str:
    """`text` as rich shows it literally: no markup, control characters made visible."""
    from rich.markup import escape

    return escape(printable(text))


def emit_json(value: Any) -> None:
    """Machine output: JSON on stdout, one document, no colour; times in ISO 8601 UTC."""
    text = json.dumps(iso_times(value), indent=2, sort_keys=True, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


_TIME_KEYS = frozenset({"at", "running_since", "paused_until"})


def iso_times(value: Any, key: str = "") -> Any:
    """`value` with every moment in one form, ISO 8601 in UTC ending in Z: the agent's epoch
    seconds and the platform's or a token's offsets alike. A moment is a value under a key
    ending in `_at` or named in _TIME_KEYS; other values and naive times are left as they are."""
    if isinstance(value, dict):
        return {k: iso_times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [iso_times(v, key) for v in value]
    if not (key.endswith("_at") or key in _TIME_KEYS) or isinstance(value, bool):
        return value
    from datetime import UTC, datetime

    if isinstance(value, int | float) and value > 0:
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is None:
            return value
    else:
        return value
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def data(text: str, *, style: str | None = None) -> None:
    """A line of data for people on stdout (text is not markup)."""
    stdout().print(_escape(text), style=style)


def raw(text: str) -> None:
    """Exactly `text` on stdout (for values people copy: tokens, keys, commands)."""
    sys.stdout.write(printable(text) + "\n")
    sys.stdout.flush()


def note(text: str, *, style: str = "dim") -> None:
    """A diagnostic for people on stderr."""
    stderr().print(_escape(text), style=style)


def success(text: str) -> None:
    stderr().print(_escape(text), style="green")


def warn(text: str) -> None:
    stderr().print("[bold yellow]Warning:[/] " + _escape(text))


def error(title: str, message: str = "") -> None:
    """An error for people: bold title, then what to do."""
    if not sys.stderr.isatty():  # plain text in logs and pipes, no rich start-up cost
        text = f"Error: {title}\n" + (f"{message}\n" if message else "")
        sys.stderr.write(printable(text))
        return
    console = stderr()
    console.print("[bold red]Error:[/] " + _escape(title))
    if message:
        console.print(_escape(message))


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """A table for people on stdout."""
    from rich.table import Table

    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, no_wrap=column == "ID")  # people copy ids: never cut them
    for row in rows:
        grid.add_row(*("" if v is None else _escape(str(v)) for v in row))
    stdout().print(grid)


def _moment(value: str) -> datetime | None:
    """An ISO timestamp from the platform (a naive one is UTC), or None if it is not one."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(value: str | None) -> str:
    """An ISO timestamp from the platform as "YYYY-MM-DD HH:MM UTC" ("" for none)."""
    from datetime import UTC

    moment = _moment(value) if value else None
    if moment is None:
        return value or ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: str | None, now: float) -> str:
    """An ISO timestamp from the platform as how long ago it was ("never" for none)."""
    from kalavai_like.units import format_age

    moment = _moment(value) if value else None
    if moment is None:
        return value or "never"
    return format_age(now - moment.timestamp())


def pairs(items: Sequence[tuple[str, Any]]) -> None:
    """Aligned "key: value" lines for people on stdout."""
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        stdout().print(f"[bold]{_escape(key.ljust(width))}[/]  {_escape(str(value))}")
