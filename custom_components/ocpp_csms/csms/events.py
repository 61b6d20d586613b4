"""Typed events the engine reports to its one listener (the Home Assistant hub).

Each event names the station it concerns, so the listener can update that station's
entities and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .authorization import AuthorizationDecision
from .certificates import CertificateFacts, CsrProblem
from .meter_sanity import RegisterAnomaly
from .station import Evse, SecurityEvent, Station, Transaction


class Change(StrEnum):
    """What changed: the one vocabulary of the engine's events and the entities.

    `StationUpdated.changed` and `EvseUpdated.changed` name members of it, and every
    entity says which of them can alter what it shows (`follows` in the Home Assistant
    layer). The same word in a station's and an EVSE's event means that scope's field
    (a station's status is 1.6 connector 0's).
    """

    # A station's own fields.
    BOOT = "boot"
    REGISTRATION = "registration"
    LAST_HEARTBEAT = "last_heartbeat"
    FIRMWARE_STATUS = "firmware_status"
    DIAGNOSTICS_STATUS = "diagnostics_status"
    CAPABILITIES = "capabilities"
    CONFIGURATION = "configuration"
    RESERVATIONS = "reservations"
    QUIRKS = "quirks"
    # One of its EVSEs' status changed (told to the station's own entities).
    EVSE_STATUS = "evse_status"
    # A station's or an EVSE's status.
    STATUS = "status"
    # An EVSE's fields.
    MEASUREMENTS = "measurements"
    TRANSACTION = "transaction"
    EXTERNAL_LIMIT = "external_limit"
    EV_CHARGING_NEEDS = "ev_charging_needs"
    # A running session of the EVSE got new readings or a new charging state.
    SESSION_PROGRESS = "session_progress"
    # Load balancing gave an EVSE another share, or the site's figures changed.
    ALLOCATION = "allocation"
    # A charger's weekly schedule changed (the site's calendar shows the schedules).
    SCHEDULES = "schedules"
    # The charger reported something event entities show (a session's start or end, a
    # tag): the engine event comes with the change.
    REPORTED = "reported"
    # The client certificate we signed for a station, and its answer (profile 3); with
    # it, what is known of the station's certificate (`Station.known_certificate`).
    CLIENT_CERTIFICATE = "client_certificate"


@dataclass(frozen=True, slots=True)
class StationConnected:
    """A station opened a connection."""

    station: Station


@dataclass(frozen=True, slots=True)
class StationDisconnected:
    """A station's connection ended (and no newer one replaced it)."""

    station: Station


@dataclass(frozen=True, slots=True)
class StationUpdated:
    """Station-level fields named in `changed` changed (boot, registration, firmware...)."""

    station: Station
    changed: frozenset[Change]


@dataclass(frozen=True, slots=True)
class AdmissionRequested:
    """An unknown station booted and waits, Pending, for the user's decision."""

    station: Station


@dataclass(frozen=True, slots=True)
class StationAutoAdmitted:
    """The accept-all policy admitted an unknown station; the listener should keep it."""

    station: Station


@dataclass(frozen=True, slots=True)
class EvseUpdated:
    """Fields of one EVSE (1.6: connector) named in `changed` changed.

    Emitted once per message that changes what an EVSE shows, its transaction
    included; the transaction events below are for transaction consumers (session
    events, the journal) and come in addition, not instead.
    """

    station: Station
    evse: Evse
    changed: frozenset[Change]


@dataclass(frozen=True, slots=True)
class TransactionStarted:
    """A transaction began (or was first reported, for an offline one)."""

    station: Station
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransactionUpdated:
    """A running transaction got new meter values or a new charging state."""

    station: Station
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransactionEnded:
    """A transaction ended; its energy and times are final."""

    station: Station
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class RegisterImplausible:
    """A session's energy register fell, jumped or changed unit (see `meter_sanity`).

    Told once per session and kind; the session keeps its plausible figures and the
    note (`Transaction.meter_notes`), which the journal records with it.
    """

    station: Station
    transaction: Transaction
    anomaly: RegisterAnomaly


@dataclass(frozen=True, slots=True)
class LateTransactionMessage:
    """A message came for a transaction already closed (a replay); nothing changed."""

    station: Station
    transaction_id: str
    action: str


@dataclass(frozen=True, slots=True)
class TagPresented:
    """A tag (idTag / idToken) was presented and decided on."""

    station: Station
    evse_id: int | None
    id_tag: str
    token_type: str | None
    decision: AuthorizationDecision


@dataclass(frozen=True, slots=True)
class SecurityEventReported:
    """The station reported a security event."""

    station: Station
    event: SecurityEvent


@dataclass(frozen=True, slots=True)
class DataTransferReceived:
    """The station sent a vendor-specific DataTransfer."""

    station: Station
    vendor_id: str
    message_id: str | None
    data: Any


@dataclass(frozen=True, slots=True)
class StationNotice:
    """Something reported that has no model field of its own.

    For example 2.x NotifyEvent or ReportChargingProfiles: `kind` names it, `data`
    carries it as sent.
    """

    station: Station
    kind: str
    data: Any


@dataclass(frozen=True, slots=True)
class CertificateRefused:
    """We did not sign a station's certificate signing request, for `problem`.

    No CertificateSigned went out: the station keeps the certificate it had (if any).
    A repair or a log line is the listener's to make; the engine counts it in the
    station's warnings (`certificate_refused`).
    """

    station: Station
    problem: CsrProblem


class RenewalFailure(StrEnum):
    """Why a client certificate was not renewed (see `certificate_renewal`)."""

    TRIGGER_REJECTED = "trigger_rejected"  # it refused to send a new CSR
    TRIGGER_NOT_SUPPORTED = "trigger_not_supported"  # it cannot be asked for one
    NO_ANSWER = "no_answer"  # it did not answer the request (timed out, failed)
    NO_CSR = "no_csr"  # it accepted, but no CSR came in time
    CSR_REFUSED = "csr_refused"  # the CSR it sent did not pass our checks
    NOT_INSTALLED = "not_installed"  # it did not accept the certificate we signed
    EXPIRED = "expired"  # the certificate expired before a renewal succeeded


@dataclass(frozen=True, slots=True)
class CertificateRenewalFailed:
    """A station's client certificate was not renewed, for `reason` (or it expired).

    `detail` is the charger's word or the CSR's problem (may be empty); `expires` the
    end of the certificate it still has; `retry_at` when renewal is tried again.
    """

    station: Station
    reason: RenewalFailure
    detail: str
    expires: datetime
    retry_at: datetime | None


@dataclass(frozen=True, slots=True)
class CertificateRenewed:
    """A station that was being renewed (or had failed to be) holds a newer certificate."""

    station: Station
    facts: CertificateFacts


Event = (
    StationConnected
    | StationDisconnected
    | StationUpdated
    | AdmissionRequested
    | StationAutoAdmitted
    | EvseUpdated
    | TransactionStarted
    | TransactionUpdated
    | TransactionEnded
    | RegisterImplausible
    | LateTransactionMessage
    | TagPresented
    | SecurityEventReported
    | DataTransferReceived
    | StationNotice
    | CertificateRefused
    | CertificateRenewalFailed
    | CertificateRenewed
)
