"""A simulated charger's security features beyond its client certificate.

- **Root certificates**: InstallCertificate keeps a PEM certificate (one that does not
  parse is Rejected), GetInstalledCertificateIds names them by hash data as OCPP
  does (SHA-256 of the issuer's name and key, the serial in hex), and
  DeleteCertificate removes one by it.
- **Security profile** (`security_profile=N` when built; without it a 1.6 charger
  has none of the security extension's certificate management and answers it
  NotImplemented, as chargers without the extension do). 1.6: ChangeConfiguration
  `SecurityProfile` to a higher value, which needs a client certificate for 3
  (A05.FR.01/04), is answered Accepted and then the charger disconnects (A05.FR.06):
  whoever drives it reconnects it with its new profile's credentials. 2.x:
  `SecurityCtrlr/SecurityProfile` is read-only; SetNetworkProfile stores a slot,
  `OCPPCommCtrlr/NetworkConfigurationPriority` takes only stored slots and, first,
  a slot with a profile no lower than the current one (with a client certificate
  for 3); a Reset then disconnects instead of rebooting in place when the first
  slot's profile differs from the one in use.
- **Signed firmware**: `firmware_signature_check` verifies an image's signature with
  the signing certificate's key (ECDSA or RSA PKCS#1 v1.5, SHA-256), so a charger
  reports SignatureVerified or InvalidSignature.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import after, on
from ocpp.v16 import call_result as result16

from .certificates import CertificateHolder

SECURITY_PROFILE_16 = "SecurityProfile"
SECURITY_PROFILE_2X = "SecurityCtrlr/SecurityProfile"
PRIORITY_2X = "OCPPCommCtrlr/NetworkConfigurationPriority"


def hash_data(certificate: x509.Certificate) -> dict[str, str]:
    """A certificate's OCPP hash data (SHA256), in the library's snake case."""
    issuer_key = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    name_digest = hashes.Hash(hashes.SHA256())
    name_digest.update(certificate.issuer.public_bytes())
    key_digest = hashes.Hash(hashes.SHA256())
    key_digest.update(issuer_key)
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": name_digest.finalize().hex(),
        "issuer_key_hash": key_digest.finalize().hex(),
        "serial_number": f"{certificate.serial_number:x}",
    }


def firmware_signature_check(certificate_pem: str, signature: str) -> Callable[[bytes], bool]:
    """Whether an image carries `signature` (base64) by the key of `certificate_pem`."""

    def check(image: bytes) -> bool:
        try:
            key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
            raw = base64.b64decode(signature, validate=True)
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(raw, image, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(raw, image, padding.PKCS1v15(), hashes.SHA256())
            else:
                return False
        except ValueError, binascii.Error, InvalidSignature:
            return False
        return True

    return check


def readable_certificate(pem: str | None) -> bool:
    """Whether `pem` is a certificate."""
    try:
        x509.load_pem_x509_certificate((pem or "").encode())
    except ValueError:
        return False
    return True


class SecurityHolder(CertificateHolder):
    """A simulated charger with root certificates and (optionally) a security profile."""

    # Where its version keeps the security profile (2.x: read-only).
    security_profile_setting: ClassVar[str] = SECURITY_PROFILE_16

    def __init__(self, *args: Any, security_profile: int | None = None, **kwargs: Any) -> None:
        """Hold no root certificates; be on `security_profile` if given."""
        super().__init__(*args, **kwargs)
        self.security_profile = security_profile
        # (certificateType word, certificate), in the order installed.
        self.roots: list[tuple[str, x509.Certificate]] = []
        # 2.x network profile slots: slot -> connectionData (snake case).
        self.network_slots: dict[int, dict[str, Any]] = {}
        if security_profile is not None:
            self.configuration[self.security_profile_setting] = str(security_profile)
            if self.security_profile_setting == SECURITY_PROFILE_2X:
                # Slot 0 is how it reaches us now.
                self.configuration[PRIORITY_2X] = "0"
                self.network_slots[0] = {"security_profile": security_profile}
        # Set when a new profile takes a new connection (the charger then closes its own).
        self.profile_changed = False

    # -- root certificates --------------------------------------------------------------

    def install_root(self, kind: str, pem: str) -> str:
        """Keep a root certificate of `kind`; Rejected when it does not parse."""
        status = self._answer("InstallCertificate", {"certificate_type": kind})
        if status != "Accepted":
            return status
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            return "Rejected"
        if all(held != certificate for _, held in self.roots):
            self.roots.append((kind, certificate))
        return "Accepted"

    def installed(self, kinds: list[str] | None) -> list[tuple[str, dict[str, str]]]:
        """The kind and hash data of each root certificate held of `kinds` (None: all)."""
        self._answer("GetInstalledCertificateIds", {"certificate_type": kinds})
        return [
            (kind, hash_data(certificate))
            for kind, certificate in self.roots
            if kinds is None or kind in kinds
        ]

    def delete_root(self, wanted: dict[str, Any]) -> str:
        """Delete the root certificate with this hash data; NotFound when none has it."""
        status = self._answer("DeleteCertificate", {"certificate_hash_data": wanted})
        if status != "Accepted":
            return status
        for index, (_, certificate) in enumerate(self.roots):
            if hash_data(certificate) == {key: wanted.get(key) for key in hash_data(certificate)}:
                del self.roots[index]
                return "Accepted"
        return "NotFound"

    # -- security profile ----------------------------------------------------------------

    def setting_accepted(self, key: str, value: str) -> bool:
        """Profile changes only upwards, with what the new profile needs; else as before."""
        if key == SECURITY_PROFILE_16 and self.security_profile is not None:
            return self._may_move_to(value)
        if key == SECURITY_PROFILE_2X:
            return False  # read-only in 2.0.1
        if key == PRIORITY_2X and self.security_profile is not None:
            slots = [word.strip() for word in value.split(",")]
            if not all(slot.isdigit() and int(slot) in self.network_slots for slot in slots):
                return False
            first = self.network_slots[int(slots[0])].get("security_profile")
            return self._may_move_to(str(first), allow_same=True)
        return bool(super().setting_accepted(key, value))

    def _may_move_to(self, value: str, *, allow_same: bool = False) -> bool:
        if not value.isdigit() or self.security_profile is None:
            return False
        profile = int(value)
        lower = profile < self.security_profile or (
            profile == self.security_profile and not allow_same
        )
        return not lower and (profile < 3 or self.client_chain is not None)

    def store_network_profile(self, slot: int, connection_data: dict[str, Any]) -> str:
        """SetNetworkProfile: keep the slot (Rejected for one that is no OCPP-J profile)."""
        status = self._answer(
            "SetNetworkProfile", {"configuration_slot": slot, "connection_data": connection_data}
        )
        if status == "Accepted" and connection_data.get("ocpp_transport") == "JSON":
            self.network_slots[slot] = dict(connection_data)
            return "Accepted"
        return status if status != "Accepted" else "Rejected"

    def _configure(self, action: str, payload: dict[str, Any], key: str, value: str) -> str:
        status = str(super()._configure(action, payload, key, value))
        if status == "Accepted" and key == SECURITY_PROFILE_16 and self.security_profile:
            # It disconnects once its answer is out (see `after_security_profile`).
            self.security_profile = int(value)
            self.profile_changed = True
        return status

    async def reboot(self, reason: str) -> None:
        """2.x: a new first slot of another profile takes a new connection: disconnect."""
        slots = self.configuration.get(PRIORITY_2X, "").split(",")
        first = slots[0].strip() if slots else ""
        profile = (
            self.network_slots.get(int(first), {}).get("security_profile")
            if first.isdigit()
            else None
        )
        if profile is not None and profile != self.security_profile:
            for connector in list(self.transactions):
                await self.stop_session(connector, reason)
            self.security_profile = int(profile)
            self.configuration[SECURITY_PROFILE_2X] = str(profile)
            self.profile_changed = True
            await self.websocket.close()
            return
        await super().reboot(reason)

    async def disconnect_for_new_profile(self) -> None:
        """Close the connection: the next one uses the new profile."""
        if self.profile_changed:
            with contextlib.suppress(Exception):
                await self.websocket.close()


class Security16(SecurityHolder):
    """The 1.6 security extension's certificate management and signed firmware."""

    def _extension(self) -> None:
        if self.security_profile is None:
            raise OcppNotImplemented(description="no security extension")

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        """Keep a root certificate."""
        self._extension()
        return result16.InstallCertificate(self.install_root(certificate_type, certificate))

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type: str, **_: Any) -> Any:
        """The hash data of the root certificates of one kind (NotFound: none)."""
        self._extension()
        found = [data for _, data in self.installed([certificate_type])]
        if not found:
            return result16.GetInstalledCertificateIds("NotFound")
        return result16.GetInstalledCertificateIds("Accepted", certificate_hash_data=found)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        """Delete a root certificate by its hash data."""
        self._extension()
        return result16.DeleteCertificate(self.delete_root(certificate_hash_data))

    @after("ChangeConfiguration")
    async def after_security_profile(self, key: str, **_: Any) -> None:
        """A new security profile: disconnect (A05.FR.06), to come back on it."""
        if key == SECURITY_PROFILE_16:
            await self.disconnect_for_new_profile()

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        """Accept signed firmware whose signing certificate parses."""
        self._extension()
        status = self._answer(
            "SignedUpdateFirmware", {"request_id": request_id, "firmware": firmware}
        )
        if status == "Accepted" and not readable_certificate(firmware.get("signing_certificate")):
            status = "InvalidCertificate"
        return result16.SignedUpdateFirmware(status)

    @after("SignedUpdateFirmware")
    async def after_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> None:
        """Download it, check its signature, install it."""
        if self.answers.get("SignedUpdateFirmware", "Accepted") != "Accepted":
            return
        if not readable_certificate(firmware.get("signing_certificate")):
            return
        check = firmware_signature_check(firmware["signing_certificate"], firmware["signature"])
        await self._detached(self.update_firmware(firmware["location"], request_id, check))


def security_handlers_2x(result: Any) -> dict[str, Any]:
    """The 2.x certificate and network profile handlers, for one version's results."""

    @on("InstallCertificate")
    def on_install_certificate(self: Any, certificate_type: str, certificate: str, **_: Any) -> Any:
        return result.InstallCertificate(status=self.install_root(certificate_type, certificate))

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(
        self: Any, certificate_type: list[str] | None = None, **_: Any
    ) -> Any:
        found = self.installed(certificate_type)
        if not found:
            return result.GetInstalledCertificateIds(status="NotFound")
        return result.GetInstalledCertificateIds(
            status="Accepted",
            certificate_hash_data_chain=[
                {"certificate_type": kind, "certificate_hash_data": data} for kind, data in found
            ],
        )

    @on("DeleteCertificate")
    def on_delete_certificate(self: Any, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        return result.DeleteCertificate(status=self.delete_root(certificate_hash_data))

    @on("SetNetworkProfile")
    def on_set_network_profile(
        self: Any, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> Any:
        return result.SetNetworkProfile(
            status=self.store_network_profile(configuration_slot, connection_data)
        )

    return {
        name: value
        for name, value in locals().items()
        if callable(value) and name.startswith(("on_", "after_"))
    }
