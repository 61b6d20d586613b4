"""Keys, CSRs and certificates for the security profile 3 tests, made with `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from custom_components.ocpp_csms.csms.certificates import CertificateAuthority

type PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_csr(key: PrivateKey, *common_names: str) -> bytes:
    """A PEM CSR signed by `key`, with these CNs (none, one or several)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names])
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def client_files(
    folder: Path,
    ca: CertificateAuthority,
    charger_id: str,
    *,
    now: dt.datetime | None = None,
    cn: str | None = None,
) -> tuple[Path, Path]:
    """A charger's key and the certificate `ca` signs for it (for `cn`), as PEM files."""
    key = ec_key()
    signed = ca.sign_csr(make_csr(key, cn or charger_id), cn or charger_id, now=now)
    cert_path, key_path = folder / f"{charger_id}.crt", folder / f"{charger_id}.key"
    cert_path.write_text(signed.chain_pem)
    key_path.write_bytes(key_pem(key))
    return cert_path, key_path


def server_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key_pem(key))
    return cert_path, key_path
