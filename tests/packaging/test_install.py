"""packaging/install.sh then --uninstall: on this machine (the real /), and into a temporary
root; both leave nothing behind: the same files, the same group and user databases. The
group steps act on this machine in both cases; systemd is not PID 1 here, so the unit is
enabled offline (`systemctl enable` makes the wants link) and checked with systemd-analyze."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO, install_snapshot

INSTALL = REPO / "packaging" / "install.sh"
WATCHED = ["/opt", "/usr/local", "/etc/systemd/system", "/etc/xdg", "/etc/kalavai-like",
           "/var/lib/kalavai-like"]  # fmt: skip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs as root")


def snapshot() -> dict[str, str]:
    """Every path under the watched directories (with link targets) and the user databases."""
    return install_snapshot.snapshot(WATCHED)


def sh(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(INSTALL), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, check=False)  # fmt: skip


def fake_bundle(tmp: Path) -> Path:
    b = tmp / "bundle" / "kalavai-like"
    b.mkdir(parents=True)
    for exe in ("kalavai-like", "kalavai-like-tray"):
        (b / exe).write_text(f"#!/bin/sh\necho {exe} fake\n")
        (b / exe).chmod(0o755)
    return b


def groups_of(user: str) -> list[str]:
    return subprocess.run(["id", "-nG", user], capture_output=True, text=True).stdout.split()


def test_install_into_a_temporary_root_and_uninstall_leave_nothing(tmp_path: Path) -> None:
    before = snapshot()
    root = tmp_path / "root"
    root.mkdir()
    group = f"klpkg-g{os.getpid() % 10000}"
    name = f"klpkgu{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
    try:
        out = sh("--bundle", str(fake_bundle(tmp_path)), "--root", str(root), "--group", group,
                 env={"SUDO_USER": name})  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert os.readlink(root / "usr/local/bin/kalavai-like") == "/opt/kalavai-like/kalavai-like"
        wants = root / "etc/systemd/system/multi-user.target.wants/kalavai-like-agent.service"
        assert wants.is_symlink()
        assert (
            f'operator_group = "{group}"' in (root / "etc/kalavai-like/settings.toml").read_text()
        )
        assert group in groups_of(name)
        # an operator's edit survives uninstall; everything else goes
        settings = root / "etc/kalavai-like/settings.toml"
        settings.write_text(settings.read_text() + "# mine\n")
        out = sh("--uninstall", "--root", str(root))
        assert out.returncode == 0, out.stderr
        assert "kept" in out.stderr
        left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        assert left == ["etc", "etc/kalavai-like", "etc/kalavai-like/settings.toml"]
        with pytest.raises(KeyError):
            grp.getgrnam(group)
    finally:
        subprocess.run(["userdel", name], check=False)
        subprocess.run(["groupdel", group], check=False, capture_output=True)
    assert snapshot() == before


def test_a_failed_install_rolls_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/local/share/applications").mkdir(parents=True)
    # a file that is not ours where the desktop entry goes: the install stops and undoes itself
    (root / "usr/local/share/applications/kalavai-like-tray.desktop").write_text("theirs")
    group = f"klpkg-r{os.getpid() % 10000}"
    out = sh("--bundle", str(fake_bundle(tmp_path)), "--root", str(root), "--group", group)
    assert out.returncode != 0 and "exists already" in out.stderr
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert left == ["usr", "usr/local", "usr/local/share", "usr/local/share/applications",
                    "usr/local/share/applications/kalavai-like-tray.desktop"]  # fmt: skip
    with pytest.raises(KeyError):
        grp.getgrnam(group)


@pytest.mark.slow
def test_install_on_this_machine_then_uninstall_leaves_nothing(
    bundle: Path, user: str, tmp_path: Path
) -> None:
    if Path("/opt/kalavai-like").exists():
        pytest.fail("/opt/kalavai-like exists already: uninstall it first")
    existed = any(g.gr_name == "kalavai-like" for g in grp.getgrall())
    before = snapshot()
    try:
        out = sh("--bundle", str(bundle), env={"SUDO_USER": user})
        assert out.returncode == 0, out.stderr
        exe = shutil.which("kalavai-like", path="/usr/local/bin")
        assert exe == "/usr/local/bin/kalavai-like"
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, cwd="/")
        assert version.stdout.startswith("kalavai-like ")
        assert "kalavai-like" in groups_of(user)
        unit = "/etc/systemd/system/kalavai-like-agent.service"
        verify = subprocess.run(["systemd-analyze", "verify", "--man=no", unit],
                                capture_output=True, text=True)  # fmt: skip
        assert verify.returncode == 0, verify.stderr
        assert Path(
            "/etc/systemd/system/multi-user.target.wants/kalavai-like-agent.service"
        ).is_symlink()
        if shutil.which("desktop-file-validate"):
            for f in ("/usr/local/share/applications/kalavai-like-tray.desktop",
                      "/etc/xdg/autostart/kalavai-like-tray.desktop"):  # fmt: skip
                v = subprocess.run(["desktop-file-validate", f], capture_output=True, text=True)
                assert v.returncode == 0, v.stdout + v.stderr
    finally:
        out = sh("--uninstall")
    assert out.returncode == 0, out.stderr
    assert any(g.gr_name == "kalavai-like" for g in grp.getgrall()) == existed
    after = snapshot()
    assert {k: v for k, v in after.items() if k not in before} == {}
    assert {k: v for k, v in before.items() if k not in after} == {}
    assert after == before
