"""What every protocol-version adapter shares.

An adapter links one connected station, its RPC conversation and the central system
that hosts it.

A version adapter (`ocpp16`, `ocpp201`) is the only place that knows message names and
field spellings. It turns the charger's messages into changes of the `Station` model
and reports them as events through its `StationHost`; it turns commands ("start on
connector 1") into CALLs and their answers into a `CommandResult`.
"""

from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .commands import (
    Call,
    Command,
    CommandResult,
    CommandStatus,
    TriggerMessage,
    status_result,
)
from .events import (
    Change,
    DataTransferReceived,
    EvseUpdated,
    LateTransactionMessage,
    RegisterImplausible,
    SecurityEventReported,
    StationUpdated,
    TransactionEnded,
    TransactionUpdated,
)
from .learning import CapabilityLearning
from .log_budget import shorten
from .meter_sanity import RegisterAnomaly
from .metering import apply_readings
from .ocppj import parse_time, utc_now_text
from .quirks import adapt_command, command_timeout
from .reservation_upkeep import follow_command
from .reservations import ReservationStatus
from .rpc import RpcConnection
from .rpc_types import CallError, CallOutcome, ErrorCode, Handler, OutcomeStatus, Reply
from .schemas import VersionSchemas
from .station import (
    MAX_CONNECTOR_ID,
    ConnectorStatus,
    Evse,
    Measurement,
    OcppVersion,
    RegistrationStatus,
    SecurityEvent,
    Station,
    Transaction,
    TransactionState,
)
from .station_facts import BootInfo
from .station_host import StationHost
from .tag_presentation import TagPresentation

_LOGGER = logging.getLogger(__name__)

# What a meter message changes on its EVSE: the readings, and a running session's.
_MEASUREMENTS = frozenset({Change.MEASUREMENTS})
_MEASUREMENTS_AND_SESSION = frozenset({Change.MEASUREMENTS, Change.SESSION_PROGRESS})


# Answers to a CALL that mean "this charger does not do that".
_UNSUPPORTED_ERRORS = frozenset({"NotImplemented", "NotSupported"})


def result_from_outcome(
    outcome: CallOutcome,
    accepted: frozenset[str],
    decode: Callable[[dict[str, Any]], CommandResult] | None = None,
) -> CommandResult:
    """Map a CALL's outcome onto a `CommandResult`."""
    match outcome.status:
        case OutcomeStatus.TIMEOUT:
            return CommandResult(CommandStatus.TIMED_OUT)
        case OutcomeStatus.OFFLINE:
            return CommandResult(CommandStatus.OFFLINE)
        case OutcomeStatus.ERROR:
            status = (
                CommandStatus.NOT_SUPPORTED
                if outcome.error_code in _UNSUPPORTED_ERRORS
                else CommandStatus.FAILED
            )
            return CommandResult(status, f"{outcome.error_code}: {outcome.error_description}")
    if decode is not None:
        try:
            return decode(outcome.payload)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
            # Answers are read leniently (see `RpcConnection`), so one can lack what
            # its decoder needs: the command failed, nothing else did.
            return CommandResult(
                CommandStatus.FAILED, f"The charger's answer could not be read ({err!r:.100})"
            )
    return status_result(str(outcome.payload.get("status", "")), accepted, outcome.payload)


class RepeatedAnswer(dict[str, Any]):
    """Our answer to a message the charger sent again because it missed the first answer.

    On the wire the same as any answer; what is told of it (`RpcConnection.on_answered`)
    can tell it apart: the forwarding to an upstream relays the message once only.
    """


