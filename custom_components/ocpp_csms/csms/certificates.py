"""The certificate authority behind OCPP security profile 3 (TLS with client certificates).

The integration keeps a small CA of its own, so that a homeowner gets profile 3 without
running a PKI: `load_or_create_ca` makes one on first use in a directory the caller
chooses and loads it afterwards. A user with a CA of their own gives its files to
`load_ca` instead. Either way a `CertificateAuthority`
- signs a charger's certificate signing request (`sign_csr`) once the request passed
  its checks (`check_csr`): readable, a supported key, a valid signature, and the
  charger's id as its common name; anything else is refused with a `CsrProblem`;
- says whether a client certificate a charger presented fits that charger
  (`client_certificate_problem`);
- exports its certificate as PEM (`ca_pem`) and describes it for diagnostics
  (`facts`: fingerprint and validity). Its private key never leaves it: not in a
  repr, a log line or an export.

The CA key is EC P-256: generated in milliseconds where RSA 3072 (the same strength)
takes seconds on a small host, small certificates, and ECDSA is what the cipher suites
OCPP 2.0.1 requires of every charger use. Chargers' own keys may be RSA or EC.

Blocking: `load_or_create_ca` and `load_ca` read and write files (and may generate a
key); callers on an event loop run them in an executor. `sign_csr` and `check_csr` cost
a signature check and a signature (about a millisecond): fine in an executor, tolerable
on a loop. `client_certificate_problem` and `facts` only parse.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_FILE = "ca_cert.pem"
CA_KEY_FILE = "ca_key.pem"
CA_VALIDITY = dt.timedelta(days=3652)
CLIENT_VALIDITY = dt.timedelta(days=365)
# A charger's clock may run a little behind ours.
CLOCK_SKEW = dt.timedelta(minutes=5)
# A CSR is a few hundred bytes (RSA 4096: under 2 KB); anything far larger is not read.
MAX_CSR_BYTES = 16 * 1024
# Up to RSA 8192: checking a larger key's signature could cost more than it is worth.
RSA_BITS = range(2048, 8193)
EC_CURVES = (ec.SECP256R1, ec.SECP384R1)

type CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CertificateAuthorityError(Exception):
    """The CA's files cannot be used (missing, unreadable, or not a pair)."""


class CsrProblem(StrEnum):
    """Why a charger's certificate signing request was refused."""

    UNREADABLE = "unreadable"  # not a PEM CSR, or oversized
    UNSUPPORTED_KEY = "unsupported_key"  # not RSA >= 2048 bits nor EC P-256 / P-384
    BAD_SIGNATURE = "bad_signature"  # the CSR's signature does not verify
    WRONG_COMMON_NAME = "wrong_common_name"  # its CN is missing, repeated or another id


class CsrRefused(Exception):
    """A CSR that is not signed, and why (`problem`)."""

    def __init__(self, problem: CsrProblem) -> None:
        """A refusal for `problem`."""
        super().__init__(f"certificate signing request refused: {problem.value}")
        self.problem = problem


