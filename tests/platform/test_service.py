"""The platform as a service, as shipped: packaging/systemd/kalavai-like-platform.service run as
systemd runs it (its credential, environment file and command line: tests/support/
systemd_unit.py), behind packaging/nginx/kalavai-like-platform.conf in a real nginx with TLS on
loopback (ports and paths substituted), on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kalavai_like.tokens import parse
from tests.support import REPO
from tests.support.platform_api import Api
from tests.support.systemd_unit import ServiceUnit, UnitRun
from tests.support.waiting import wait_for

UNIT = REPO / "packaging" / "systemd" / "kalavai-like-platform.service"
SITE = REPO / "packaging" / "nginx" / "kalavai-like-platform.conf"
INSTALLED = "/opt/kalavai-like-platform/bin/kalavai-like"  # where DEPLOY.md installs it
OURS = str(Path(sys.executable).parent / "kalavai-like")  # this tree's (PYTHONPATH)
SPOOFED = "203.0.113.9"  # what a client claims to be in its own X-Forwarded-For
NGINX_LOG = "/var/log/nginx/access.log"  # the site's; the test's nginx logs in its tmp_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    public_url: str  # nginx, over TLS
    http_url: str  # nginx's plain-HTTP port
    direct_url: str  # the platform itself, on loopback
    ca: ssl.SSLContext  # trusts the test's self-signed certificate


def start_platform(
    tmp: Path, database_url: str, public_url: str
) -> tuple[UnitRun, subprocess.Popen[bytes], str]:
    """The shipped unit, its credential and environment file the test's own; its process and
    the platform's own address."""
    credential = tmp / "etc" / "database-url"
    credential.parent.mkdir(parents=True)
    credential.write_text(database_url + "\n")
    credential.chmod(0o600)
    env_file = tmp / "etc" / "platform.env"
    env_file.write_text(f"KALAVAI_LIKE_PUBLIC_URL={public_url}\n")
    unit = UnitRun(
        ServiceUnit.read(UNIT), credentials=tmp / "credentials",
        specifiers={"S": str(tmp / "state")},
        files={"/etc/kalavai-like/platform/database-url": credential,
               "/etc/kalavai-like/platform.env": env_file},
        base_env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "LANG": "C.UTF-8"},
    )  # fmt: skip
    log = tmp / "platform.out"
    with open(log, "wb") as out:
        proc = unit.start({INSTALLED: OURS, "8700": "0"}, stdout=out, stderr=subprocess.STDOUT)

    def serving() -> str | None:
        assert proc.poll() is None, log.read_text()
        text = log.read_text()
        return text.split("serving at ", 1)[1].split()[0] if "serving at " in text else None

    return unit, proc, wait_for(serving, 60, "the platform")


def nginx_site(http: int, https: int, upstream: str, cert: Path, key: Path) -> str:
    """The shipped site with this test's ports, certificate and upstream (each swap must find
    its line exactly once, so the test follows the file)."""
    site = SITE.read_text()
    swaps = [
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("/etc/letsencrypt/live/platform.example.org/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/platform.example.org/privkey.pem", str(key)),
        ("http://127.0.0.1:8700", upstream),
    ]
    for old, new in swaps:
        assert site.count(old) == 1, f"{SITE.name}: expected '{old}' once"
        site = site.replace(old, new)
    assert site.count(NGINX_LOG) == 2, f"{SITE.name}: expected '{NGINX_LOG}' in each server"
    return site.replace(NGINX_LOG, str(cert.parent / "access.log"))


