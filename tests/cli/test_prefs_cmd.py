"""`kalavai-like prefs`: the agent alone writes the preferences. Without one, `show` reads what
it saved, and `set`/`reset` say the agent is not running, changing nothing."""

from __future__ import annotations

import json

from tests.support.cli import make_cli


def test_without_an_agent_show_reads_the_saved_prefs_and_set_changes_nothing(tmp_path):
    cli = make_cli(tmp_path, settings='keystore = "file"\n[prefs]\nidle_only = "on"\n')
    before = (cli.home / "config" / "settings.toml").read_text()
    r = cli("prefs", "show", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["idle_only"] == "on"
    for args in (("set", "cpu", "50%"), ("reset",), ("reset", "cpu")):
        r = cli("prefs", *args)
        assert r.returncode == 8, r.stderr
        assert "agent is not running" in r.stderr and "--start-agent" in r.stderr
        assert "Traceback" not in r.stderr
    assert (cli.home / "config" / "settings.toml").read_text() == before


def test_sizes_and_durations_name_what_is_wrong(tmp_path):
    cli = make_cli(tmp_path)
    r = cli("pool", "pause", "--for", "soon")
    assert r.returncode == 2 and "Invalid duration" in r.stderr and "30s, 5m" in r.stderr
