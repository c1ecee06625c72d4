"""A pool owner's tools, run as the real `kalavai-like` binary against the real platform:
labelled join tokens revoked by label or id, removing a worker, banning and unbanning its user,
the webhook setting, and `pool workers` naming a worker that went offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import Cli, make_cli, signed_up
from tests.support.platform_api import Api, User, wg_key

PASSWORD = "password1"


def _owner(tmp_path: Path, api: Api) -> tuple[Cli, User, dict[str, Any]]:
    cli = make_cli(tmp_path, "owner")
    user = api.log_in(signed_up(cli, api.url, "owner"), PASSWORD)
    return cli, user, api.pool(user, public=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def test_tokens_have_labels_and_are_revoked_by_label_or_id(
    tmp_path: Path, local_platform: Any
) -> None:
    api = Api(local_platform.url)
    cli, _owner_user, pool = _owner(tmp_path, api)
    name = pool["name"]
    r = cli("pool", "token", name, "--label", "for Ana", "--json")
    assert r.returncode == 0, r.stderr
    ana = json.loads(r.stdout)
    assert ana["label"] == "for Ana"
    r = cli("pool", "token", name, "--label", "for Bo")
    assert r.returncode == 0 and "(for Bo)" in _one_line(r.stderr)
    bo_ids = [t["id"] for t in json.loads(cli("pool", "tokens", name, "--json").stdout)
              if t["label"] == "for Bo"]  # fmt: skip
    assert "for Ana" in cli("pool", "tokens", name).stdout

    r = cli("pool", "revoke-token", "for Ana")
    assert r.returncode == 0 and f"Revoked join token {ana['id']} (for Ana)" in _one_line(r.stderr)
    assert cli("pool", "revoke-token", "for Ana").returncode == 0  # safe to repeat
    # two live tokens with one label: say so, and list their ids
    assert cli("pool", "token", name, "--label", "for Bo").returncode == 0
    r = cli("pool", "revoke-token", "for Bo")
    assert r.returncode == 2 and "Several join tokens have that label" in r.stderr
    assert bo_ids[0] in _one_line(r.stderr)
    assert cli("pool", "revoke-token", bo_ids[0]).returncode == 0
    assert cli("pool", "revoke-token", "for Bo").returncode == 0  # one left: no doubt now
    listed = json.loads(cli("pool", "tokens", name, "--json").stdout)
    assert all(t["revoked"] for t in listed)
    assert cli("pool", "revoke-token", "for Cy").returncode == 5


def test_owner_removes_a_worker_bans_and_unbans_its_user(
    tmp_path: Path, local_platform: Any
) -> None:
    api = Api(local_platform.url)
    cli, owner, pool = _owner(tmp_path, api)
    volunteer = api.user()
    red = api.join(volunteer, owner, pool, name="ana-laptop")
    credential = red["credential"]

    r = cli("pool", "remove-worker", "ana-laptop")
    assert r.returncode == 0 and f"Removed worker ana-laptop ({red['device']['id']})" in r.stderr
    beat = {"seq": 1, "state": "running"}
    reply = api.as_(credential).post("/api/v1/device/heartbeat", json=beat).json()
    assert reply["desired_state"] == "removed"
    assert cli("pool", "remove-worker", pool["name"], "ana-laptop").returncode == 5  # gone
    assert cli("pool", "remove-worker").returncode == 64

    api.join(volunteer, owner, pool, name="ana-laptop", public_key=wg_key())
    r = cli("pool", "ban", pool["name"], "ana-laptop")
    assert r.returncode == 0 and "1 of their workers removed" in r.stderr
    r = cli("pool", "bans", pool["name"], "--json")
    assert [b["user_id"] for b in json.loads(r.stdout)] == [volunteer.id]
    refused = api.redeem(volunteer, api.token(owner, pool)["token"])
    assert refused.status_code == 403 and refused.json()["error"]["reason"] == "banned"

    assert cli("pool", "unban", pool["name"], volunteer.id).returncode == 0
    assert "Nobody is banned" in cli("pool", "bans", pool["name"]).stderr
    assert api.redeem(volunteer, api.token(owner, pool)["token"]).status_code == 201


def test_webhook_setting_and_offline_workers_in_pool_workers(
    tmp_path: Path, local_platform: Any
) -> None:
    from sqlalchemy import create_engine, text

    api = Api(local_platform.url)
    cli, owner, pool = _owner(tmp_path, api)
    name = pool["name"]
    assert "has no webhook" in cli("pool", "webhook", name).stderr
    r = cli("pool", "webhook", name, "--set", "https://hooks.example.org/pool", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"url": "https://hooks.example.org/pool"}
    assert cli("pool", "webhook", name, "--set", "nope").returncode == 2
    assert "has no webhook" in cli("pool", "webhook", name, "--clear").stderr

    red = api.join(api.user(), owner, pool, name="quiet-box")
    db = local_platform.database_url or f"sqlite:///{local_platform.data_dir / 'platform.sqlite3'}"
    engine = create_engine(db)
    with engine.begin() as conn:  # joined two hours ago, never heard from
        conn.execute(
            text("UPDATE devices SET created_at = created_at - 7200 WHERE id = :id"),
            {"id": red["device"]["id"]},
        )
    engine.dispose()
    r = cli("pool", "workers", name)
    assert r.returncode == 0, r.stderr
    assert "quiet-box: offline: never sent a heartbeat" in _one_line(r.stderr)
    (listed,) = json.loads(cli("pool", "workers", name, "--json").stdout)
    assert [n["kind"] for n in listed["notices"]] == ["worker_offline"]