def start_nginx(tmp: Path, site: str) -> subprocess.Popen[bytes]:
    (tmp / "site.conf").write_text(site)
    temp = "".join(f"{k}_temp_path {tmp}/{k};\n" for k in ("proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\naccess_log {tmp}/access.log;\nclient_body_temp_path {tmp}/body;\n{temp}"
        f"include {tmp}/site.conf;\n}}\n"
    )
    return subprocess.Popen(
        ["nginx", "-e", f"{tmp}/error.log", "-p", str(tmp), "-c", f"{tmp}/nginx.conf",
         "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def deployment(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (scripts/setup installs it)")
    if backend == "postgres":
        database_url = request.getfixturevalue("make_postgres_url")()
    else:
        database_url = f"sqlite:///{tmp_path}/state/kalavai-like-platform/platform.sqlite3"
    http, https = free_port(), free_port()
    public = f"https://127.0.0.1:{https}"
    unit, platform, direct = start_platform(tmp_path, database_url, public)
    cert, key = self_signed(tmp_path)
    nginx = start_nginx(tmp_path, nginx_site(http, https, direct, cert, key))
    ca = ssl.create_default_context(cafile=str(cert))
    try:

        def up() -> bool:
            assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
            try:
                return httpx.get(f"{public}/healthz", verify=ca).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 30, "nginx in front of the platform")
        yield Deployment(public, f"http://127.0.0.1:{http}", direct, ca)
    finally:
        nginx.terminate()
        nginx.wait(30)
        unit.stop(platform)


def session_address(api: Api, email: str, password: str) -> str:
    """Log in through `api`; where the platform says that session came from."""
    user = api.log_in(email, password)
    mine = [s for s in user.get("/api/v1/sessions").json() if s["current"]]
    return mine[0]["client_address"]


def test_the_client_address_comes_through_the_trusted_proxy_only(deployment: Deployment) -> None:
    # Through nginx, from 127.0.0.2, claiming to be someone else: the platform sees 127.0.0.2.
    proxied = Api(deployment.public_url, source="127.0.0.2", verify=deployment.ca)
    proxied.http.headers["X-Forwarded-For"] = SPOOFED
    user = proxied.user()
    assert session_address(proxied, user.email, user.password) == "127.0.0.2"
    # Straight to the platform from 127.0.0.3, with the same headers a proxy would send: not
    # the trusted proxy, so they are ignored.
    direct = Api(deployment.direct_url, source="127.0.0.3")
    direct.http.headers.update({"X-Forwarded-For": SPOOFED, "X-Forwarded-Proto": "https"})
    assert session_address(direct, user.email, user.password) == "127.0.0.3"


def test_join_tokens_lead_back_through_the_proxy(deployment: Deployment) -> None:
    api = Api(deployment.public_url, source="127.0.0.2", verify=deployment.ca)
    owner = api.user()
    token = api.token(owner, api.pool(owner))["token"]
    platform = parse(token).platform
    assert platform == deployment.public_url  # --public-url, not the platform's own address
    assert httpx.get(f"{platform}/healthz", verify=deployment.ca).json()["ok"] is True
    # Plain HTTP only sends browsers to HTTPS.
    r = httpx.get(f"{deployment.http_url}/login")
    assert r.status_code == 301 and r.headers["location"] == "https://127.0.0.1/login"


def test_the_proxys_access_log_never_shows_a_reset_links_token(
    deployment: Deployment, tmp_path: Path
) -> None:
    secret = "rst_" + "f00d" * 8
    r = httpx.get(f"{deployment.public_url}/reset?token={secret}", verify=deployment.ca)
    assert r.status_code == 200
    log = tmp_path / "access.log"
    wait_for(lambda: log.exists() and '"GET /reset HTTP/' in log.read_text(), 10, "the log line")
    assert secret not in log.read_text()


def test_the_unit_is_valid_and_its_default_database_is_in_its_state_directory(
    tmp_path: Path,
) -> None:
    unit = ServiceUnit.read(UNIT)
    # Without the credential file, SetCredential= is the URL: SQLite in the StateDirectory.
    name, _, url = unit.value("SetCredential").partition(":")
    state = unit.value("StateDirectory")
    assert (name, url) == ("database-url", f"sqlite:////var/lib/{state}/platform.sqlite3")
    assert unit.value("DynamicUser") == "yes"
    assert "--trusted-proxies 127.0.0.1" in unit.value("ExecStart")
    if shutil.which("systemd-analyze"):
        ours = tmp_path / UNIT.name
        ours.write_text(UNIT.read_text().replace(INSTALLED, OURS))
        verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(ours)],
                                capture_output=True, text=True)  # fmt: skip
        assert verify.returncode == 0, verify.stderr


@pytest.mark.parametrize(
    ("content", "extra", "said"),
    [
        ("", (), "No database URL"),
        ("sqlite:///x.db", ("--database-url", "sqlite:///y.db"), "Two database URLs"),
    ],
)
def test_a_bad_database_url_file_is_refused(
    tmp_path: Path, content: str, extra: tuple[str, ...], said: str
) -> None:
    (tmp_path / "url").write_text(content)
    r = subprocess.run(
        [sys.executable, "-m", "kalavai_like", "platform", "serve", "--port", "0",
         "--data-dir", str(tmp_path / "data"), "--database-url-file", str(tmp_path / "url"),
         *extra], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr
