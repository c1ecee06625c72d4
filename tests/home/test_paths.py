"""Paths: one override puts everything under a home; several homes coexist."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalavai_like.errors import InvalidInput
from kalavai_like.home import paths


def test_home_puts_every_directory_under_it(tmp_path):
    p = paths.resolve(tmp_path / "a")
    assert {p.config, p.state, p.data, p.logs, p.run} == {
        tmp_path / "a" / d for d in ("config", "state", "data", "logs", "run")
    }
    assert p.settings_file == tmp_path / "a" / "config" / "settings.toml"
    p.ensure()
    assert (p.state.stat().st_mode & 0o777) == 0o700
    assert (p.run.stat().st_mode & 0o777) == 0o700
    assert (p.logs.stat().st_mode & 0o777) == 0o700  # the agent's log names pools and peers


def test_env_var_is_the_same_override(tmp_path):
    assert paths.resolve(env={"KALAVAI_LIKE_HOME": str(tmp_path)}) == paths.under(tmp_path)
    assert paths.resolve(tmp_path / "x", env={"KALAVAI_LIKE_HOME": str(tmp_path)}).home == (
        tmp_path / "x"
    )


def test_two_homes_share_nothing(tmp_path):
    a, b = paths.under(tmp_path / "a"), paths.under(tmp_path / "b")
    assert not {a.config, a.state, a.data, a.logs, a.run} & {
        b.config,
        b.state,
        b.data,
        b.logs,
        b.run,
    }


def test_default_is_the_os_places():
    p = paths.resolve(env={})
    assert p.home is None
    assert "kalavai-like" in str(p.config) and "kalavai-like" in str(p.state)
    assert p.config != p.state


def test_a_file_is_not_a_home(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InvalidInput):
        paths.under(f)
    with pytest.raises(InvalidInput):
        paths.under("")
    assert isinstance(paths.under("~/x").config, Path)
