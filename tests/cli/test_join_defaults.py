"""`pool join` without --cpus/--memory/--gpus lends what the tray's Join offers (the
preferences' in-use profile on this machine), says so, and the options still choose."""

from __future__ import annotations

from pathlib import Path

from kalavai_like.cli.pool.membership import JoinOptions, _lent
from kalavai_like.client import prefs as volunteer_prefs
from kalavai_like.client.instance import Home
from tests.support.cli import make_cli


def test_without_options_a_join_lends_what_the_trays_join_offers(tmp_path: Path) -> None:
    home = Home.open(tmp_path / "home")
    offer = volunteer_prefs.saved(home).in_use.limits(volunteer_prefs.machine())  # the tray's
    lent = _lent(home, JoinOptions(None, None, None, None, ""))
    assert (lent.cpus, lent.memory_bytes, lent.gpus) == (offer.cpus, offer.memory_bytes, 0)
    assert lent.text().endswith("(from your preferences; --cpus/--memory/--gpus choose)")
    chosen = _lent(home, JoinOptions(0.5, "512m", "none", None, ""))
    assert (chosen.cpus, chosen.memory_bytes, chosen.gpus) == (0.5, 512 * 2**20, 0)
    assert chosen.text() == "0.5 cores, 512M"


def test_the_help_says_where_the_defaults_come_from(tmp_path: Path) -> None:
    out = " ".join(make_cli(tmp_path)("pool", "join", "--help").stdout.split())
    assert "Default: what your preferences lend while you use the computer" in out
