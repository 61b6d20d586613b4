"""A simulated charger's client certificate (OCPP security profile 3).

Asked for one (a TriggerMessage SignChargingStationCertificate, 1.6 an
ExtendedTriggerMessage SignChargePointCertificate, or `request_certificate`), a
charger makes a new EC P-256 key and a CSR with its id as CN, sends a
SignCertificate, and keeps the chain a CertificateSigned brings when it belongs to
that key: the new key and chain replace the ones it had (a renewal), and until then it
keeps those. `write_client_files` puts key and chain where an `ssl` context can load
them, to connect again over wss:// with the certificate.

For tests of what goes wrong: `answers` (see `base`) may refuse the trigger
("TriggerMessage" / "ExtendedTriggerMessage": then no CSR is sent) or the certificate
("CertificateSigned"), and `csr_on_trigger=False` makes it accept a trigger and never
send the CSR.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.exceptions import ConnectionClosed

from .base import SimulatedCharger

# What a trigger calls a CSR for the charger's own certificate (2.x, 1.6).
SIGN_OWN_CERTIFICATE = frozenset({"SignChargingStationCertificate", "SignChargePointCertificate"})


class CertificateHolder(SimulatedCharger):
    """A simulated charger that holds a key and a client certificate of its own."""

    def __init__(
        self,
        *args: Any,
        csr_common_name: str | None = None,
        csr_on_trigger: bool = True,
        **kwargs: Any,
    ) -> None:
        """Hold no certificate yet; `csr_common_name` makes its CSRs name another id."""
        super().__init__(*args, **kwargs)
        self.csr_common_name = csr_common_name
        self.csr_on_trigger = csr_on_trigger
        # The key of the certificate it holds, and the key of its last CSR (until a
        # certificate for it comes).
        self.client_key: ec.EllipticCurvePrivateKey | None = None
        self._requested_key: ec.EllipticCurvePrivateKey | None = None
        # The chain a CertificateSigned brought for the current key (leaf first).
        self.client_chain: str | None = None
        # Every chain received, whether kept or not (for tests).
        self.chains_received: list[str] = []

    def _sign_certificate_payload(self, csr: str) -> Any:
        raise NotImplementedError

    async def request_certificate(self) -> str:
        """Send a SignCertificate with a new key's CSR; returns the status answered."""
        response = await self.call(self._sign_certificate_payload(self.make_csr()))
        return str(response.status)

    async def send_requested(self, message: str, connector: int | None) -> None:
        """Send what a trigger asked for; a CSR for its own certificate too."""
        if message in SIGN_OWN_CERTIFICATE:
            refused = any(
                self.answers.get(trigger, "Accepted") != "Accepted"
                for trigger in ("TriggerMessage", "ExtendedTriggerMessage")
            )
            if self.csr_on_trigger and not refused:
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    await self.request_certificate()
            return
        await super().send_requested(message, connector)

    def make_csr(self) -> str:
        """A new key, and the PEM CSR of its public key with the charger's id as CN."""
        key = self._requested_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.csr_common_name or self.id)])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name)
        signed = csr.sign(key, hashes.SHA256())
        return signed.public_bytes(serialization.Encoding.PEM).decode()

    def take_certificate_chain(self, chain: str) -> str:
        """Keep a signed chain if its leaf is for our last CSR's key: Accepted, else Rejected.

        `answers["CertificateSigned"]` other than Accepted refuses it whatever it is.
        """
        self.chains_received.append(chain)
        if (answer := self.answers.get("CertificateSigned", "Accepted")) != "Accepted":
            return answer
        try:
            leaf = x509.load_pem_x509_certificate(chain.encode())
        except ValueError:
            return "Rejected"
        key = self._requested_key
        if key is None or leaf.public_key() != key.public_key():
            return "Rejected"
        self.client_key, self.client_chain = key, chain
        return "Accepted"

    def write_client_files(self, folder: Path) -> tuple[Path, Path]:
        """The client certificate chain and its key as PEM files in `folder`."""
        if self.client_key is None or self.client_chain is None:
            raise RuntimeError(f"{self.id} holds no client certificate")
        cert_path, key_path = folder / f"{self.id}-client.crt", folder / f"{self.id}-client.key"
        cert_path.write_text(self.client_chain)
        key_path.write_bytes(
            self.client_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        return cert_path, key_path
