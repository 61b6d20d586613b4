"""Commands the central system sends to stations, in version-neutral form.

Each command is a small immutable value. A version's encoder (`ocpp16_commands`,
`ocpp201_commands`) turns it into a CALL and decodes the answer into a
`CommandResult`; `StationAdapter.execute` sends it with a bounded timeout. An offline
charger answers every command with `CommandStatus.OFFLINE` without a CALL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CommandStatus(StrEnum):
    """How a command to a charger ended, whatever the protocol version."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_SUPPORTED = "not_supported"
    TIMED_OUT = "timed_out"
    OFFLINE = "offline"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The typed end of a command: never an exception, never a hang.

    `detail` is the charger's own word (its status, or a CALLERROR); `data` carries
    what the charger answered beyond its status, in version-neutral form.
    """

    status: CommandStatus
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Whether the charger accepted the command."""
        return self.status is CommandStatus.ACCEPTED


def not_supported(why: str) -> CommandResult:
    """A command this protocol version (or this charger) cannot carry out."""
    return CommandResult(CommandStatus.NOT_SUPPORTED, why)


class ProfilePurpose(StrEnum):
    """What a charging profile limits."""

    STATION_MAX = "station_max"  # 1.6 ChargePointMaxProfile, 2.x ChargingStationMaxProfile
    TX_DEFAULT = "tx_default"  # default for every transaction
    TX = "tx"  # one running transaction


class ProfileKind(StrEnum):
    """How a profile's schedule is anchored in time."""

    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    """A limit from `start_s` seconds into the schedule until the next period."""

    start_s: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    """A charging profile: a schedule of limits with a purpose and a stack level."""

    id: int
    stack_level: int
    purpose: ProfilePurpose
    periods: tuple[SchedulePeriod, ...]
    unit: str = "A"  # "A" or "W"
    kind: ProfileKind = ProfileKind.RELATIVE
    recurrency: str | None = None  # "Daily" or "Weekly" with ProfileKind.RECURRING
    start_schedule: datetime | None = None
    duration_s: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None
    min_rate: float | None = None


@dataclass(frozen=True, slots=True)
class RemoteStart:
    """Start a transaction (1.6 RemoteStartTransaction, 2.x RequestStartTransaction)."""

    id_tag: str
    evse_id: int | None = None
    profile: ChargingProfile | None = None
    remote_start_id: int = 1  # 2.x only


@dataclass(frozen=True, slots=True)
class RemoteStop:
    """Stop a running transaction."""

    transaction_id: str


@dataclass(frozen=True, slots=True)
class Reset:
    """Restart the station, or one EVSE of it (2.x only): hard (now) or soft (when idle)."""

    hard: bool = False
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class UnlockConnector:
    """Release the cable lock of a connector (1.6) or of a connector of an EVSE (2.x)."""

    evse_id: int
    # 2.x: the connector within the EVSE; None: the first one the charger reported.
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeAvailability:
    """Make the station (evse_id 0) or one EVSE operative or inoperative."""

    evse_id: int
    operative: bool


@dataclass(frozen=True, slots=True)
class GetConfiguration:
    """Read configuration: 1.6 keys, or 2.x "Component/Variable" names; none means all."""

    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetConfiguration:
    """Write one configuration key (1.6) or variable (2.x "Component/Variable")."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class GetBaseReport:
    """2.x: ask for a base report (its content arrives as NotifyReport messages)."""

    request_id: int
    report_base: str = "FullInventory"


@dataclass(frozen=True, slots=True)
class TriggerMessage:
    """Ask the station to send a message now (version-neutral names, see encoders)."""

    message: str
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class SetChargingProfile:
    """Install a charging profile on an EVSE (0: the whole station)."""

    evse_id: int
    profile: ChargingProfile


@dataclass(frozen=True, slots=True)
class ClearChargingProfile:
    """Remove charging profiles matching every given criterion."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None


@dataclass(frozen=True, slots=True)
class GetChargingProfiles:
    """2.x: ask for installed profiles (they arrive as ReportChargingProfiles)."""

    request_id: int
    evse_id: int | None = None
    purpose: ProfilePurpose | None = None


@dataclass(frozen=True, slots=True)
class GetCompositeSchedule:
    """Ask what the station will do over the next `duration_s` seconds."""

    evse_id: int
    duration_s: int
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    """A tag in a local authorization list; no status means: remove it (differential)."""

    id_tag: str
    status: str | None = None  # version-neutral AuthorizationStatus value
    expiry: datetime | None = None
    parent_id: str | None = None
    token_type: str = "ISO14443"  # 2.x idToken type


