"""The version-neutral model of a charging station as the central system sees it.

Nothing here knows an OCPP message name or field spelling: the version adapters
(`ocpp16`, `ocpp201`) translate messages into changes of these objects. Units are
normalised on the way in: energy in Wh, power in W, current in A, voltage in V,
temperature in degrees Celsius, state of charge in percent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .certificates import CertificateFacts
from .meter_sanity import MeterNote, RegisterTrack
from .quirks import Quirks
from .reservations import Reservations
from .station_facts import BootInfo, Capabilities


class OcppVersion(StrEnum):
    """A protocol version, valued by its WebSocket subprotocol name."""

    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"

    @property
    def is_2x(self) -> bool:
        """Whether this version belongs to the 2.x family (2.0.1 and 2.1)."""
        return self is not OcppVersion.V16


# Subprotocols in order of preference when a charger offers several.
SUBPROTOCOL_PREFERENCE: tuple[OcppVersion, ...] = (
    OcppVersion.V21,
    OcppVersion.V201,
    OcppVersion.V16,
)


class RegistrationStatus(StrEnum):
    """The answer the central system gave to the station's last boot."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class ConnectorStatus(StrEnum):
    """One status vocabulary for 1.6 connectors and 2.x EVSEs."""

    AVAILABLE = "available"
    PREPARING = "preparing"  # plugged in or authorised, not charging yet
    CHARGING = "charging"
    SUSPENDED_EV = "suspended_ev"  # the car does not take energy
    SUSPENDED_EVSE = "suspended_evse"  # the charger does not offer energy
    FINISHING = "finishing"  # transaction over, still plugged in
    OCCUPIED = "occupied"  # 2.x: in use, no finer state known
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"
    UNKNOWN = "unknown"


# Statuses in which a vehicle is plugged in.
PLUGGED_IN = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
        ConnectorStatus.OCCUPIED,
    }
)


class Measurand(StrEnum):
    """The measurands the model keeps, named as OCPP names them."""

    ENERGY_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_EXPORT_REGISTER = "Energy.Active.Export.Register"
    ENERGY_IMPORT_INTERVAL = "Energy.Active.Import.Interval"
    POWER_IMPORT = "Power.Active.Import"
    POWER_EXPORT = "Power.Active.Export"
    POWER_OFFERED = "Power.Offered"
    CURRENT_IMPORT = "Current.Import"
    CURRENT_EXPORT = "Current.Export"
    CURRENT_OFFERED = "Current.Offered"
    VOLTAGE = "Voltage"
    FREQUENCY = "Frequency"
    SOC = "SoC"
    TEMPERATURE = "Temperature"
    POWER_FACTOR = "Power.Factor"
    RPM = "RPM"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One value, normalised to the model's unit for its measurand."""

    value: float
    unit: str
    timestamp: datetime
    measurand: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None


@dataclass(slots=True)
class MeterSample:
    """A transaction's meter readings at one moment (what a charging period needs)."""

    timestamp: datetime
    energy_wh: float | None = None
    power_w: float | None = None
    current_a: float | None = None
    soc: float | None = None


class TransactionState(StrEnum):
    """Where a transaction is in its life."""

    ACTIVE = "active"
    COMPLETED = "completed"


# How many samples a transaction keeps in memory; the journal keeps them all
# (it takes the new ones after every message, so a few suffice).
MAX_SAMPLES_IN_MEMORY = 64


