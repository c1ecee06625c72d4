"""Every account, pool, token and account-key command, run as the real `kalavai-like` binary
against the real platform server on a loopback port."""

from __future__ import annotations

import json
import time

import pytest

from kalavai_like import tokens
from tests.support.cli import Cli, make_cli, signed_up


@pytest.fixture
def owner(tmp_path, local_platform) -> tuple[Cli, str]:
    cli = make_cli(tmp_path, "owner")
    return cli, signed_up(cli, local_platform.url, "owner")


def test_version_and_help():
    cli = make_cli_for_help()
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("kalavai-like ")
    r = cli("-h")
    assert r.returncode == 0
    for command in ("signup", "login", "logout", "whoami", "pool", "token", "account-key",
                    "sessions"):  # fmt: skip
        assert command in r.stdout
    r = cli("pool", "-h")
    for command in ("list", "create", "token", "tokens", "revoke-token"):
        assert command in r.stdout


def make_cli_for_help():
    import tempfile
    from pathlib import Path

    return make_cli(Path(tempfile.mkdtemp()))


def test_signup_login_whoami_logout(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    email = signed_up(cli, local_platform.url, "acct")
    r = cli("whoami", "--json")
    assert r.returncode == 0, r.stderr
    me = json.loads(r.stdout)
    assert (me["email"], me["platform"], me["credential"]) == (email, local_platform.url, "file")
    r = cli("whoami")
    assert email in r.stdout and local_platform.url in r.stdout

    r = cli("logout")
    assert r.returncode == 0 and "Logged out" in r.stderr
    r = cli("logout")
    assert r.returncode == 0 and "Already logged out" in r.stderr
    r = cli("whoami")
    assert r.returncode == 3 and "Not logged in" in r.stderr

    # Log in again: the home remembers which platform it was on.
    r = cli("login", "--email", email, "--password-stdin", input="password1\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(cli("whoami", "--json").stdout)["email"] == email


def test_logout_revokes_the_token_on_the_platform(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    signed_up(cli, local_platform.url, "revoke")
    stored = json.loads((cli.home / "state" / "api-tokens.json").read_text())
    (api_token,) = stored.values()
    assert cli("logout").returncode == 0
    assert not (cli.home / "state" / "api-tokens.json").exists()
    # The old token is dead on the platform, not just forgotten here.
    r = cli("whoami", env={"KALAVAI_LIKE_API_TOKEN": api_token})
    assert r.returncode == 3


def test_login_prompts_for_missing_values(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    email = signed_up(cli, local_platform.url, "prompt")
    assert cli("logout").returncode == 0
    r = cli("login", "--platform", local_platform.url, input=f"{email}\npassword1\n")
    assert r.returncode == 0, r.stderr
    assert "password1" not in r.stdout + r.stderr  # the password prompt does not echo


def test_env_token_and_print_token_for_machines_without_keyring(tmp_path, local_platform):
    owner_cli = make_cli(tmp_path, "a")
    email = signed_up(owner_cli, local_platform.url, "env")
    bare = make_cli(tmp_path, "b", settings=f'[platform]\nurl = "{local_platform.url}"\n')
    r = bare("login", "--email", email, "--password-stdin", "--print-token", input="password1\n")
    assert r.returncode == 0, r.stderr
    api_token = r.stdout.strip()
    assert api_token.startswith("klu_")
    assert not (bare.home / "state" / "api-tokens.json").exists()
    r = bare("whoami", "--json", env={"KALAVAI_LIKE_API_TOKEN": api_token})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["credential"] == "KALAVAI_LIKE_API_TOKEN"


def test_pools_tokens_and_token_check(tmp_path, local_platform, owner):
    cli, _ = owner
    other = make_cli(tmp_path, "other")
    signed_up(other, local_platform.url, "other")
    pool_name = f"p{time.monotonic_ns() % 10**9}"

    r = cli(
        "pool",
        "create",
        pool_name,
        "--template",
        "dask",
        "--public",
        "--param",
        "threads:=2",
        "--param",
        "note=hi",
    )
    assert r.returncode == 0, r.stderr
    assert f"Created public pool '{pool_name}'" in r.stderr
    r = cli("pool", "create", pool_name)
    assert r.returncode == 6  # Conflict: the name is taken
    r = cli("pool", "create", "x", "--template", "slurm")
    assert r.returncode == 2 and "Unknown template" in r.stderr

    # The other user sees it among the community pools, not among theirs.
    listed = json.loads(other("pool", "list", "--json").stdout)
    assert pool_name in [p["name"] for p in listed["community"]]
    assert pool_name not in [p["name"] for p in listed["mine"]]
    mine = json.loads(cli("pool", "list", "--json").stdout)["mine"]
    assert [p["params"] for p in mine if p["name"] == pool_name] == [{"threads": 2, "note": "hi"}]
    r = cli("pool", "list")
    assert pool_name in r.stdout and "public" in r.stdout

    # A token for the only pool: on stdout alone, with the join command on stderr.
    r = cli("pool", "token", "--uses", "2", "--expires", "2h")
    assert r.returncode == 0, r.stderr
    join_token = r.stdout.strip()
    parsed = tokens.validate(join_token, now=time.time(), platform=local_platform.url)
    assert parsed.pool_name == pool_name
    assert f"kalavai-like pool join {join_token}" in r.stderr
    made = json.loads(cli("pool", "token", "--pool", pool_name, "--json").stdout)
    assert made["join_command"] == f"kalavai-like pool join {made['token']}"
    assert made["uses"] == 1

    listed = json.loads(cli("pool", "tokens", "--json").stdout)
    assert {t["id"] for t in listed} >= {made["id"]} and all("token" not in t for t in listed)
    r = cli("pool", "tokens")
    assert made["id"] in r.stdout and "active" in r.stdout

    # token check: argument, stdin and @file, offline and with the platform; always redacted.
    (tmp_path / "tok.txt").write_text("\n" + join_token + "\n")
    for args, stdin in (
        ([join_token], None),
        (["-"], join_token),
        ([f"@{tmp_path}/tok.txt"], None),
    ):
        r = other("token", "check", "--json", *args, input=stdin)
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)
        assert result["offline"]["pool_name"] == pool_name
        assert result["server"]["status"] == "valid"
        assert result["token"] == tokens.redact(join_token)
        assert join_token not in r.stdout + r.stderr
    r = other("token", "check", "-", input=join_token)
    assert "valid" in r.stdout and join_token not in r.stdout + r.stderr

    # Revoke: the platform then refuses the token, and a second revoke says so.
    token_id = next(t["id"] for t in listed if t["id"] != made["id"])
    r = cli("pool", "revoke-token", token_id)
    assert r.returncode == 0 and "Revoked" in r.stderr
    r = cli("pool", "revoke-token", token_id)
    assert r.returncode == 0 and "already revoked" in r.stderr
    r = cli("pool", "revoke-token", "nope")
    assert r.returncode == 5
    r = other("token", "check", "-", input=join_token)
    assert r.returncode == 2 and "revoked" in r.stderr
    assert join_token not in r.stdout + r.stderr
    assert other("pool", "tokens", "--pool", pool_name).returncode in (3, 5)  # not the owner

    # A second pool: now `pool token` must be told which.
    assert cli("pool", "create", pool_name + "b").returncode == 0
    r = cli("pool", "token")
    assert r.returncode == 2 and "--pool" in r.stderr


def test_token_check_offline_failures(tmp_path, local_platform, owner):
    cli, _ = owner
    expired, _ = tokens.mint(
        platform=local_platform.url, pool_id="p1", pool_name="old", expires_at=int(time.time()) - 60
    )
    r = cli("token", "check", "-", input=expired)
    assert r.returncode == 2 and "expired at" in r.stderr
    foreign, _ = tokens.mint(
        platform="https://other.example.org",
        pool_id="p1",
        pool_name="far",
        expires_at=int(time.time()) + 600,
    )
    r = cli("token", "check", "-", input=foreign)
    assert r.returncode == 2
    assert "kalavai-like login --platform https://other.example.org" in r.stderr
    assert foreign not in r.stderr
    good, _ = tokens.mint(
        platform=local_platform.url, pool_id="p1", pool_name="x", expires_at=int(time.time()) + 600
    )
    r = cli("token", "check", "-", input=good[:-3])
    assert r.returncode == 2 and "checksum" in r.stderr
    r = cli("token", "check", f"@{tmp_path}/missing")
    assert r.returncode == 2 and "Cannot read the token file" in r.stderr
    r = cli("token", "check", "-", input="")
    assert r.returncode == 2 and "empty" in r.stderr
    # Unknown to the platform (minted elsewhere with this platform's URL).
    r = cli("token", "check", "-", input=good)
    assert r.returncode == 2 and "does not know" in r.stderr


def test_token_check_when_logged_out_is_offline_only(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    good, _ = tokens.mint(
        platform=local_platform.url, pool_id="p1", pool_name="x", expires_at=int(time.time()) + 600
    )
    r = cli("token", "check", "--json", "-", input=good)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["server"] is None


def test_account_keys(owner):
    cli, _ = owner
    r = cli("account-key", "create", "homelab-1")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("kla_") and "only time" in r.stderr
    listed = json.loads(cli("account-key", "list", "--json").stdout)
    (entry,) = [k for k in listed if k["name"] == "homelab-1"]
    assert key not in json.dumps(listed)
    r = cli("account-key", "list")
    assert "homelab-1" in r.stdout
    r = cli("account-key", "revoke", entry["id"])
    assert r.returncode == 0 and "Revoked" in r.stderr
    r = cli("account-key", "revoke", entry["id"])
    assert r.returncode == 0 and "already revoked" in r.stderr
    created = json.loads(cli("account-key", "create", "k2", "--json").stdout)
    assert created["key"].startswith("kla_")


def test_sessions_list_and_revoke(owner, local_platform):
    from tests.support.platform_api import Api

    cli, email = owner
    browser = Api(local_platform.url).log_in(email, "password1", {"User-Agent": "Firefox/128"})
    listed = json.loads(cli("sessions", "--json").stdout)
    assert len(listed) == 2
    (mine,) = [s for s in listed if s["current"]]
    (other,) = [s for s in listed if not s["current"]]
    assert mine["user_agent"].startswith("kalavai-like/") and other["user_agent"] == "Firefox/128"
    r = cli("sessions")
    assert r.returncode == 0 and "Firefox/128" in r.stdout and "this one" in r.stdout
    r = cli("sessions", "revoke", other["id"])
    assert r.returncode == 0 and "logged out" in r.stderr
    assert browser.get("/api/v1/me").status_code == 401
    assert cli("sessions", "revoke", other["id"]).returncode == 0  # again: fine
    r = cli("sessions", "revoke", mine["id"])
    assert r.returncode == 2 and "kalavai-like logout" in r.stderr
    assert [s["id"] for s in json.loads(cli("sessions", "--json").stdout)] == [mine["id"]]
