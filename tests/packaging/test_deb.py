"""The Debian package (packaging/deb/build): what it holds and depends on, lintian (clean, each
override with its reason), and on this machine `apt-get install ./kalavai-like_*.deb`, its agent
started as its unit starts it (systemd is not PID 1 here: tests/support/systemd_unit.py plays
it) and read by an ordinary user's `pool status --json`, then `apt-get purge`, which leaves
nothing behind: the same files, units' state, and user and group databases as before."""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalavai_like import __version__
from tests.support import REPO, install_snapshot
from tests.support.systemd_unit import ServiceUnit, UnitRun
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # the first build of the package takes minutes (xz)
    pytest.mark.skipif(os.geteuid() != 0, reason="installs as root"),
]
BUILD = REPO / "packaging" / "deb" / "build"
OVERRIDES = REPO / "packaging" / "deb" / "lintian-overrides"
PACKAGE = "kalavai-like"
GROUP = "kalavai-like"
AGENT_UNIT = "/lib/systemd/system/kalavai-like-agent.service"
WANTS = "/etc/systemd/system/multi-user.target.wants"
# Our own directories, whole; the shared ones only where a path names us.
OURS = ["/opt/kalavai-like", "/etc/kalavai-like", "/var/lib/kalavai-like",
        "/usr/share/doc/kalavai-like"]  # fmt: skip
# What the agent makes in its RuntimeDirectory (/run/kalavai-like), which the unit keeps across
# stops and a reboot clears. Other tests on this machine may keep files there: only these go.
RUNTIME_FILES = ["agent.sock", "agent.lock", "agent-stopped.json"]
SHARED = ["/usr/bin", "/usr/share/applications", "/usr/share/icons/hicolor/scalable/apps",
          "/usr/share/man/man1", "/usr/share/lintian/overrides", "/lib/systemd/system",
          "/etc/systemd/system", "/etc/xdg/autostart", "/var/lib/systemd", "/var/lib/dpkg/info",
          "/var/lib/private"]  # fmt: skip
APT = ["apt-get", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600"]


def snapshot() -> dict[str, str]:
    return {
        **install_snapshot.snapshot(OURS),
        **install_snapshot.snapshot(SHARED, only="kalavai-like"),
    }


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`argv` with this environment less ours (no venv, no KALAVAI_LIKE_*), plus `env`."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "VIRTUAL_ENV", "KALAVAI_LIKE_"))}  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd="/",
                          env={**base, "DEBIAN_FRONTEND": "noninteractive", **(env or {})},
                          check=False)  # fmt: skip


