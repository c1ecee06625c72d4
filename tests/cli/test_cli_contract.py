"""The CLI as a contract for scripts: documented exit codes that tell a wrong command line from
a refused value, errors as JSON under --json, the root's options anywhere on the line, and
times in one form (ISO 8601 UTC) in every JSON document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kalavai_like.cli.console import iso_times
from tests.support.cli import base_env, make_cli


def test_a_wrong_command_line_and_a_refused_value_exit_differently(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    usage = cli("pool", "status", "--no-such-option")
    assert usage.returncode == 64 and "No such option" in usage.stderr
    typed = cli("pool", "join", "-", "--cpus", "many", input="x\n")
    assert typed.returncode == 64
    refused = cli("token", "check", "kl1_damaged")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr


def test_the_help_lists_the_exit_codes(tmp_path: Path) -> None:
    out = " ".join(make_cli(tmp_path)("--help").stdout.split())
    assert "Exit codes: 0 done" in out and "8 the agent is not running" in out
    assert "64 usage" in out


def test_errors_are_json_on_stderr_under_json(tmp_path: Path) -> None:
    r = make_cli(tmp_path)("pool", "status", "--json")
    assert r.returncode == 8 and r.stdout == ""
    err = json.loads(r.stderr)["error"]
    assert err["kind"] == "AgentUnavailable" and err["exit_code"] == 8
    assert "not running" in err["title"]


def test_root_options_work_after_the_subcommand_and_json_before_it(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    run = [sys.executable, "-m", "kalavai_like"]
    env = base_env(tmp_path)
    late = subprocess.run([*run, "pool", "status", "--home", str(home), "--json"],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert str(home / "run" / "agent.sock") in json.loads(late.stderr)["error"]["message"]
    early = subprocess.run([*run, "--json", "pool", "status", f"--home={home}"],
                           capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert json.loads(early.stderr)["error"]["exit_code"] == 8


def test_pool_join_reads_the_token_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    path.write_text("\nkl1_not-a-real-token\n")
    r = make_cli(tmp_path)("pool", "join", f"@{path}")
    assert r.returncode == 2 and "token" in r.stderr.lower()
    missing = make_cli(tmp_path)("pool", "join", f"@{tmp_path / 'none.txt'}")
    assert missing.returncode == 2 and "Cannot read the token file" in missing.stderr


def test_every_moment_in_json_is_iso_utc() -> None:
    doc = {
        "at": 1764720000.5,
        "worker": {"joined_at": 1764720000, "running_since": None, "cpus": 2.0},
        "expires_at": "2026-12-03T08:00:00+00:00",
        "created_at": "2026-12-02T00:45:09.718261Z",
        "paused_until": "tomorrow 08:00",
        "steps": [{"at": 1764720001.0, "text": "Token format is correct"}],
        "local": "2026-12-03T08:00:00",
    }
    out = iso_times(doc)
    assert out["at"] == "2025-12-03T00:00:00.500000Z"
    assert out["worker"] == {"joined_at": "2025-12-03T00:00:00Z", "running_since": None,
                             "cpus": 2.0}  # fmt: skip
    assert out["expires_at"] == "2026-12-03T08:00:00Z"
    assert out["created_at"] == "2026-12-02T00:45:09.718261Z"
    assert out["paused_until"] == "tomorrow 08:00"  # not a moment: left alone
    assert out["steps"][0]["at"] == "2025-12-03T00:00:01Z"
    assert out["local"] == "2026-12-03T08:00:00"


def test_the_pool_commands_name_a_pool_the_same_way(tmp_path: Path, local_platform) -> None:
    from tests.support.cli import signed_up

    cli = make_cli(tmp_path)
    signed_up(cli, local_platform.url, "style")
    name = f"style-{tmp_path.name[-8:]}".replace("_", "-")
    assert cli("pool", "create", name, "--template", "dask").returncode == 0
    made = json.loads(cli("pool", "token", name, "--json").stdout)  # positional, like create
    by_arg = json.loads(cli("pool", "tokens", name, "--json").stdout)
    by_opt = json.loads(cli("pool", "tokens", "--pool", name, "--json").stdout)
    assert [t["id"] for t in by_arg] == [t["id"] for t in by_opt] == [made["id"]]
    both = cli("pool", "tokens", name, "--pool", "another")
    assert both.returncode == 2 and "Name the pool once" in both.stderr
