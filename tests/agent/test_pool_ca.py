"""The pool's CA: roles in certificates, CSRs signed for the device the seed names, the CA key
kept 0600, and enrolment refused to an address that is not a current peer."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509

from kalavai_like.agent.pool_ca import PoolCA, make_key_and_csr, subject_role
from kalavai_like.agent.pool_tls import ENROL_PATH, EnrolServer, SeedTLS
from kalavai_like.errors import InvalidInput


def verifies(ca: PoolCA, cert_pem: str) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    issuer = x509.load_pem_x509_certificate(ca.ca_pem.encode())
    cert.verify_directly_issued_by(issuer)
    return True


def test_a_worker_certificate_names_the_device_the_seed_chose(tmp_path: Path) -> None:
    ca = PoolCA(tmp_path / "ca", "pool-1")
    key, csr = make_key_and_csr("i-am-the-owner")  # the CSR's subject is ignored
    cert = ca.sign_csr(csr, "worker", "dev-42")
    assert subject_role(cert) == ("worker", "dev-42") and verifies(ca, cert)
    assert "PRIVATE KEY" in key and "PRIVATE" not in csr  # the key stays with the caller


def test_the_ca_key_is_private_and_reused(tmp_path: Path) -> None:
    first = PoolCA(tmp_path / "ca", "pool-1")
    mode = stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode)
    assert mode == 0o600
    again = PoolCA(tmp_path / "ca", "pool-1")
    assert again.ca_pem == first.ca_pem
    assert subject_role(again.issue("client", "owner").cert) == ("client", "owner")


def test_garbage_and_unknown_roles_are_refused(tmp_path: Path) -> None:
    ca = PoolCA(tmp_path / "ca", "pool-1")
    with pytest.raises(InvalidInput, match="certificate request"):
        ca.sign_csr("not a csr", "worker", "dev-1")
    with pytest.raises(InvalidInput, match="role"):
        ca.sign_csr(make_key_and_csr("x")[1], "admin", "dev-1")


def test_enrolment_signs_only_for_current_peers(tmp_path: Path) -> None:
    tls = SeedTLS(tmp_path, "pool-1")
    ca = tls.prepare()
    peers = {"10.42.0.2": "dev-a"}
    server = EnrolServer(ca, None, "127.0.0.1", lambda: peers, port=0)
    try:
        csr = make_key_and_csr("whatever")[1]
        status, body = server.answer(ENROL_PATH, "10.42.0.2", csr)
        assert status == 200 and subject_role(body["cert"]) == ("worker", "dev-a")
        status, body = server.answer(ENROL_PATH, "10.42.0.9", csr)  # not (or no longer) a peer
        assert status == 403 and "peer list" in body["message"]
    finally:
        server.httpd.server_close()


def test_the_seed_keeps_the_guards_member_list_from_the_peer_list(tmp_path: Path) -> None:
    tls = SeedTLS(tmp_path, "pool-1")
    tls.prepare()
    tls.write_members({"10.42.0.2": "dev-a", "10.42.0.3": "dev-b"})
    members = json.loads((tls.head_dir / "members.json").read_text())["members"]
    assert members == {"dev-a": "10.42.0.2", "dev-b": "10.42.0.3"}
    assert (tls.head_dir / "kalavai_guard.py").exists()
    assert stat.S_IMODE((tls.client_dir / "client.key").stat().st_mode) == 0o600


def test_a_member_enrols_once_and_renews_only_a_certificate_near_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kalavai_like.agent import pool_tls

    ca = PoolCA(tmp_path / "ca", "pool-1")
    calls: list[str] = []

    def fake_enrol(state_dir: Path, mid: str, netns: str | None, head: str) -> Path:
        calls.append(mid)
        d = pool_tls.member_dir(state_dir, mid)
        d.mkdir(parents=True, exist_ok=True)
        days = 10 if len(calls) == 1 else 365  # the first one is near its end
        (d / "worker.pem").write_text(ca.sign_csr(make_key_and_csr("x")[1], "worker", mid, days))
        return d

    monkeypatch.setattr(pool_tls, "enrol", fake_enrol)

    class M:
        id, template, prefix, name, head_address = "m-1", "dask", "kl1", "wk", "10.42.0.1"

    m = M()
    assert pool_tls.ensure_member_cert(tmp_path, m, True)  # type: ignore[arg-type]
    assert pool_tls.ensure_member_cert(tmp_path, m, True)  # type: ignore[arg-type]  # renewed
    assert not pool_tls.ensure_member_cert(tmp_path, m, True)  # type: ignore[arg-type]
    assert calls == ["m-1", "m-1"]
    assert not pool_tls.ensure_member_cert(tmp_path, m, False)  # type: ignore[arg-type]


def test_a_member_asking_for_certificates_in_a_loop_is_held_off(tmp_path: Path) -> None:
    from kalavai_like.agent.pool_tls import ENROL_LIMIT, ENROL_WINDOW

    ca = SeedTLS(tmp_path, "pool-1").prepare()
    peers = {"10.42.0.2": "dev-a", "10.42.0.3": "dev-b"}
    server = EnrolServer(ca, None, "127.0.0.1", lambda: peers, port=0)
    now = [1000.0]
    server.clock = lambda: now[0]
    try:
        csr = make_key_and_csr("whatever")[1]
        for _ in range(ENROL_LIMIT):
            assert server.answer(ENROL_PATH, "10.42.0.2", csr)[0] == 200
        status, body = server.answer(ENROL_PATH, "10.42.0.2", csr)
        assert status == 429 and f"try again in {ENROL_WINDOW:.0f} s" in body["message"]
        assert server.answer(ENROL_PATH, "10.42.0.3", csr)[0] == 200  # others are not held up
        now[0] += ENROL_WINDOW
        assert server.answer(ENROL_PATH, "10.42.0.2", csr)[0] == 200  # the window passed
    finally:
        server.httpd.server_close()
