"""The pool's certificate authority for its Dask cluster (mutual TLS), held by the seed.

A certificate's role is its subject's organizational unit; its common name says who it is:

- `scheduler` (CN `scheduler`): the head's scheduler;
- `worker` (CN = the member's device id): one member's worker, from a CSR whose private key
  never left the volunteer's node (`make_key_and_csr` runs there);
- `client` (CN `owner`): the pool owner's clients (`pool connect`, `pool run`).

A later role (say `user` for named users who spend credit) is one more OU value the head's
guard (kalavai_like/container/dask_guard.py) maps to what it may do; nothing else changes.
Keys are EC P-256; the CA key is written 0600 in the agent's state directory and never leaves
it. Revocation does not rest on a certificate's lifetime: the head's guard refuses any worker
whose device is not in the pool's current peer list, at the address the list gives it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kalavai_like.errors import InvalidInput
from kalavai_like.home.files import write_text

ROLES = ("scheduler", "worker", "client")
CA_DAYS = 3650
LOCAL_DAYS = 365  # the seed's own scheduler and client certificates
WORKER_DAYS = 365  # renewed when fewer than RENEW_DAYS are left (checked every 6 h)
RENEW_DAYS = 60
MAX_CSR = 8192


@dataclass(frozen=True)
class Issued:
    """A certificate and (when made here) its private key, PEM text."""

    cert: str
    key: str = ""


def make_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def make_key_and_csr(name: str) -> tuple[str, str]:
    """A new private key and a CSR for it (PEM): made on the volunteer's node, the key stays."""
    key = make_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64] or "worker")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return key_pem(key), csr.public_bytes(serialization.Encoding.PEM).decode()


def _name(role: str, cn: str, pool_id: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"kalavai-like pool {pool_id}"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])  # fmt: skip


class PoolCA:
    """One pool's CA: `ca.key` (0600) and `ca.pem` in `directory`, made on first use."""

    def __init__(self, directory: Path, pool_id: str) -> None:
        self.directory = directory
        self.pool_id = pool_id
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        if key_path.exists() and cert_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise InvalidInput("Bad pool CA key", f"{key_path} is not an EC key: remove it.")
            self._key = loaded
            self._cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            return
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._key = make_key()
        name = _name("ca", f"pool {pool_id} CA", pool_id)
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        write_text(key_path, key_pem(self._key), secret=True)
        write_text(cert_path, self.ca_pem)

    @property
    def ca_pem(self) -> str:
        return self._cert.public_bytes(serialization.Encoding.PEM).decode()

    def _sign(self, public_key: ec.EllipticCurvePublicKey, role: str, cn: str, days: int) -> str:
        if role not in ROLES:
            raise InvalidInput("Unknown certificate role", f"{role!r}: use one of {ROLES}.")
        now = dt.datetime.now(dt.UTC)
        usage = x509.ExtendedKeyUsage([
            x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH, x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        ])  # fmt: skip
        cert = (
            x509.CertificateBuilder().subject_name(_name(role, cn, self.pool_id))
            .issuer_name(self._cert.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=False)
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, role: str, cn: str) -> Issued:
        """A key made here and its certificate: for the seed's own scheduler and clients."""
        key = make_key()
        return Issued(self._sign(key.public_key(), role, cn, LOCAL_DAYS), key_pem(key))

    def sign_csr(self, csr_pem: str, role: str, cn: str, days: int = WORKER_DAYS) -> str:
        """Sign a CSR for `role` with the common name `cn` the seed chose (never the CSR's own
        subject: a volunteer does not name itself).

        Raises:
            InvalidInput: not a valid, self-signed EC CSR.
        """
        if len(csr_pem) > MAX_CSR:
            raise InvalidInput("Certificate request too large", f"Send at most {MAX_CSR} bytes.")
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as exc:
            raise InvalidInput("Bad certificate request", "Send one PEM CSR.") from exc
        public = csr.public_key()
        if not csr.is_signature_valid or not isinstance(public, ec.EllipticCurvePublicKey):
            raise InvalidInput("Bad certificate request", "Sign the CSR with its EC key.")
        return self._sign(public, role, cn, days)


def subject_role(cert_pem: str) -> tuple[str, str]:
    """(role, common name) of a certificate this module issued."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    ou = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return (str(ou[0].value) if ou else "", str(cn[0].value) if cn else "")


def days_left(cert_pem: str) -> float:
    """Days until the certificate expires (negative once it has)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds() / 86400