@dataclass(slots=True)
class Transaction:
    """One charging session as the charger reported it."""

    id: str  # 1.6: issued by the central system; 2.x: the charger's transactionId
    evse_id: int
    connector_id: int
    started_at: datetime
    id_tag: str | None = None
    id_tag_type: str | None = None  # 2.x idToken type (ISO14443, Central, ...); 1.6: None
    tag_name: str | None = None  # the name the tag registry knows the tag by
    # The starting tag's own maximum current (its "user profile"), if it has one.
    max_current_a: float | None = None
    authorized: bool = True  # whether the central system accepted the starting tag
    # The register at the start, the latest reading after it, and at the stop, as the
    # session counts them (`meter_sanity`: continuous, in the start's unit). None: no
    # reading of it; `last_register_wh` stays None until a reading after the start.
    meter_start_wh: float | None = None
    meter_stop_wh: float | None = None
    last_register_wh: float | None = None
    # How the session reads its register, and why its energy is not simply the last
    # reading less the first (falls, jumps and unit mix-ups left out or rescaled).
    register: RegisterTrack = field(default_factory=RegisterTrack)
    meter_notes: set[MeterNote] = field(default_factory=set)
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    # Whether the stop tag may end this session (same tag or group); None: not asked.
    stop_allowed: bool | None = None
    state: TransactionState = TransactionState.ACTIVE
    offline: bool = False  # reported after the fact by a charger that was offline
    charging_state: str | None = None  # 2.x: Charging, EVConnected, SuspendedEV, ...
    seq_no: int = -1  # 2.x: the last TransactionEvent sequence number seen
    # 2.x: the latest TransactionEvents seen, by (seqNo, eventType, timestamp, trigger,
    # a digest of the whole payload), to recognise one sent again; not journaled (after
    # a restart a repeat is applied again, which readings of absolute registers survive).
    event_marks: deque[tuple[object, ...]] = field(default_factory=lambda: deque(maxlen=16))
    # 2.x: the time of the newest TransactionEvent applied (not journaled).
    last_event_at: datetime | None = None
    samples: deque[MeterSample] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES_IN_MEMORY))

    @property
    def energy_wh(self) -> float | None:
        """Energy delivered so far (or in all, once stopped); None when unknown.

        Unknown unless a reading gives the start and a later one the end (or so far):
        never 0 for want of evidence. The start is the reading at the start (1.6
        meterStart, the register in the message that began a 2.x transaction), else the
        EVSE's last reading before it, else the first during the session once a later
        one comes (`meter_notes` then says so). The values are continuous, so a register
        that fell or jumped mid-session costs only the steps left out; the floor at 0
        only guards sessions journaled before that.
        """
        end = self.meter_stop_wh if self.meter_stop_wh is not None else self.last_register_wh
        if end is None or self.meter_start_wh is None:
            return None
        return max(end - self.meter_start_wh, 0.0)

    @property
    def active(self) -> bool:
        """Whether the transaction is still running."""
        return self.state is TransactionState.ACTIVE


@dataclass(slots=True)
class Evse:
    """A 1.6 connector or a 2.x EVSE: the unit that meters and runs transactions."""

    id: int
    status: ConnectorStatus = ConnectorStatus.UNKNOWN
    # The status before the last change: whether a car was just plugged in.
    previous_status: ConnectorStatus = ConnectorStatus.UNKNOWN
    error_code: str | None = None
    error_info: str | None = None
    vendor_error_code: str | None = None
    status_at: datetime | None = None
    # 2.x: the status of each connector of the EVSE, by connector id.
    connector_status: dict[int, ConnectorStatus] = field(default_factory=dict)
    # Latest value by (measurand, phase).
    measurements: dict[tuple[str, str | None], Measurement] = field(default_factory=dict)
    transaction: Transaction | None = None
    # The transaction that ran here last, once ended (for "last session" readings).
    last_transaction: Transaction | None = None
    # A limit the charger reports from an external source (2.x NotifyChargingLimit).
    external_limit: dict[str, object] | None = None
    # What the car asked for (2.x NotifyEVChargingNeeds).
    ev_charging_needs: dict[str, object] | None = None

    def value(self, measurand: str, phase: str | None = None) -> float | None:
        """The latest value of a measurand (and phase), or None."""
        found = self.measurements.get((measurand, phase))
        return found.value if found else None


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """A security event the station reported."""

    type: str
    timestamp: datetime
    tech_info: str | None = None


# Bounds on what one charger can make us hold. Each EVSE (1.6: connector) costs Home
# Assistant about a dozen entities, so a message naming an id beyond the bound is
# refused instead of creating one. The bound is 8 (more than any home or small-site
# charger has), or what the charger reported of itself when that is more (a pedestal
# with many sockets), never beyond 64.
MAX_EVSE_ID = 8
MAX_REPORTED_EVSE_ID = 64
MAX_CONNECTOR_ID = 8
# Reported configuration settings kept per station (a 2.x base report of a real charger
# has a few hundred variables).
MAX_SETTINGS = 5000


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """The client certificate we last signed for a station, and what it answered."""

    facts: CertificateFacts  # fingerprint, serial and validity: never a key
    installed: bool  # whether it answered CertificateSigned with Accepted
    answer: str  # its word (Accepted, Rejected), or how the command ended (timed_out)
    at: datetime