class CertificateProblem(StrEnum):
    """Why a client certificate a charger presented does not admit it."""

    UNREADABLE = "unreadable"
    OTHER_CHARGER = "other_charger"  # its CN is not this charger's id
    EXPIRED = "expired"  # or not valid yet


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What diagnostics may show of a certificate: never a key."""

    subject: str
    serial_number: str  # hex
    sha256_fingerprint: str  # hex pairs separated by colons
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True, slots=True)
class SignedCertificate:
    """A client certificate issued to a charger."""

    certificate: x509.Certificate
    ca_certificate: x509.Certificate

    @property
    def pem(self) -> str:
        """The charger's certificate alone."""
        return _pem(self.certificate)

    @property
    def chain_pem(self) -> str:
        """The charger's certificate followed by the CA's (what OCPP sends back)."""
        return _pem(self.certificate) + _pem(self.ca_certificate)

    @property
    def facts(self) -> CertificateFacts:
        """Fingerprint and validity, for diagnostics."""
        return certificate_facts(self.certificate)


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A CA certificate with its key; the key stays inside (no repr, no export)."""

    certificate: x509.Certificate
    _key: CaKey = field(repr=False)

    @property
    def ca_pem(self) -> str:
        """The CA certificate as PEM, what chargers and the TLS server trust."""
        return _pem(self.certificate)

    @property
    def facts(self) -> CertificateFacts:
        """Fingerprint and validity of the CA certificate, for diagnostics."""
        return certificate_facts(self.certificate)

    def sign_csr(
        self, csr_pem: str | bytes, charger_id: str, *, now: dt.datetime | None = None
    ) -> SignedCertificate:
        """A client certificate for `charger_id` from its CSR; raises CsrRefused.

        Valid for CLIENT_VALIDITY from `now` (never beyond the CA's own end), with a
        random serial number, the charger id as CN and the clientAuth usage.
        """
        csr = check_csr(csr_pem, charger_id)
        now = now or dt.datetime.now(dt.UTC)
        not_after = min(now + CLIENT_VALIDITY, self.certificate.not_valid_after_utc)
        public_key = csr.public_key()
        is_rsa = isinstance(public_key, rsa.RSAPublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, charger_id)]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(client_rsa=is_rsa), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        certificate = builder.sign(self._key, hashes.SHA256())
        return SignedCertificate(certificate, self.certificate)


def check_csr(csr_pem: str | bytes, charger_id: str) -> x509.CertificateSigningRequest:
    """The CSR, when it may be signed for `charger_id`; raises CsrRefused otherwise."""
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    if len(data) > MAX_CSR_BYTES:
        raise CsrRefused(CsrProblem.UNREADABLE)
    try:
        csr = x509.load_pem_x509_csr(data)
        public_key = csr.public_key()
    except ValueError, UnsupportedAlgorithm:
        raise CsrRefused(CsrProblem.UNREADABLE) from None
    if not _supported_key(public_key):
        raise CsrRefused(CsrProblem.UNSUPPORTED_KEY)
    try:
        signature_valid = csr.is_signature_valid
    except ValueError, UnsupportedAlgorithm:
        signature_valid = False
    if not signature_valid:
        raise CsrRefused(CsrProblem.BAD_SIGNATURE)
    if _common_names(csr.subject) != [charger_id]:
        raise CsrRefused(CsrProblem.WRONG_COMMON_NAME)
    return csr


def client_certificate_problem(
    der: bytes, charger_id: str, *, now: dt.datetime | None = None
) -> CertificateProblem | None:
    """Why the certificate a charger presented does not admit `charger_id`; None: it does.

    The TLS layer has verified its chain to the CA already (see
    `tls.build_ssl_context`), except its dates, which are checked here so that an
    expired certificate is refused with a reason rather than a bare TLS alert.
    """
    try:
        certificate = x509.load_der_x509_certificate(der)
        common_names = _common_names(certificate.subject)
    except ValueError:
        return CertificateProblem.UNREADABLE
    if common_names != [charger_id]:
        return CertificateProblem.OTHER_CHARGER
    now = now or dt.datetime.now(dt.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return CertificateProblem.EXPIRED
    return None


def certificate_facts(certificate: x509.Certificate | str | bytes) -> CertificateFacts:
    """Subject, serial, SHA-256 fingerprint and validity of a certificate (or its PEM)."""
    if isinstance(certificate, str | bytes):
        data = certificate.encode() if isinstance(certificate, str) else certificate
        certificate = x509.load_pem_x509_certificate(data)
    digest = certificate.fingerprint(hashes.SHA256())
    return CertificateFacts(
        subject=certificate.subject.rfc4514_string(),
        serial_number=f"{certificate.serial_number:x}",
        sha256_fingerprint=":".join(f"{byte:02X}" for byte in digest),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )


def load_or_create_ca(directory: Path, *, now: dt.datetime | None = None) -> CertificateAuthority:
    """The integration's own CA in `directory`, created there on first use. Blocking.

    The directory is made private (0700) and the key file is written 0600, atomically:
    a crash leaves either no key or a whole one. A key without its certificate (a crash
    between the two writes) is replaced; a certificate without its key is an error,
    because a new CA would silently void every certificate issued so far.
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
    if cert_path.exists():
        return load_ca(cert_path, key_path)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _self_signed(key, now or dt.datetime.now(dt.UTC))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(key_path, key_pem, 0o600)
    _write_atomically(cert_path, _pem(certificate).encode(), 0o644)
    return CertificateAuthority(certificate, key)


def load_ca(
    cert_path: Path, key_path: Path, *, password: bytes | None = None
) -> CertificateAuthority:
    """A CA from its PEM files (ours, or the user's own). Blocking (file I/O).

    Raises CertificateAuthorityError when a file is missing or unreadable, the key is
    neither RSA nor EC, the certificate is not a CA's, or the two do not belong together.
    """
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as err:
        # The message names the file, never its content.
        raise CertificateAuthorityError(f"cannot load the CA from {cert_path.parent}") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateAuthorityError("the CA key is neither RSA nor EC")
    if key.public_key() != certificate.public_key():
        raise CertificateAuthorityError("the CA key does not belong to the CA certificate")
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CertificateAuthorityError("the certificate is not a CA certificate")
    return CertificateAuthority(certificate, key)


def _self_signed(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    # A random suffix tells two installations' CAs apart.
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Home Assistant"),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"OCPP Central System CA {secrets.token_hex(4)}"
            ),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _key_usage(*, client_rsa: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=client_rsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _supported_key(public_key: object) -> bool:
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.key_size in RSA_BITS
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return isinstance(public_key.curve, EC_CURVES)
    return False


def _common_names(name: x509.Name) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode` from the first byte on, replacing it whole."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)  # mkstemp creates 0600; the certificate may be read
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
