"""Runtime configuration and detection of a missing or broken engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalavai_like.container import RuntimeConfig
from kalavai_like.container.config import cgroup_version, shipped_containers_conf
from kalavai_like.errors import SystemProblem

ROOT = Path(__file__).resolve().parents[2]


def test_command_puts_global_flags_before_the_verb() -> None:
    cfg = RuntimeConfig(extra_global_args=["--runtime", "runc"])
    assert cfg.command("ps", "-a") == ["podman", "--runtime", "runc", "ps", "-a"]
    assert RuntimeConfig().environ() is None
    env = RuntimeConfig(containers_conf="/x.conf").environ()
    assert env is not None and env["CONTAINERS_CONF"] == "/x.conf"


def test_the_shipped_containers_conf_matches_the_packaged_one() -> None:
    shipped = Path(shipped_containers_conf()).read_text()
    assert shipped == (ROOT / "packaging/podman/containers.conf").read_text()
    assert "default_ulimits = []" in shipped


def test_missing_engine_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemProblem) as err:
        RuntimeConfig.detect("podman")
    assert err.value.title == "podman is not installed"
    assert "apt-get install podman" in err.value.message


def test_broken_engine_is_reported_with_its_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemProblem) as err:
        RuntimeConfig.detect("docker")
    assert err.value.title == "docker does not work"
    assert "Cannot connect to the Docker daemon" in err.value.message


def test_cgroup_version_reads_the_root(tmp_path: Path) -> None:
    assert cgroup_version(tmp_path) == 1
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    assert cgroup_version(tmp_path) == 2


@pytest.mark.podman
def test_detect_on_this_host_works_and_needs_runc_cgroupfs(podman_config: RuntimeConfig) -> None:
    if cgroup_version() == 1:
        assert podman_config.extra_global_args == [
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
        ]