@dataclass(slots=True)
class Station:
    """One charging station, connected or not, known or waiting for admission."""

    id: str
    version: OcppVersion = OcppVersion.V16
    boot: BootInfo | None = None
    registration: RegistrationStatus | None = None
    connected: bool = False
    remote_address: str | None = None
    # The URL it connected to, without its id (Host header and path; see
    # `server.central_system_url`): where it is told to connect after a profile change.
    central_system_url: str | None = None
    last_seen: datetime | None = None
    last_heartbeat: datetime | None = None
    # Station-wide status (1.6 connector 0).
    status: ConnectorStatus = ConnectorStatus.UNKNOWN
    error_code: str | None = None
    evses: dict[int, Evse] = field(default_factory=dict)
    firmware_status: str | None = None
    firmware_request_id: int | None = None
    diagnostics_status: str | None = None  # 1.6 diagnostics / 2.x log upload
    log_request_id: int | None = None
    security_events: deque[SecurityEvent] = field(default_factory=lambda: deque(maxlen=50))
    # The reservations the station holds for us (see `reservations`).
    reservations: Reservations = field(default_factory=Reservations)
    # Configuration as the station reports it: 1.6 key -> value; 2.x
    # "Component[/instance][@evse]/Variable[/instance]" -> value.
    configuration: dict[str, str | None] = field(default_factory=dict)
    # Settings the station reported as read-only (1.6 readonly, 2.x ReadOnly mutability).
    read_only_settings: set[str] = field(default_factory=set)
    # 2.x: the values a setting may take, where the station listed them (valuesList).
    setting_choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Learnt after each boot; None until then.
    capabilities: Capabilities | None = None
    # How this kind of charger deviates from the specification (see `quirks`): chosen
    # at each boot from what it says it is, or named in its settings.
    quirks: Quirks = field(default_factory=Quirks)
    # When we last wrote its configuration (monotonic seconds), and how many boots in a
    # row came right after such a write (see `StationAdapter.apply_meter_settings`).
    configuration_written_at: float | None = None
    reboots_after_configuration: int = 0
    # Counts of schema quirks accepted from this station, by kind; shown in diagnostics.
    warnings: dict[str, int] = field(default_factory=dict)
    # Transactions closed lately: messages about them are replays, never counted twice.
    closed_transactions: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    # 1.6 StartTransactions seen lately, (connector, tag, timestamp) -> transaction id,
    # so that a start the charger sends again gets the same id.
    recent_starts: dict[tuple[int, str, str], str] = field(default_factory=dict)
    # The client certificate we last signed for it (security profile 3), in this run.
    client_certificate: ClientCertificate | None = None
    # The newest client certificate known to be its own (facts, never a key): presented
    # in its TLS handshake, accepted from us, or remembered from an earlier run (see
    # `certificate_renewal`). What its renewal watches.
    known_certificate: CertificateFacts | None = None

    @property
    def accepted(self) -> bool:
        """Whether the station has been accepted and may send any message."""
        return self.registration is RegistrationStatus.ACCEPTED

    def accepts_evse_id(self, evse_id: int) -> bool:
        """Whether an EVSE (1.6: connector) id is one this station may have.

        Ids it has are; a new one up to MAX_EVSE_ID, or up to what the station reported
        of itself when that is more (never beyond MAX_REPORTED_EVSE_ID). A charger
        that reports fewer than it uses is not held to its report: refusing would lose
        its sessions.
        """
        if evse_id in self.evses:
            return True
        reported = self.capabilities.number_of_evses if self.capabilities else None
        highest = max(MAX_EVSE_ID, min(reported or 0, MAX_REPORTED_EVSE_ID))
        return 0 <= evse_id <= highest

    def remember_setting(self, name: str, value: str | None, *, read_only: bool) -> None:
        """Record a configuration setting the station reported (bounded in number)."""
        if name not in self.configuration and len(self.configuration) >= MAX_SETTINGS:
            self.warn("too_many_settings")
            return
        self.configuration[name] = value
        if read_only:
            self.read_only_settings.add(name)
        else:
            self.read_only_settings.discard(name)

    def remember_choices(self, name: str, choices: tuple[str, ...]) -> None:
        """Record the values a setting may take (bounded like the settings)."""
        if name in self.setting_choices or len(self.setting_choices) < MAX_SETTINGS:
            self.setting_choices[name] = choices[:100]

    def evse(self, evse_id: int) -> Evse:
        """The EVSE (1.6: connector) with this id, created when first mentioned."""
        found = self.evses.get(evse_id)
        if found is None:
            found = self.evses[evse_id] = Evse(evse_id)
        return found

    def warn(self, kind: str) -> None:
        """Count one accepted quirk of `kind`."""
        self.warnings[kind] = self.warnings.get(kind, 0) + 1

    def transaction(self, transaction_id: str) -> Transaction | None:
        """The active transaction with this id, on any EVSE."""
        for evse in self.evses.values():
            if evse.transaction is not None and evse.transaction.id == transaction_id:
                return evse.transaction
        return None
