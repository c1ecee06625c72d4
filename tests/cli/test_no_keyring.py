"""A volunteer on a machine without an OS keyring logs in with no file to edit: the token goes
to a file only they can read, and the CLI says so."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import make_cli, unique_email


def test_sign_up_without_a_keyring_just_works_and_says_where_the_token_is(
    tmp_path: Path, local_platform
) -> None:
    cli = make_cli(tmp_path, settings="")  # no keystore line; the environment has no keyring
    r = cli("signup", "--platform", local_platform.url, "--email", unique_email("nokr"),
            "--password-stdin", input="password1\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "This machine has no OS keyring: your API token is kept in" in said
    token_file = next((cli.home / "state").glob("*token*"))
    assert token_file.stat().st_mode & 0o777 == 0o600
    who = cli("whoami", "--json")
    assert who.returncode == 0 and "no OS keyring here" in who.stdout