@pytest.fixture(scope="module")
def deb(bundle: Path) -> Path:
    """The package, built once per source state (cached like the bundle)."""
    proc = subprocess.run([str(BUILD), "--bundle", str(bundle)], capture_output=True, text=True,
                          timeout=1800, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.name == f"{PACKAGE}_{__version__}_amd64.deb"
    return path


def field(deb: Path, name: str) -> str:
    return run("dpkg-deb", "--field", str(deb), name).stdout.strip()


def layout() -> list[list[str]]:
    """packaging/layout.sh's lines for the package (prefix /usr)."""
    script = f'. "{REPO}/packaging/layout.sh"; kl_layout /usr /lib/systemd/system'
    return [line.split() for line in run("bash", "-c", script).stdout.splitlines()]


def test_the_package_holds_the_layout_and_depends_on_what_the_agent_runs(deb: Path) -> None:
    listing = run("dpkg-deb", "--contents", str(deb)).stdout
    paths = {line.split()[5].removeprefix("."): line for line in listing.splitlines()}
    for kind, a, b, *_ in layout():
        dest = a if kind == "link" else b
        found = paths.get(dest) or paths.get(dest + ".gz")  # manual pages are compressed
        assert found, f"{dest} is not in the package"
        if kind == "link":
            assert found.endswith(f"{dest} -> {b}"), found
    for path in ("/opt/kalavai-like/kalavai-like", "/opt/kalavai-like/kalavai-like-tray",
                 "/usr/share/doc/kalavai-like/copyright",
                 "/usr/share/doc/kalavai-like/changelog.gz"):  # fmt: skip
        assert path in paths
    depends = field(deb, "Depends")
    # The programs the agent runs (kalavai_like/net, kalavai_like/container), and libc.
    for needed in ("wireguard-tools", "wireguard-go | wireguard-modules", "nftables", "podman",
                   "runc", "util-linux", "adduser", "libc6"):  # fmt: skip
        assert re.search(rf"(^|, ){re.escape(needed)}( \(|,|$)", depends), (needed, depends)
    # What only the tray needs is recommended, so a headless server may go without it.
    assert "libxcb1" in field(deb, "Recommends") and "libxcb1" not in depends
    conffiles = run("dpkg-deb", "--info", str(deb), "conffiles").stdout.split()
    assert sorted(conffiles) == ["/etc/kalavai-like/settings.toml",
                                 "/etc/xdg/autostart/kalavai-like-tray.desktop"]  # fmt: skip


def test_lintian_is_clean_and_each_override_says_why(deb: Path) -> None:
    if shutil.which("lintian") is None:
        pytest.fail("lintian is missing: run scripts/setup (it installs it)")
    out = run("lintian", "--pedantic", "--display-info", "--display-experimental",
              "--tag-display-limit", "0", str(deb))  # fmt: skip
    tags = [line for line in out.stdout.splitlines() if re.match(r"[EWIPX]: ", line)]
    assert tags == [], "\n".join(tags[:50])
    assert out.returncode == 0, out.stderr[-2000:]
    # Every override follows a comment that explains it (a blank line ends a comment's reach).
    reason = False
    for line in OVERRIDES.read_text().splitlines():
        if line.startswith("#"):
            reason = True
        elif not line.strip():
            reason = False
        else:
            assert reason, f"lintian-overrides: no reason given for '{line}'"


@pytest.fixture
def clean_machine() -> Iterator[dict[str, str]]:
    """This machine before the install (its snapshot); after the test, the package purged."""
    status = run("dpkg-query", "-W", "-f=${Status}", PACKAGE).stdout
    if status.strip() not in ("", "unknown ok not-installed") or Path("/opt/kalavai-like").exists():
        pytest.fail("kalavai-like is installed on this machine already: purge or uninstall it")
    # The purge removes these, and the agent would listen there: they must not be in use.
    for path in ("/var/lib/kalavai-like", "/etc/kalavai-like", "/run/kalavai-like/agent.sock"):
        if os.path.lexists(path):
            pytest.fail(f"{path} exists: something on this machine uses it (not this test)")
    before = snapshot()
    try:
        yield before
    finally:
        run(*APT, "purge", PACKAGE)


def start_agent(tmp: Path) -> tuple[UnitRun, subprocess.Popen[bytes]]:
    """The installed agent, run as its unit runs it. Its agent.env (an optional
    EnvironmentFile of the unit) gives it a name prefix no other test uses."""
    env_file = tmp / "agent.env"
    env_file.write_text("KALAVAI_LIKE_AGENT_ARGS=--prefix kpd\n")
    unit = UnitRun(
        ServiceUnit.read(Path(AGENT_UNIT)), credentials=tmp / "credentials",
        specifiers={"S": "/var/lib", "t": "/run", "E": "/etc"},
        files={"/etc/kalavai-like/agent.env": env_file}, base_env={"LANG": "C.UTF-8"},
    )  # fmt: skip
    log = open(tmp / "agent.out", "wb")
    proc = unit.start(stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    return unit, proc


def test_apt_installs_runs_and_purges_leaving_nothing(
    deb: Path, user: str, clean_machine: dict[str, str], tmp_path: Path
) -> None:
    group_existed = any(g.gr_name == GROUP for g in grp.getgrall())
    out = run(*APT, "install", str(deb))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert run("dpkg-query", "-W", "-f=${Status}", PACKAGE).stdout == "install ok installed"
    version = run("/usr/bin/kalavai-like", "--version")
    assert version.stdout.strip() == f"kalavai-like {__version__}", version.stderr
    assert any(g.gr_name == GROUP for g in grp.getgrall())
    # The agent's unit is enabled the Debian way (deb-systemd-helper); the platform's is not.
    assert os.readlink(f"{WANTS}/kalavai-like-agent.service") == AGENT_UNIT
    assert not os.path.lexists(f"{WANTS}/kalavai-like-platform.service")
    verify = run("systemd-analyze", "verify", "--man=no", AGENT_UNIT)
    assert verify.returncode == 0, verify.stderr
    if shutil.which("desktop-file-validate"):
        for entry in ("/usr/share/applications/kalavai-like-tray.desktop",
                      "/etc/xdg/autostart/kalavai-like-tray.desktop"):  # fmt: skip
            v = run("desktop-file-validate", entry)
            assert v.returncode == 0, v.stdout + v.stderr

    unit, agent = start_agent(tmp_path)
    try:
        # An ordinary user, no agent of their own: their CLI finds the system agent.
        def status() -> dict | None:
            assert agent.poll() is None, (tmp_path / "agent.out").read_text()
            away = {"HOME": "/nonexistent", "XDG_RUNTIME_DIR": "/nonexistent"}
            r = run("runuser", "-u", user, "--", "/usr/bin/kalavai-like", "pool", "status",
                    "--json", env=away)  # fmt: skip
            return json.loads(r.stdout) if r.returncode == 0 else None

        st = wait_for(status, 60, "the installed agent's status")
        assert st["state"] == "idle" and st["worker"] is None
        assert st["agent_pid"] == agent.pid
        unit.stop(agent, made=RUNTIME_FILES)
        assert agent.returncode == 0, (tmp_path / "agent.out").read_text()
        # The word a stopped agent leaves outlives the stop.
        assert json.loads(Path("/run/kalavai-like/agent-stopped.json").read_text())["stopped_at"]
    finally:
        unit.stop(agent, made=RUNTIME_FILES)
        unit.remove_runtime(RUNTIME_FILES)  # what a reboot would do

    # Installed again over itself (postinst configure with the old version: an upgrade).
    out = run(*APT, "install", "--reinstall", str(deb))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert os.readlink(f"{WANTS}/kalavai-like-agent.service") == AGENT_UNIT

    out = run(*APT, "purge", PACKAGE)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert any(g.gr_name == GROUP for g in grp.getgrall()) == group_existed
    assert install_snapshot.differences(clean_machine, snapshot()) == {
        "appeared": [], "went": [], "changed": [],
    }  # fmt: skip


def test_purge_keeps_an_operator_group_it_did_not_make(
    deb: Path, clean_machine: dict[str, str]
) -> None:
    if any(g.gr_name == GROUP for g in grp.getgrall()):
        pytest.skip(f"the group {GROUP} exists on this machine already")
    subprocess.run(["groupadd", "--system", GROUP], check=True)
    try:
        assert run(*APT, "install", str(deb)).returncode == 0
        out = run(*APT, "purge", PACKAGE)
        assert out.returncode == 0, out.stdout[-3000:]
        assert any(g.gr_name == GROUP for g in grp.getgrall())  # the administrator's, kept
    finally:
        subprocess.run(["groupdel", GROUP], check=False)
    assert install_snapshot.differences(clean_machine, snapshot())["appeared"] == []
