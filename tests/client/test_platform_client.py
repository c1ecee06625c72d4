"""The platform client against the real platform on loopback, and against servers that fail."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kalavai_like import tokens
from kalavai_like.client.platform import PlatformClient
from kalavai_like.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
    PlatformUnavailable,
    TokenError,
)
from tests.support.cli import unique_email
from tests.support.http import closed_port_url


def test_account_round_trip_on_the_real_platform(local_platform):
    email = unique_email()
    with PlatformClient(local_platform.url) as anon:
        assert anon.health()["ok"] is True
        created = anon.signup(email, "password1")
        assert created["email"] == email
        with pytest.raises(Conflict):
            anon.signup(email, "password1")
        session = anon.login(email, "password1")
    token = session["token"]
    assert token.startswith("klu_")
    client = PlatformClient(local_platform.url, token)
    assert client.me()["email"] == email
    assert token not in repr(client)
    client.logout()
    with pytest.raises(AuthError):
        client.me()


def test_wrong_password_is_an_auth_error_with_the_platforms_words(local_platform):
    email = unique_email()
    anon = PlatformClient(local_platform.url)
    anon.signup(email, "password1")
    with pytest.raises(AuthError) as caught:
        anon.login(email, "not-the-password")
    assert caught.value.title == "Wrong email or password"
    assert caught.value.exit_code == 3


def test_calls_that_need_a_login_say_so_without_sending_anything(local_platform):
    with pytest.raises(AuthError, match="Not logged in"):
        PlatformClient(local_platform.url).me()


def test_token_errors_keep_their_reason(local_platform):
    email = unique_email()
    anon = PlatformClient(local_platform.url)
    anon.signup(email, "password1")
    client = PlatformClient(local_platform.url, anon.login(email, "password1")["token"])
    text, _ = tokens.mint(
        platform=local_platform.url, pool_id="nope", pool_name="ghost", expires_at=4_000_000_000
    )
    body = {
        "token": text,
        "public_key": "A" * 43 + "=",
        "name": "n1",
        "cores": 1,
        "memory_bytes": 2**30,
        "gpus": 0,
    }
    with pytest.raises(TokenError) as caught:
        client.request("POST", "/devices", json=body)
    assert caught.value.reason == "unknown"


def test_not_found_for_a_missing_pool(local_platform):
    email = unique_email()
    anon = PlatformClient(local_platform.url)
    anon.signup(email, "password1")
    client = PlatformClient(local_platform.url, anon.login(email, "password1")["token"])
    with pytest.raises(NotFound):
        client.pool("no-such-pool")
    with pytest.raises(InvalidInput):
        client.pool("..")  # never lets an id walk to another path


def test_unreachable_platform_names_url_and_cause():
    url = closed_port_url()
    with pytest.raises(PlatformUnavailable) as caught:
        PlatformClient(url, retries=0).health()
    assert caught.value.title == f"Platform unreachable at {url}: connection refused"
    assert caught.value.exit_code == 4


def test_a_500_is_platform_unavailable(tiny_server):
    server = tiny_server("500")
    with pytest.raises(PlatformUnavailable) as caught:
        PlatformClient(server.url, "klu_x").me()
    assert "HTTP 500" in caught.value.message
    assert server.url in caught.value.title


def test_a_json_error_body_is_mapped_to_kind_title_and_message(tiny_server):
    server = tiny_server("500json")
    with pytest.raises(PlatformUnavailable) as caught:
        PlatformClient(server.url, "klu_x").me()
    assert (caught.value.title, caught.value.message) == ("Database busy", "retry shortly")


def test_a_slow_platform_times_out_and_reads_are_retried(tiny_server):
    server = tiny_server("slow")
    with pytest.raises(PlatformUnavailable) as caught:
        PlatformClient(server.url, "klu_x", read_timeout=0.3, retries=2).me()
    assert "timed out" in caught.value.title
    assert "0.3 s" in caught.value.message
    assert len(server.requests) == 3  # GET is idempotent: 1 try + 2 retries


def test_a_post_is_never_retried_once_sent(tiny_server):
    server = tiny_server("slow")
    with pytest.raises(PlatformUnavailable):
        PlatformClient(server.url, read_timeout=0.3, retries=2).login("a@b.org", "password1")
    assert server.requests == ["POST /api/v1/sessions"]


def test_a_non_json_answer_is_not_trusted(tiny_server):
    server = tiny_server("html")
    with pytest.raises(PlatformUnavailable, match="Unexpected answer"):
        PlatformClient(server.url).health()


def test_an_invalid_url_is_invalid_input():
    with pytest.raises(InvalidInput, match="Invalid platform URL"):
        PlatformClient("ftp://example.org")
    with pytest.raises(InvalidInput):
        PlatformClient("not a url")


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTPS server with a certificate no CA vouches for."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified(self_signed_https):
    with pytest.raises(PlatformUnavailable) as caught:
        PlatformClient(self_signed_https, retries=0).health()
    assert "TLS verification failed" in caught.value.title
    assert "REQUESTS_CA_BUNDLE" in caught.value.message