class StationAdapter(CapabilityLearning, TagPresentation, ABC):
    """One connected station speaking one protocol version.

    What it can do is learnt after each boot (`CapabilityLearning`); the tags it
    presents are decided and reported by `TagPresentation`.
    """

    version: OcppVersion
    _host: StationHost

    def __init__(
        self,
        station: Station,
        websocket: Any,
        schemas: VersionSchemas,
        host: StationHost,
        *,
        call_timeout: float,
    ) -> None:
        """Wire the adapter to its socket; `serve` runs the conversation."""
        self.station = station
        self._host = host
        self.rpc = RpcConnection(
            websocket, schemas, self, label=f"Charger {station.id}", call_timeout=call_timeout
        )
        self._handlers: dict[str, Handler] = self._build_handlers()
        # Whether the charger sent a BootNotification on this connection (its answer
        # then brings the follow-ups; see `Connections._follow_up_reconnect`).
        self.booted = False

    @abstractmethod
    def _build_handlers(self) -> dict[str, Handler]:
        """Map the actions this version handles to their handlers."""

    # -- Dispatcher ---------------------------------------------------------------------

    def handler_for(self, action: str) -> Handler | None:
        """The handler of a CALL, refusing all but a boot until the station is accepted."""
        if not self.station.accepted and action != "BootNotification":
            return _refuse_until_accepted
        self.station.last_seen = datetime.now(UTC)
        handler = self._handlers.get(action)
        return None if handler is None else functools.partial(self._within_bounds, handler)

    def _within_bounds(self, handler: Handler, payload: dict[str, Any]) -> Any:
        """Run `handler` unless the payload names an EVSE or connector the station lacks.

        Checked before the handler changes anything: an id beyond the bounds would
        otherwise create an EVSE, and its entities, per message.
        """
        for path, evse_id, is_connector in self._ids_in(payload):
            if not isinstance(evse_id, int):
                continue
            fits = (
                0 <= evse_id <= MAX_CONNECTOR_ID
                if is_connector
                else self.station.accepts_evse_id(evse_id)
            )
            if not fits:
                self.station.warn("id_out_of_range")
                raise CallError(
                    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
                    f"{path} {evse_id} is beyond what this charger has",
                    {"path": path},
                )
        return handler(payload)

    @abstractmethod
    def _ids_in(self, payload: dict[str, Any]) -> list[tuple[str, Any, bool]]:
        """The EVSE and connector ids a request names: (path, id, whether a connector)."""

    def accept_quirks(self, action: str, quirks: list[str]) -> None:
        """Count quirks accepted from this station; say so once per kind."""
        for kind in quirks:
            if kind not in self.station.warnings:
                _LOGGER.warning(
                    "Charger %s: accepted a %s that bends the OCPP schema (%s); "
                    "further ones are counted in its diagnostics",
                    self.station.id,
                    shorten(action, 50) or "message",
                    kind.replace("_", " "),
                )
            self.station.warn(kind)

    def refused(self, action: str, kind: str) -> None:
        """Count a frame refused at the boundary or by its schema (the rpc layer logs it)."""
        self.station.warn(f"refused_{kind}")

    # -- life cycle -----------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the conversation until the socket closes.

        Then let go of the handlers (bound methods: references back to this adapter),
        as the RPC layer lets go of its dispatcher: nothing of a connection that ended
        is left in a reference cycle, so it is freed as soon as the central system drops
        it. Left to the cycle collector, the objects of a thousand connections that end
        together (a reconnect storm) are freed in one pass over all of Home Assistant's
        heap, which stopped its event loop for about a second.
        """
        try:
            await self.rpc.serve()
        finally:
            self._handlers = {}

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket."""
        await self.rpc.close(code, reason)

    # -- shared message handling --------------------------------------------------------

    def _time(self, value: Any) -> datetime:
        """A timestamp from the charger; now (and a warning) when it is unreadable."""
        moment = parse_time(value)
        if moment is None:
            if value is not None:
                self.station.warn("bad_timestamp")
            return datetime.now(UTC)
        return moment

    def _answer_boot(self, info: BootInfo) -> Reply:
        """Record what the station said about itself and answer its boot.

        The payload of the answer is the same in 1.6 and 2.x.
        """
        self.station.boot = info
        self.booted = True
        self._count_reboot_after_configuration()
        decision = self._host.decide_boot(self.station)
        self._host.emit(StationUpdated(self.station, frozenset({Change.BOOT, Change.REGISTRATION})))
        learn = decision.status is RegistrationStatus.ACCEPTED and self._host.learn_capabilities
        return Reply(
            {
                "status": decision.status.value,
                "currentTime": utc_now_text(),
                "interval": decision.interval,
            },
            # A (re)boot may have changed firmware and settings: learn them again.
            after=self.learn_capabilities if learn else None,
        )

    def _on_heartbeat(self, _payload: dict[str, Any]) -> Reply:
        """Answer a heartbeat; its shape is the same in 1.6 and 2.x."""
        self.station.last_heartbeat = datetime.now(UTC)
        self._host.emit(StationUpdated(self.station, frozenset({Change.LAST_HEARTBEAT})))
        return Reply({"currentTime": utc_now_text()})

    def _report_firmware_status(self, status: str) -> None:
        """A firmware update moved on (1.6, its security extension, 2.x alike)."""
        self.station.firmware_status = status
        self._host.emit(StationUpdated(self.station, frozenset({Change.FIRMWARE_STATUS})))

    def _report_upload_status(self, status: str) -> None:
        """A diagnostics (1.6) or log (2.x) upload moved on."""
        self.station.diagnostics_status = status
        self._host.emit(StationUpdated(self.station, frozenset({Change.DIAGNOSTICS_STATUS})))

    def _record_security_event(self, payload: dict[str, Any]) -> Reply:
        """SecurityEventNotification: the same shape in 1.6 (security extension) and 2.x."""
        event = SecurityEvent(
            type=payload["type"],
            timestamp=self._time(payload.get("timestamp")),
            tech_info=payload.get("techInfo"),
        )
        self.station.security_events.append(event)
        self._host.emit(SecurityEventReported(self.station, event))
        return Reply({})

    def _receive_data_transfer(self, payload: dict[str, Any]) -> Reply:
        """DataTransfer: reported as an event; no vendor extension is understood here."""
        self._host.emit(
            DataTransferReceived(
                self.station, payload["vendorId"], payload.get("messageId"), payload.get("data")
            )
        )
        return Reply({"status": "UnknownVendorId"})

    def _set_evse_status(
        self,
        evse_id: int,
        status: ConnectorStatus,
        timestamp: datetime,
        *,
        error_code: str | None = None,
        error_info: str | None = None,
        vendor_error_code: str | None = None,
    ) -> None:
        evse = self.station.evse(evse_id)
        if status is not evse.status:
            evse.previous_status = evse.status
        evse.status = status
        evse.status_at = timestamp
        evse.error_code = error_code
        evse.error_info = error_info
        evse.vendor_error_code = vendor_error_code
        self._host.emit(EvseUpdated(self.station, evse, frozenset({Change.STATUS})))

    def _finish_transaction(
        self,
        transaction: Transaction,
        *,
        stopped_at: datetime,
        reason: str | None,
        stop_id_tag: str | None = None,
    ) -> None:
        """Close a transaction and report it, once.

        Its stop is the last register reading it counted (a 1.6 meterStop is taken as
        one first); none after the start leaves the energy unknown, not 0.
        """
        transaction.stopped_at = stopped_at
        transaction.stop_reason = reason
        transaction.stop_id_tag = stop_id_tag
        if stop_id_tag and transaction.id_tag:
            transaction.stop_allowed = self._host.may_stop(transaction.id_tag, stop_id_tag)
            if not transaction.stop_allowed:
                # The charger let another group's tag end the session: its own check
                # (parentIdTag / groupIdToken) is off or broken. Say so, keep the stop.
                _LOGGER.warning(
                    "Charger %s: tag %s ended session %s, which tag %s of another group started",
                    self.station.id,
                    stop_id_tag,
                    transaction.id,
                    transaction.id_tag,
                )
                self.station.warn("stopped_by_other_group")
        if transaction.meter_stop_wh is None:
            transaction.meter_stop_wh = transaction.last_register_wh
        transaction.state = TransactionState.COMPLETED
        evse = self.station.evses.get(transaction.evse_id)
        if evse is not None and evse.transaction is transaction:
            evse.transaction = None
            evse.last_transaction = transaction
            # What the car stated was for this session; the next car states its own.
            evse.ev_charging_needs = None
        self.station.closed_transactions.append(transaction.id)
        self._host.emit(TransactionEnded(self.station, transaction))

    def _end_reservation(self, reservation_id: Any, status: ReservationStatus) -> None:
        """A reservation the charger names ended (used by a transaction, or as it says).

        One we do not hold (made before a restart, or by someone else) changes nothing.
        """
        if isinstance(reservation_id, int) and self.station.reservations.end(
            reservation_id, status
        ):
            self._reservations_changed()

    def _reservations_changed(self) -> None:
        self._host.emit(StationUpdated(self.station, frozenset({Change.RESERVATIONS})))

    def _take_readings(
        self, evse: Evse, transaction: Transaction | None, readings: list[Measurement]
    ) -> None:
        """A MeterValues message: the EVSE's readings, and a running session's progress.

        One EvseUpdated tells the EVSE's entities both; TransactionUpdated is for the
        journal and the charger's session totals.
        """
        applied = apply_readings(evse, readings, transaction)
        if not applied.recorded:
            return
        changed = _MEASUREMENTS if transaction is None else _MEASUREMENTS_AND_SESSION
        self._host.emit(EvseUpdated(self.station, evse, changed))
        if transaction is not None:
            self._report_register_anomalies(transaction, applied.anomalies)
            self._host.emit(TransactionUpdated(self.station, transaction))

    def _report_register_anomalies(
        self, transaction: Transaction, anomalies: list[RegisterAnomaly]
    ) -> None:
        """Count each implausible register reading; tell the first of each kind per session.

        The session has already left it out (or rescaled it); this is for the user.
        """
        for anomaly in anomalies:
            kind = f"meter_{anomaly.note}"
            if kind not in self.station.warnings:
                _LOGGER.warning(
                    "Charger %s: session %s's energy register went from %.6g Wh to %.6g Wh"
                    " at %s (%s); the session counts only plausible readings. Further ones"
                    " are counted in its diagnostics",
                    self.station.id,
                    shorten(transaction.id, 50),
                    anomaly.last_wh,
                    anomaly.read_wh,
                    anomaly.at.isoformat(),
                    anomaly.note.replace("_", " "),
                )
            self.station.warn(kind)
            if anomaly.first_of_kind:
                self._host.emit(RegisterImplausible(self.station, transaction, anomaly))

    def _is_replay(self, transaction_id: str, action: str) -> bool:
        """Whether a message concerns a transaction this station already closed.

        Such a message is reported (the journal notes it) but changes nothing.
        """
        if transaction_id in self.station.closed_transactions:
            self.station.warn("replayed_transaction_message")
            self._host.emit(LateTransactionMessage(self.station, transaction_id, action))
            return True
        return False

    # -- commands -------------------------------------------------------------------------

    @abstractmethod
    def _encode(self, command: Command) -> Call | CommandResult:
        """The CALL for a command, or a result when the command cannot be sent."""

    async def execute(self, command: Command, *, timeout: float | None = None) -> CommandResult:
        """Send a command and wait, bounded, for its typed result."""
        quirks = self.station.quirks
        encoded = self._encode(adapt_command(quirks, command))
        if isinstance(encoded, CommandResult):
            return encoded
        timeout = command_timeout(quirks, command, timeout)
        outcome = await self.rpc.call(encoded.action, encoded.payload, timeout=timeout)
        result = result_from_outcome(outcome, encoded.accepted, encoded.decode)
        if follow_command(self.station, command, result):
            self._reservations_changed()
        if not result.accepted:
            _LOGGER.info(
                "Charger %s: %s ended %s %s",
                self.station.id,
                encoded.action,
                result.status,
                result.detail,
            )
        return result

    async def request_boot_notification(self) -> CommandResult:
        """Ask the charger to send a BootNotification now."""
        return await self.execute(TriggerMessage("BootNotification"))


def _refuse_until_accepted(_payload: dict[str, Any]) -> Any:
    # OCPP 2.x (B02.FR.09 and friends): before acceptance, anything but a boot is
    # answered with SecurityError. 1.6 leaves it open; the same answer is honest there.
    raise CallError(ErrorCode.SECURITY_ERROR, "The charger is not accepted yet")
