"""Settings: defaults, round trips that keep unknown keys, and errors that name the key."""

from __future__ import annotations

import pytest

from kalavai_like.errors import InvalidInput
from kalavai_like.home import settings
from kalavai_like.home.settings import Settings


def test_missing_file_gives_defaults(tmp_path):
    s = settings.load(tmp_path / "settings.toml")
    assert s == Settings()
    assert s.keystore == "auto"
    assert s.platform.url == "http://127.0.0.1:8700"
    assert (s.network.backend, s.network.prefix, s.runtime.engine) == ("auto", "kl", "podman")


def test_hand_written_file_round_trips_with_unknown_keys_kept(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(
        'keystore = "file"\n'
        "future_top = 3\n"
        "[platform]\n"
        'url = "HTTPS://Platform.Example.org:443/"\n'
        "read_timeout = 12\n"
        'region = "eu"\n'
        "[network]\n"
        'backend = "userspace"\n'
        'prefix = "sim3"\n'
        "[runtime]\n"
        'extra_run_args = ["--log-level=debug"]\n'
        "[prefs]\n"
        'cpu = "50%"\n'
        "[telemetry]\n"
        "enabled = false\n"
    )
    s = settings.load(path)
    assert s.keystore == "file"
    assert s.platform.url == "https://platform.example.org"
    assert s.platform.read_timeout == 12
    assert s.network.prefix == "sim3"
    assert s.runtime.extra_run_args == ["--log-level=debug"]
    assert s.prefs == {"cpu": "50%"}
    settings.save(path, s)
    again = settings.load(path)
    assert again == s
    text = path.read_text()
    assert 'region = "eu"' in text and "future_top = 3" in text and "[telemetry]" in text


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ('keystore = "plaintext"', "keystore", "plaintext"),
        ('[platform]\nurl = "ftp://x"', "platform.url", "ftp://x"),
        ("[platform]\nread_timeout = -1", "platform.read_timeout", "-1"),
        ("[platform]\nretries = 99", "platform.retries", "99"),
        ('[network]\nbackend = "magic"', "network.backend", "magic"),
        ('[network]\nprefix = "Way-Too-Long"', "network.prefix", "Way-Too-Long"),
        ('[runtime]\nengine = "lxc"', "runtime.engine", "lxc"),
        ("[runtime]\nextra_run_args = [1]", "runtime.extra_run_args", "[1]"),
        ("platform = 3", "platform", "3"),
    ],
)
def test_bad_values_name_the_key_and_value(tmp_path, text, key, value):
    path = tmp_path / "settings.toml"
    path.write_text(text + "\n")
    with pytest.raises(InvalidInput) as caught:
        settings.load(path)
    assert key in caught.value.title
    assert value in caught.value.message
    assert str(path) in caught.value.message


def test_invalid_toml_says_where(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("keystore = \n")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        settings.load(path)


def test_a_top_level_key_appended_inside_a_table_is_refused_not_ignored(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('[prefs]\ncpu = "50%"\nkeystore = "file"\n')  # appended at the end
    with pytest.raises(InvalidInput) as caught:
        settings.load(path)
    assert caught.value.title == "keystore is inside [prefs]"
    assert "belongs at the top of settings.toml" in caught.value.message
