"""Failures a person meets: each gives a clear message, a non-zero exit code for its kind,
and no traceback unless --debug."""

from __future__ import annotations

import pytest

from tests.support.cli import make_cli, unique_email
from tests.support.http import closed_port_url


def no_traceback(r) -> None:
    assert "Traceback" not in r.stderr + r.stdout


def test_wrong_password(tmp_path, local_platform):
    cli = make_cli(tmp_path)
    email = unique_email("wrong")
    r = cli(
        "signup",
        "--platform",
        local_platform.url,
        "--email",
        email,
        "--password-stdin",
        input="password1\n",
    )
    assert r.returncode == 0, r.stderr
    assert cli("logout").returncode == 0
    r = cli("login", "--email", email, "--password-stdin", input="password2\n")
    assert r.returncode == 3
    assert "Wrong email or password" in r.stderr
    no_traceback(r)


def test_unreachable_platform(tmp_path):
    cli = make_cli(tmp_path)
    url = closed_port_url()
    r = cli(
        "login",
        "--platform",
        url,
        "--email",
        "a@example.org",
        "--password-stdin",
        input="password1\n",
    )
    assert r.returncode == 4
    assert f"Platform unreachable at {url}: connection refused" in r.stderr
    no_traceback(r)


def test_platform_answering_500(tmp_path, tiny_server):
    server = tiny_server("500")
    cli = make_cli(tmp_path, settings=f'keystore = "file"\n[platform]\nurl = "{server.url}"\n')
    r = cli("whoami", env={"KALAVAI_LIKE_API_TOKEN": "klu_test"})
    assert r.returncode == 4
    assert f"Platform error at {server.url}" in r.stderr and "HTTP 500" in r.stderr
    no_traceback(r)


def test_slow_platform_times_out(tmp_path, tiny_server):
    server = tiny_server("slow")
    cli = make_cli(
        tmp_path,
        settings=f'keystore = "file"\n[platform]\nurl = "{server.url}"\nread_timeout = 0.5\n',
    )
    r = cli("pool", "list", env={"KALAVAI_LIKE_API_TOKEN": "klu_test"})
    assert r.returncode == 4
    assert f"Platform at {server.url} timed out" in r.stderr
    assert "0.5 s" in r.stderr
    no_traceback(r)


def test_debug_shows_the_traceback(tmp_path):
    cli = make_cli(tmp_path)
    r = cli("--debug", "whoami")
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "AuthError" in r.stderr


def test_no_keyring_is_said_plainly_before_anything_is_sent(tmp_path):
    cli = make_cli(tmp_path, settings='keystore = "keyring"\n')  # insists; the test env has none
    r = cli(
        "login",
        "--platform",
        closed_port_url(),
        "--email",
        "a@example.org",
        "--password-stdin",
        input="password1\n",
    )
    assert r.returncode == 7
    assert "No keyring on this machine" in r.stderr
    assert "KALAVAI_LIKE_API_TOKEN" in r.stderr and "remove that line" in r.stderr
    assert not (cli.home / "state" / "api-tokens.json").exists()
    no_traceback(r)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ('[network]\nbackend = "magic"\n', "network.backend"),
        ("keystore = \n", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_problem(tmp_path, settings, words):
    cli = make_cli(tmp_path, settings=settings)
    r = cli("whoami")
    assert r.returncode == 2
    assert words in r.stderr
    no_traceback(r)


def test_bad_input_is_exit_code_2(tmp_path):
    cli = make_cli(tmp_path)
    (tmp_path / "afile").write_text("x")
    r = cli("--home", str(tmp_path / "afile"), "whoami")
    assert r.returncode == 2 and "not a directory" in r.stderr
    r = cli("pool", "token", "--expires", "soon", env={"KALAVAI_LIKE_API_TOKEN": "klu_x"})
    assert r.returncode == 2 and "Invalid duration" in r.stderr
    r = cli("pool", "create", "p", "--param", "novalue", env={"KALAVAI_LIKE_API_TOKEN": "klu_x"})
    assert r.returncode == 2 and "KEY=VALUE" in r.stderr


def test_logout_while_the_platform_is_down_still_forgets_the_token(tmp_path):
    from kalavai_like.platform.local import start_local_platform

    cli = make_cli(tmp_path)
    with start_local_platform(tmp_path / "platform") as platform:
        r = cli("signup", "--platform", platform.url, "--email", unique_email("down"),
                "--password-stdin", input="password1\n")  # fmt: skip
        assert r.returncode == 0, r.stderr
    r = cli("logout")
    assert r.returncode == 4
    assert "not revoked on the platform" in r.stderr and "Platform unreachable" in r.stderr
    assert not (cli.home / "state" / "api-tokens.json").exists()
    no_traceback(r)
    r = cli("logout")
    assert r.returncode == 0 and "Already logged out" in r.stderr
