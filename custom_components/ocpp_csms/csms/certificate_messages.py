"""The certificate messages of security profile 3, in both protocol versions.

A charger asks for its client certificate with a SignCertificate (2.0.1 / 2.1, and the
1.6 security extension alike): `CertificateSigning` answers it at once (Accepted when
we hold a CA and the request is one we sign) and afterwards, off the event loop,
checks and signs the CSR and sends the chain back as a CertificateSigned. What the
charger answers is kept on the station (`Station.client_certificate`); a CSR we
refuse is counted, logged and reported (`CertificateRefused`), and nothing is sent.

The commands (`InstallCertificate`, `GetInstalledCertificateIds`, `DeleteCertificate`,
`RequestCertificateSigning`, `CertificateSigned`) are encoded here for both versions
(`certificate_call`), so the version modules stay about everything else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from .certificates import CertificateAuthority, CsrRefused
from .commands import (
    Call,
    CertificateHashData,
    CertificateSigned,
    CertificateUse,
    Command,
    CommandResult,
    CommandStatus,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
    RequestCertificateSigning,
    not_supported,
    status_result,
)
from .events import CertificateRefused, Change, Event, StationUpdated
from .rpc_types import Reply
from .station import ClientCertificate, OcppVersion, Station

_LOGGER = logging.getLogger(__name__)

_ACCEPTED = frozenset({"Accepted"})
# GetInstalledCertificateIds: hashes read from one answer (a charger holds a handful).
MAX_INSTALLED = 50

_USE_16 = {
    CertificateUse.CSMS_ROOT: "CentralSystemRootCertificate",
    CertificateUse.MANUFACTURER_ROOT: "ManufacturerRootCertificate",
}
_USE_2X = {
    CertificateUse.CSMS_ROOT: "CSMSRootCertificate",
    CertificateUse.MANUFACTURER_ROOT: "ManufacturerRootCertificate",
    CertificateUse.V2G_ROOT: "V2GRootCertificate",
    CertificateUse.MO_ROOT: "MORootCertificate",
}
_USE_21 = {**_USE_2X, CertificateUse.OEM_ROOT: "OEMRootCertificate"}
_USES = {OcppVersion.V16: _USE_16, OcppVersion.V201: _USE_2X, OcppVersion.V21: _USE_21}
# The charger's words for a kind, back to ours (others are kept as the charger said).
_USE_FROM = {word: use for table in (_USE_16, _USE_21) for use, word in table.items()}


def certificate_uses(version: OcppVersion) -> tuple[CertificateUse, ...]:
    """The kinds of root certificate a version can install, list and delete."""
    return tuple(_USES[version])


# The OCPP fields of a certificate's hash data, and their bounds (the schemas').
_HASH_FIELDS = (
    ("hash_algorithm", "hashAlgorithm", 10),
    ("issuer_name_hash", "issuerNameHash", 128),
    ("issuer_key_hash", "issuerKeyHash", 128),
    ("serial_number", "serialNumber", 40),
)


def certificate_call(command: Command, version: OcppVersion) -> Call | CommandResult | None:  # noqa: PLR0911
    """The CALL of a certificate command in `version`; None for any other command.

    A kind of certificate the version does not know is not supported, without a CALL.
    """
    is_16 = version is OcppVersion.V16
    uses = _USES[version]
    match command:
        case InstallCertificate(use=use) | GetInstalledCertificateIds(use=use) if (
            use is not None and use not in uses
        ):
            return not_supported(f"{version.value} has no {use.value} certificates")
        case InstallCertificate(certificate_pem=pem, use=use):
            # Accepted, Rejected or Failed (1.6 and 2.x alike).
            return Call("InstallCertificate", {"certificateType": uses[use], "certificate": pem})
        case GetInstalledCertificateIds(use=None) if is_16:
            return not_supported("OCPP 1.6 lists one kind of certificate at a time")
        case GetInstalledCertificateIds(use=use):
            # None: every kind (2.x only, see above).
            kinds: dict[str, Any] = {}
            if use is not None:
                kinds["certificateType"] = uses[use] if is_16 else [uses[use]]
            return Call(
                "GetInstalledCertificateIds",
                kinds,
                decode=_read_installed_16 if is_16 else _read_installed_2x,
            )
        case DeleteCertificate(hash_data=hash_data):
            return Call("DeleteCertificate", {"certificateHashData": hash_payload(hash_data)})
        case RequestCertificateSigning():
            if is_16:
                return Call(
                    "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
                )
            return Call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        case CertificateSigned(chain_pem=chain, request_id=request_id):
            payload: dict[str, Any] = {"certificateChain": chain}
            if not is_16:
                payload["certificateType"] = "ChargingStationCertificate"
            if version is OcppVersion.V21 and request_id is not None:
                payload["requestId"] = request_id
            return Call("CertificateSigned", payload)
    return None


def hash_payload(hash_data: CertificateHashData) -> dict[str, str]:
    """The OCPP certificateHashData of a certificate (the same in 1.6 and 2.x)."""
    return {key: getattr(hash_data, name) for name, key, _ in _HASH_FIELDS}


def _hash_data(item: Any, use: Any) -> CertificateHashData | None:
    """A certificate's hash data as the charger sent it; None when it is not one."""
    if not isinstance(item, dict):
        return None
    values: dict[str, str] = {}
    for name, key, bound in _HASH_FIELDS:
        value = item.get(key)
        if not isinstance(value, str):
            return None
        values[name] = value[:bound]
    kind = _USE_FROM.get(use, use[:40]) if isinstance(use, str) else None
    return CertificateHashData(**values, use=kind)


def _installed(status: Any, found: list[CertificateHashData | None]) -> CommandResult:
    certificates = [item for item in found[:MAX_INSTALLED] if item is not None]
    # NotFound: no certificate of the kind is installed, an answer like any other.
    if status == "NotFound":
        return CommandResult(CommandStatus.ACCEPTED, "NotFound", {"certificates": []})
    return status_result(str(status), _ACCEPTED, {"certificates": certificates})


def _read_installed_16(answer: dict[str, Any]) -> CommandResult:
    items = answer.get("certificateHashData") or []
    return _installed(answer.get("status"), [_hash_data(item, None) for item in items])


def _read_installed_2x(answer: dict[str, Any]) -> CommandResult:
    chains = answer.get("certificateHashDataChain") or []
    return _installed(
        answer.get("status"),
        [
            _hash_data(chain.get("certificateHashData"), chain.get("certificateType"))
            for chain in chains
            if isinstance(chain, dict)
        ],
    )


class CertificateHost(Protocol):
    """What certificate signing asks of the central system."""

    @property
    def certificate_authority(self) -> CertificateAuthority | None:
        """The CA that signs chargers' certificates (None: we sign none)."""

    def emit(self, event: Event) -> None:
        """Report an event to the listener."""


class CertificateSigning:
    """One connection's SignCertificate requests, signed one at a time."""

    def __init__(
        self,
        station: Station,
        host: CertificateHost,
        execute: Callable[[Command], Awaitable[CommandResult]],
    ) -> None:
        """Sign for `station`, sending the chain through `execute`."""
        self._station = station
        self._host = host
        self._execute = execute
        self._busy = False

    def on_sign_certificate(self, payload: dict[str, Any]) -> Reply:
        """SignCertificate: Accepted (and the signing started) or Rejected."""
        ca = self._host.certificate_authority
        csr = payload["csr"]
        # 2.x V2GCertificate (2.1 also V2G20Certificate) is for ISO 15118 with cars,
        # signed by a V2G PKI we are not: we sign only charging station certificates.
        # Omitted means "for both uses": we sign it for the connection to us.
        kind = payload.get("certificateType", "ChargingStationCertificate")
        reason = None
        if ca is None:
            reason = "we hold no certificate authority"
        elif kind != "ChargingStationCertificate":
            reason = f"we sign no {kind}"
        elif "CERTIFICATE REQUEST-----" not in csr:
            reason = "that is no PEM certificate signing request"
        elif self._busy:
            reason = "its previous request is still being signed"
        if reason is not None or ca is None:
            _LOGGER.info("Charger %s: SignCertificate rejected: %s", self._station.id, reason)
            return Reply({"status": "Rejected"})
        self._busy = True
        request_id = payload.get("requestId")

        async def sign_and_send() -> None:
            try:
                await self._sign_and_send(ca, csr, request_id)
            finally:
                self._busy = False

        return Reply({"status": "Accepted"}, after=sign_and_send)

    async def _sign_and_send(
        self, ca: CertificateAuthority, csr: str, request_id: int | None
    ) -> None:
        station = self._station
        try:
            # A signature check and a signature: off the event loop.
            signed = await asyncio.to_thread(ca.sign_csr, csr, station.id)
        except CsrRefused as refused:
            kind = "certificate_refused"
            level = logging.DEBUG if kind in station.warnings else logging.WARNING
            _LOGGER.log(
                level,
                "Charger %s: its certificate signing request was refused (%s); "
                "no certificate was sent",
                station.id,
                refused.problem.value.replace("_", " "),
            )
            station.warn(kind)
            self._host.emit(CertificateRefused(station, refused.problem))
            return
        result = await self._execute(CertificateSigned(signed.chain_pem, request_id))
        station.client_certificate = ClientCertificate(
            facts=signed.facts,
            installed=result.accepted,
            answer=result.detail or result.status.value,
            at=datetime.now(UTC),
        )
        if not result.accepted:
            station.warn("certificate_not_installed")
        self._host.emit(StationUpdated(station, frozenset({Change.CLIENT_CERTIFICATE})))
