"""The integration's certificate authority: creation, reload, files, CSR checks, signing."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custom_components.ocpp_csms.csms.certificates import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CLIENT_VALIDITY,
    CertificateAuthority,
    CertificateAuthorityError,
    CertificateProblem,
    CsrProblem,
    CsrRefused,
    certificate_facts,
    client_certificate_problem,
    load_ca,
    load_or_create_ca,
)
from tests.engine.pki import ec_key, key_pem, make_csr, rsa_key

ED25519 = ed25519.Ed25519PrivateKey


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return load_or_create_ca(tmp_path / "ca")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_created_private_and_reloaded(tmp_path: Path) -> None:
    """First use creates the CA (key 0600, directory 0700); the next use loads the same."""
    folder = tmp_path / "config" / "ocpp_csms" / "ca"
    created = load_or_create_ca(folder)
    assert _mode(folder) == 0o700
    assert _mode(folder / CA_KEY_FILE) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [CA_CERT_FILE, CA_KEY_FILE]  # no temps
    reloaded = load_or_create_ca(folder)
    assert reloaded.facts == created.facts
    assert reloaded.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(reloaded.certificate.public_key(), ec.EllipticCurvePublicKey)
    validity = created.facts.not_after - created.facts.not_before
    assert validity > dt.timedelta(days=3650)


def test_an_open_directory_is_closed(tmp_path: Path) -> None:
    """A directory that exists with loose permissions is made private."""
    folder = tmp_path / "ca"
    folder.mkdir(mode=0o755)
    load_or_create_ca(folder)
    assert _mode(folder) == 0o700


def test_certificate_without_key_is_an_error(tmp_path: Path) -> None:
    """A lost key is not silently replaced: that would void every issued certificate."""
    folder = tmp_path / "ca"
    load_or_create_ca(folder)
    (folder / CA_KEY_FILE).unlink()
    with pytest.raises(CertificateAuthorityError) as error:
        load_or_create_ca(folder)
    assert "BEGIN" not in str(error.value)


def test_key_without_certificate_is_replaced(tmp_path: Path) -> None:
    """A crash between the two writes leaves a key alone; the next start makes a new CA."""
    folder = tmp_path / "ca"
    first = load_or_create_ca(folder)
    (folder / CA_CERT_FILE).unlink()
    second = load_or_create_ca(folder)
    assert second.facts != first.facts
    assert load_or_create_ca(folder).facts == second.facts


def test_ca_repr_and_export_hold_no_key(ca: CertificateAuthority, tmp_path: Path) -> None:
    """Neither the repr nor the PEM export shows the private key."""
    key_body = (tmp_path / "ca" / CA_KEY_FILE).read_text().splitlines()[1]
    assert "PRIVATE" not in ca.ca_pem
    assert key_body not in ca.ca_pem
    assert "_key" not in repr(ca)
    assert key_body not in repr(ca)
    assert ca.ca_pem.startswith("-----BEGIN CERTIFICATE-----")


def test_users_own_ca(ca: CertificateAuthority, tmp_path: Path) -> None:
    """The user's own CA loads from its files, an encrypted key with its password."""
    cert = tmp_path / "own.crt"
    cert.write_text(ca.ca_pem)
    key_file = tmp_path / "ca" / CA_KEY_FILE
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    encrypted = tmp_path / "own.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass phrase"),
        )
    )
    assert load_ca(cert, encrypted, password=b"pass phrase").facts == ca.facts
    with pytest.raises(CertificateAuthorityError):
        load_ca(cert, encrypted)  # no password
    other = tmp_path / "other.key"
    other.write_bytes(key_pem(ec_key()))
    with pytest.raises(CertificateAuthorityError, match="does not belong"):
        load_ca(cert, other)
    with pytest.raises(CertificateAuthorityError):
        load_ca(tmp_path / "missing.crt", key_file)


def test_a_leaf_certificate_is_no_ca(ca: CertificateAuthority, tmp_path: Path) -> None:
    """A client certificate with its key cannot stand in for a CA."""
    key = ec_key()
    cert = tmp_path / "leaf.crt"
    cert.write_text(ca.sign_csr(make_csr(key, "CP-1"), "CP-1").pem)
    key_file = tmp_path / "leaf.key"
    key_file.write_bytes(key_pem(key))
    with pytest.raises(CertificateAuthorityError, match="not a CA"):
        load_ca(cert, key_file)


@pytest.mark.parametrize(
    "key",
    [ec_key(), ec_key(ec.SECP384R1()), rsa_key(2048)],
    ids=["p256", "p384", "rsa2048"],
)
def test_good_csr_is_signed(ca: CertificateAuthority, key: ec.EllipticCurvePrivateKey) -> None:
    """A client certificate: CN the charger id, clientAuth, random serial, one year."""
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    signed = ca.sign_csr(make_csr(key, "CP-1"), "CP-1", now=now)
    certificate = signed.certificate
    certificate.verify_directly_issued_by(ca.certificate)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1"
    assert certificate.public_key() == key.public_key()
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate.not_valid_after_utc == now + CLIENT_VALIDITY
    assert certificate.not_valid_before_utc < now
    again = ca.sign_csr(make_csr(key, "CP-1"), "CP-1", now=now).certificate
    assert again.serial_number != certificate.serial_number
    assert signed.chain_pem == signed.pem + ca.ca_pem
    assert signed.facts == certificate_facts(signed.pem)


def test_certificate_ends_with_the_ca(ca: CertificateAuthority) -> None:
    """A certificate never outlives the CA that signed it."""
    late = ca.facts.not_after - dt.timedelta(days=10)
    signed = ca.sign_csr(make_csr(ec_key(), "CP-1"), "CP-1", now=late)
    assert signed.certificate.not_valid_after_utc == ca.facts.not_after


def _tampered(csr_pem: bytes) -> bytes:
    """The CSR with its CN changed after signing (same length, so it still parses)."""
    der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    changed = x509.load_der_x509_csr(der.replace(b"CP-1", b"CP-2"))
    return changed.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("csr", "charger_id", "problem"),
    [
        (make_csr(ec_key(), "CP-2"), "CP-1", CsrProblem.WRONG_COMMON_NAME),
        (make_csr(ec_key(), "cp-1"), "CP-1", CsrProblem.WRONG_COMMON_NAME),
        (make_csr(ec_key()), "CP-1", CsrProblem.WRONG_COMMON_NAME),
        (make_csr(ec_key(), "CP-1", "CP-1"), "CP-1", CsrProblem.WRONG_COMMON_NAME),
        (make_csr(rsa_key(1024), "CP-1"), "CP-1", CsrProblem.UNSUPPORTED_KEY),
        (make_csr(ec_key(ec.SECP521R1()), "CP-1"), "CP-1", CsrProblem.UNSUPPORTED_KEY),
        (make_csr(ec_key(ec.SECP256K1()), "CP-1"), "CP-1", CsrProblem.UNSUPPORTED_KEY),
        (make_csr(ED25519.generate(), "CP-1"), "CP-1", CsrProblem.UNSUPPORTED_KEY),
        (_tampered(make_csr(ec_key(), "CP-1")), "CP-2", CsrProblem.BAD_SIGNATURE),
        (_tampered(make_csr(rsa_key(), "CP-1")), "CP-2", CsrProblem.BAD_SIGNATURE),
        (b"not a CSR", "CP-1", CsrProblem.UNREADABLE),
        ("-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 20_000, "CP-1", CsrProblem.UNREADABLE),
    ],
    ids=[
        "other-id",
        "other-case",
        "no-cn",
        "two-cns",
        "rsa1024",
        "p521",
        "secp256k1",
        "ed25519",
        "tampered-ec",
        "tampered-rsa",
        "junk",
        "oversized",
    ],
)
def test_bad_csr_is_refused(
    ca: CertificateAuthority, csr: bytes | str, charger_id: str, problem: CsrProblem
) -> None:
    """Every refusal names its reason; nothing is signed."""
    with pytest.raises(CsrRefused) as refused:
        ca.sign_csr(csr, charger_id)
    assert refused.value.problem is problem


def test_client_certificate_problem(ca: CertificateAuthority) -> None:
    """A presented certificate admits its own charger, within its dates only."""
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    der = (
        ca.sign_csr(make_csr(ec_key(), "CP-1"), "CP-1", now=now)
        .certificate.public_bytes(serialization.Encoding.DER)
    )  # fmt: skip
    assert client_certificate_problem(der, "CP-1", now=now) is None
    assert client_certificate_problem(der, "CP-2", now=now) is CertificateProblem.OTHER_CHARGER
    later = now + CLIENT_VALIDITY + dt.timedelta(seconds=1)
    assert client_certificate_problem(der, "CP-1", now=later) is CertificateProblem.EXPIRED
    earlier = now - dt.timedelta(hours=1)
    assert client_certificate_problem(der, "CP-1", now=earlier) is CertificateProblem.EXPIRED
    assert client_certificate_problem(b"junk", "CP-1") is CertificateProblem.UNREADABLE


def test_facts_for_diagnostics(ca: CertificateAuthority) -> None:
    """A SHA-256 fingerprint in colon-separated hex pairs, and the validity."""
    facts = ca.facts
    assert len(facts.sha256_fingerprint.split(":")) == 32
    assert facts.not_before < facts.not_after
    assert "OCPP Central System CA" in facts.subject
