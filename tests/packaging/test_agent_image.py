"""The agent's OCI image, built locally (packaging/agent-image/build) from the tested bundle:
it carries the overlay and container tools, and a real agent runs in it and answers its
LocalAPI (started as the StatefulSet starts it, minus the join)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kalavai_like.container.config import RuntimeConfig
from tests.support import REPO
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.podman, pytest.mark.e2e]
NAME = "kpi-agent"  # the test's container, removed by name


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    rc = RuntimeConfig.detect("podman", probe=False)  # this machine's podman flags
    return subprocess.run(rc.command(*args), capture_output=True, text=True, timeout=timeout,
                          env=rc.environ(), check=False)  # fmt: skip


@pytest.fixture(scope="module")
def image(bundle: Path) -> str:
    proc = subprocess.run(
        [str(REPO / "packaging" / "agent-image" / "build"), "--bundle", str(bundle)],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_image_has_the_tools_and_runs_the_agent(image: str) -> None:
    out = podman("run", "--rm", "--entrypoint", "/bin/sh", image, "-c",
                 "wg --version && wireguard-go --version && podman --version && ip -V "
                 "&& nft --version && test ! -e /opt/kalavai-like/kalavai-like-tray")  # fmt: skip
    assert out.returncode == 0, out.stderr
    podman("rm", "-f", "-t", "0", NAME)
    try:
        run = podman("run", "-d", "--name", NAME, "--privileged", "--network", "none",
                     image, "agent", "--prefix", "kpi")  # fmt: skip
        assert run.returncode == 0, run.stderr

        def status() -> dict | None:
            st = podman("exec", NAME, "kalavai-like", "pool", "status", "--json")
            if st.returncode != 0:
                assert "running" in podman("inspect", "-f", "{{.State.Status}}", NAME).stdout, (
                    podman("logs", NAME).stdout + podman("logs", NAME).stderr
                )
                return None
            return json.loads(st.stdout)

        st = wait_for(status, 60, "the agent in the image")
        assert st["state"] == "idle"
        home = podman("exec", NAME, "sh", "-c", "echo $KALAVAI_LIKE_HOME; ls /var/lib/kalavai-like")
        assert home.stdout.split()[0] == "/var/lib/kalavai-like" and "state" in home.stdout
    finally:
        podman("rm", "-f", "-t", "5", NAME)
    assert NAME not in podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