@dataclass(frozen=True, slots=True)
class SendLocalList:
    """Replace (full) or change (differential) the station's local authorization list."""

    version: int
    full: bool
    entries: tuple[LocalListEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class GetLocalListVersion:
    """Read the version of the station's local authorization list."""


@dataclass(frozen=True, slots=True)
class ClearCache:
    """Clear the station's authorization cache."""


@dataclass(frozen=True, slots=True)
class ReserveNow:
    """Reserve an EVSE (or the station, 2.x without EVSE) for a tag until `expiry`."""

    reservation_id: int
    id_tag: str
    expiry: datetime
    evse_id: int | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelReservation:
    """Cancel a reservation."""

    reservation_id: int


@dataclass(frozen=True, slots=True)
class UpdateFirmware:
    """Download and install firmware from `location`.

    Signed firmware (both `signing_certificate`, PEM, and `signature`, base64, given)
    is 1.6 SignedUpdateFirmware (security extension) and 2.x UpdateFirmware with both
    in its firmware: the charger checks the signature before it installs.
    """

    location: str
    retrieve_at: datetime
    request_id: int = 1  # 2.x (and 1.6 signed update)
    retries: int | None = None
    retry_interval_s: int | None = None
    signing_certificate: str | None = None
    signature: str | None = None

    @property
    def signed(self) -> bool:
        """Whether the firmware comes with a signature and its certificate."""
        return self.signing_certificate is not None and self.signature is not None


@dataclass(frozen=True, slots=True)
class UploadDiagnostics:
    """Upload diagnostics (1.6 GetDiagnostics, 2.x GetLog) to `location`."""

    location: str
    request_id: int = 1
    start: datetime | None = None
    stop: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None


@dataclass(frozen=True, slots=True)
class DataTransfer:
    """Send a vendor-specific message."""

    vendor_id: str
    message_id: str | None = None
    data: object = None


class CertificateUse(StrEnum):
    """Which root certificates a command concerns (the kinds both versions know)."""

    # 1.6 CentralSystemRootCertificate, 2.x CSMSRootCertificate: whom it trusts as us.
    CSMS_ROOT = "csms_root"
    MANUFACTURER_ROOT = "manufacturer_root"  # whose firmware signatures it trusts
    # 2.x only (ISO 15118): the V2G and mobility operators' roots; 2.1 also the OEM's.
    V2G_ROOT = "v2g_root"
    MO_ROOT = "mo_root"
    OEM_ROOT = "oem_root"


@dataclass(frozen=True, slots=True)
class CertificateHashData:
    """How OCPP names an installed certificate (hashes are hex, as the charger sent them)."""

    hash_algorithm: str  # SHA256, SHA384 or SHA512
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    use: CertificateUse | str | None = None  # what GetInstalledCertificateIds said it is


@dataclass(frozen=True, slots=True)
class InstallCertificate:
    """Install a root certificate (PEM): by default our CA's, as the CSMS root."""

    certificate_pem: str
    use: CertificateUse = CertificateUse.CSMS_ROOT


@dataclass(frozen=True, slots=True)
class GetInstalledCertificateIds:
    """List installed root certificates: `data["certificates"]`, CertificateHashData.

    None installed (the charger's NotFound) is an accepted, empty list. `use` None asks
    for every kind (2.x; 1.6 must name one).
    """

    use: CertificateUse | None = CertificateUse.CSMS_ROOT


@dataclass(frozen=True, slots=True)
class DeleteCertificate:
    """Delete an installed certificate, named as GetInstalledCertificateIds named it."""

    hash_data: CertificateHashData


@dataclass(frozen=True, slots=True)
class RequestCertificateSigning:
    """Ask the charger for a new CSR for its client certificate (renewal).

    2.x TriggerMessage SignChargingStationCertificate, 1.6 ExtendedTriggerMessage
    SignChargePointCertificate; the CSR then comes as a SignCertificate.
    """


@dataclass(frozen=True, slots=True)
class CertificateSigned:
    """Send a charger the client certificate chain signed from its CSR (the engine's own)."""

    chain_pem: str
    request_id: int | None = None  # 2.1: the SignCertificate's requestId, echoed


@dataclass(frozen=True, slots=True)
class SetNetworkProfile:
    """2.x: store a way to reach the central system in one of the charger's slots.

    Used before moving a charger to another security profile: the slot is then put
    first in `OCPPCommCtrlr/NetworkConfigurationPriority` and the charger restarted.
    """

    slot: int
    csms_url: str  # without the charger's id, which the charger appends
    security_profile: int
    ocpp_interface: str = "Wired0"
    message_timeout_s: int = 30


Command = (
    RemoteStart
    | RemoteStop
    | Reset
    | UnlockConnector
    | ChangeAvailability
    | GetConfiguration
    | SetConfiguration
    | GetBaseReport
    | TriggerMessage
    | SetChargingProfile
    | ClearChargingProfile
    | GetChargingProfiles
    | GetCompositeSchedule
    | SendLocalList
    | GetLocalListVersion
    | ClearCache
    | ReserveNow
    | CancelReservation
    | UpdateFirmware
    | UploadDiagnostics
    | DataTransfer
    | InstallCertificate
    | GetInstalledCertificateIds
    | DeleteCertificate
    | RequestCertificateSigning
    | CertificateSigned
    | SetNetworkProfile
)


@dataclass(frozen=True, slots=True)
class Call:
    """An encoded command: the CALL to send and how to read its answer.

    By default the answer's `status` is compared with `accepted`. `decode`, when
    given, reads the whole answer instead (answers without a status, or with data).
    """

    action: str
    payload: dict[str, Any]
    accepted: frozenset[str] = frozenset({"Accepted"})
    decode: Callable[[dict[str, Any]], CommandResult] | None = None


def status_result(
    status: str, accepted: frozenset[str], data: dict[str, Any] | None = None
) -> CommandResult:
    """The result of a charger's status word."""
    if status in accepted:
        return CommandResult(CommandStatus.ACCEPTED, status, data or {})
    if status in ("NotImplemented", "NotSupported"):
        return CommandResult(CommandStatus.NOT_SUPPORTED, status, data or {})
    return CommandResult(CommandStatus.REJECTED, status, data or {})
