"""`kalavai-like account ...` and `account-key` names, run as the real binary against the
real platform: display names, password change, account deletion, keys revoked by name."""

from __future__ import annotations

import json

from tests.support.cli import Cli, make_cli, unique_email
from tests.support.platform_api import Api


def _signed_up(cli: Cli, url: str, *extra: str) -> str:
    email = unique_email("acct")
    r = cli("signup", "--platform", url, "--email", email, "--password-stdin", *extra,
            input="password1\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    return email


def test_display_name_at_sign_up_changed_and_shown_to_pool_owners(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    email = _signed_up(cli, local_platform.url, "--name", "Rack Rita")
    assert json.loads(cli("whoami", "--json").stdout)["display_name"] == "Rack Rita"
    r = cli("account", "name", "bad@name")
    assert r.returncode == 2 and "may not contain '@'" in r.stderr
    r = cli("account", "name", "Rita R.")
    assert r.returncode == 0 and "Rita R." in r.stderr
    # A pool owner's `pool workers` shows the volunteer's name, never the email.
    api = Api(local_platform.url)
    owner = api.user()
    pool = api.pool(owner)
    volunteer = api.log_in(email, "password1")
    api.join(api.as_(volunteer.credential), owner, pool)
    owner_cli = make_cli(tmp_path, "owner")
    owner_cli("login", "--platform", local_platform.url, "--email", owner.email,
              "--password-stdin", input=f"{owner.password}\n")  # fmt: skip
    r = owner_cli("pool", "workers", pool["name"])
    assert r.returncode == 0, r.stderr
    assert "Rita R." in r.stdout and email not in r.stdout
    r = owner_cli("pool", "workers", pool["name"], "--json")
    assert email not in r.stdout and "Rita R." in r.stdout
    r = cli("pool", "list", "--json")
    assert owner.email not in r.stdout


def test_password_change_ends_other_sessions_and_keeps_this_one(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    email = _signed_up(cli, local_platform.url)
    browser = Api(local_platform.url).log_in(email, "password1")
    r = cli("account", "password", "--password-stdin", input="wrong one\nnew password\n")
    assert r.returncode == 3 and "Wrong password" in r.stderr
    r = cli("account", "password", "--password-stdin", input="password1\nnew password\n")
    assert r.returncode == 0, r.stderr
    assert browser.get("/api/v1/me").status_code == 401
    assert cli("whoami").returncode == 0
    Api(local_platform.url).log_in(email, "new password")


def test_delete_account_asks_for_yes_then_logs_out(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    email = _signed_up(cli, local_platform.url)
    r = cli("account", "delete", "--password-stdin", input="password1\n")
    assert r.returncode == 64 and "--yes" in r.stderr
    r = cli("account", "delete", "--password-stdin", "--yes", input="password1\n")
    assert r.returncode == 0, r.stderr
    r = cli("whoami")
    assert r.returncode == 3 and "Not logged in" in r.stderr
    r = cli("login", "--email", email, "--password-stdin", input="password1\n")
    assert r.returncode == 3


def test_account_key_names_are_unique_and_revoke_takes_the_name(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    _signed_up(cli, local_platform.url)
    assert cli("account-key", "create", "homelab").returncode == 0
    r = cli("account-key", "create", "homelab")
    assert r.returncode == 6 and "already have an account key named 'homelab'" in r.stderr
    r = cli("account-key", "revoke", "homelab")
    assert r.returncode == 0 and "Revoked" in r.stderr
    r = cli("account-key", "revoke", "homelab")
    assert r.returncode == 0 and "already revoked" in r.stderr
    r = cli("account-key", "revoke", "nothing-like-it")
    assert r.returncode == 5
    keys = json.loads(cli("account-key", "list", "--json").stdout)
    assert [(k["name"], k["revoked"]) for k in keys] == [("homelab", True)]


def test_operator_makes_a_reset_link_when_the_platform_sends_no_email(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    email = _signed_up(cli, local_platform.url)
    server = make_cli(tmp_path, "server")
    where = ("--public-url", local_platform.url, "--data-dir", str(local_platform.data_dir))
    r = server("platform", "reset-link", "nobody@example.org", *where)
    assert r.returncode == 5 and "No account for nobody@example.org" in r.stderr
    r = server("platform", "reset-link", email.upper(), *where)
    assert r.returncode == 0, r.stderr
    link = r.stdout.strip()
    assert link.startswith(f"{local_platform.url}/reset?token=")
    token = link.split("token=", 1)[1]
    api = Api(local_platform.url)
    body = {"token": token, "new_password": "from the operator"}
    assert api.anon().post("/api/v1/password-resets/confirm", json=body).status_code == 204
    api.log_in(email, "from the operator")
    r = cli("account", "reset-password", "--email", email)
    assert r.returncode == 6 and "sends no email" in r.stderr
