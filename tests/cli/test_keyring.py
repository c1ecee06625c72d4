"""The real OS keyring: gnome-keyring's Secret Service in a D-Bus session, as on a desktop.

Runs the real CLI under `dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock
--components=secrets; ...'`, logs in, checks that whoami works from the keyring, logs out, and
checks that no API token ever landed on disk in plaintext.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import unique_email
from tests.support.secret_service import isolated_env, require

pytestmark = pytest.mark.keyring

SCRIPT = r"""
set -e
echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
kl() { "$PY" -m kalavai_like --home "$KL_HOME" "$@"; }
printf '%s\n' "$KL_PASSWORD" | kl signup --platform "$KL_URL" --email "$KL_EMAIL" --password-stdin
kl whoami --json > "$OUT/whoami.json"
"$PY" -c "$PEEK" > "$OUT/keyring.txt"
kl logout
"$PY" -c "$PEEK" > "$OUT/after.txt"
kl whoami || echo "whoami exit $?" > "$OUT/whoami-after.txt"
"""
# What the keyring holds for the account (in the same D-Bus session), without printing it.
PEEK = """
import os, keyring
t = keyring.get_password("kalavai-like", os.environ["KL_URL"] + " " + os.environ["KL_EMAIL"])
print(type(keyring.get_keyring()).__module__, "stored" if t and t.startswith("klu_") else t)
"""


def _ours(tmp: Path) -> list[int]:
    """PIDs of processes whose environment points into this test's directory (leftovers)."""
    found = []
    marker = str(tmp).encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return [pid for pid in found if pid != os.getpid()]


def test_login_keeps_the_token_in_the_keyring_only(tmp_path, local_platform):
    require()
    env = isolated_env(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    email = unique_email("keyring")
    env.update(
        PY=sys.executable,
        KL_HOME=str(tmp_path / "kl"),
        KL_URL=local_platform.url,
        KL_EMAIL=email,
        KL_PASSWORD="password1",
        OUT=str(out),
        PEEK=PEEK,
    )
    try:
        r = subprocess.run(
            ["dbus-run-session", "--", "sh", "-c", SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        for pid in _ours(tmp_path):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    import json

    me = json.loads((out / "whoami.json").read_text())
    assert me["email"] == email
    assert me["credential"] == "keyring (SecretService)"
    backend = "keyring.backends.SecretService"
    assert (out / "keyring.txt").read_text().split() == [backend, "stored"]
    assert (out / "after.txt").read_text().split() == [backend, "None"]  # logout deleted it
    assert "exit 3" in (out / "whoami-after.txt").read_text()

    # The home records the account, never the token; the keyring file itself is encrypted.
    assert (tmp_path / "kl" / "state" / "client.json").exists()
    assert any((tmp_path / "data" / "keyrings").iterdir())
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and b"klu_" in p.read_bytes()]
    assert leaks == []
