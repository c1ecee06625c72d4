"""The pages write amounts and units the way the CLI and the tray do: a little credit is not
"0.00", and RAM over time is GiB-hours (what the platform caps and grants in) everywhere."""

from __future__ import annotations

from pathlib import Path

from kalavai_like.client.credit import AMOUNTS
from kalavai_like.platform import credit
from kalavai_like.platform.web import render

WEB = Path(render.__file__).parent


def test_a_little_credit_is_not_zero_on_the_pages() -> None:
    summary = render._env.from_string("{{ 0.004|num(2) }} / {{ 1234.5|num(2) }}").render()
    assert summary == "0.004 / 1,234"


def test_ram_is_gib_hours_in_every_view() -> None:
    # The platform caps a device's RAM claims at its declared GiB x time, as the agent measures.
    assert credit.caps(3600, cores=1, memory_bytes=2**30, gpus=0, tolerance=0)[1] == 3600
    assert dict((k, short) for k, _, short in AMOUNTS)["ram_gb_hours"] == "RAM GiB-h"
    pages = "".join(p.read_text() for p in (WEB / "templates").glob("*.html"))
    pages += (WEB / "static" / "app.js").read_text()
    assert "GB-h" not in pages.replace("GiB-h", "")
    assert render._env.from_string("{{ RAM_HOURS }}").render() == "GiB-h"
