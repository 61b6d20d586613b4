"""OCPP 2.0.1 and 2.1: the charger's messages mapped onto the model, and commands.

2.1 keeps the 2.0.1 shape of every message handled here, so it is a subclass that
only changes the version (and with it the schemas the RPC layer validates against).
EVSE 0 is the station as a whole (its main meter).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from .adapter import StationAdapter
from .authorization import AuthorizationDecision
from .certificate_messages import CertificateSigning, certificate_call
from .commands import Call, Command, CommandResult, GetBaseReport
from .config_values import config_words
from .events import (
    Change,
    EvseUpdated,
    StationNotice,
    StationUpdated,
    TransactionStarted,
    TransactionUpdated,
)
from .metering import apply_readings, reading, register_reading, start_from_earlier
from .metering_setup import MeterKeys
from .ocpp201_capabilities import METER_KEYS, capabilities_from
from .ocpp201_commands import encode, id_token_info, variable_name
from .ocpp201_status import CONNECTOR_STATUS, derive_status
from .reservations import ReservationStatus
from .rpc_types import Handler, Reply
from .station import ConnectorStatus, Evse, Measurement, OcppVersion, Transaction
from .station_facts import BootInfo, Capabilities

_LOGGER = logging.getLogger(__name__)

# How a charger says a reservation ended (ReservationUpdateStatusEnumType).
_RESERVATION_END = {
    "Expired": ReservationStatus.EXPIRED,
    "Removed": ReservationStatus.REMOVED,
}

# How long a base report may take to arrive in full.
REPORT_TIMEOUT_S = 60.0


class Ocpp201Adapter(StationAdapter):
    """A station speaking OCPP 2.0.1."""

    version = OcppVersion.V201

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Set up, with no base report awaited yet."""
        super().__init__(*args, **kwargs)
        self._request_ids = itertools.count(1)
        self._reports: dict[int, asyncio.Future[None]] = {}

    async def _read_capabilities(self) -> Capabilities | None:
        request_id = next(self._request_ids)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reports[request_id] = done
        try:
            result = await self.execute(GetBaseReport(request_id, "FullInventory"))
            if not result.accepted:
                return None
            try:
                await asyncio.wait_for(done, REPORT_TIMEOUT_S)
            except TimeoutError:
                _LOGGER.info("Charger %s: base report incomplete; using its parts", self.station.id)
        finally:
            del self._reports[request_id]
        return capabilities_from(self.station.configuration, self.station.read_only_settings)

    def _meter_keys(self) -> MeterKeys:
        return METER_KEYS

    def _ids_in(self, payload: dict[str, Any]) -> list[tuple[str, Any, bool]]:
        """2.x names EVSEs at the top (`evseId`) or in an EVSE object (`evse`)."""
        found = [
            ("evseId", payload.get("evseId"), False),
            ("connectorId", payload.get("connectorId"), True),
        ]
        if isinstance(evse := payload.get("evse"), dict):
            found.append(("evse/id", evse.get("id"), False))
            found.append(("evse/connectorId", evse.get("connectorId"), True))
        return found

    def _build_handlers(self) -> dict[str, Handler]:
        return {
            "Authorize": self._on_authorize,
            "BootNotification": self._on_boot_notification,
            "ClearedChargingLimit": self._on_cleared_charging_limit,
            "DataTransfer": self._receive_data_transfer,
            "FirmwareStatusNotification": self._on_firmware_status,
            "Heartbeat": self._on_heartbeat,
            "LogStatusNotification": self._on_log_status,
            "MeterValues": self._on_meter_values,
            "NotifyChargingLimit": self._on_notify_charging_limit,
            "NotifyEVChargingNeeds": self._on_notify_ev_charging_needs,
            "NotifyEvent": self._on_notify_event,
            "NotifyReport": self._on_notify_report,
            "ReportChargingProfiles": self._on_report_charging_profiles,
            "ReservationStatusUpdate": self._on_reservation_status_update,
            "SecurityEventNotification": self._record_security_event,
            "StatusNotification": self._on_status_notification,
            "TransactionEvent": self._on_transaction_event,
            "SignCertificate": CertificateSigning(
                self.station, self._host, self.execute
            ).on_sign_certificate,
        }

    def _encode(self, command: Command) -> Call | CommandResult:
        return certificate_call(command, self.version) or encode(command, self.station)

    def _on_boot_notification(self, payload: dict[str, Any]) -> Reply:
        info = payload["chargingStation"]
        return self._answer_boot(
            BootInfo(
                vendor=info["vendorName"],
                model=info["model"],
                serial_number=info.get("serialNumber"),
                firmware_version=info.get("firmwareVersion"),
            )
        )

    def _on_authorize(self, payload: dict[str, Any]) -> Reply | Awaitable[Reply]:
        token = payload["idToken"]
        return self._decide(token["idToken"], None, token.get("type"), _authorize_answer)

    def _on_firmware_status(self, payload: dict[str, Any]) -> Reply:
        self.station.firmware_request_id = payload.get("requestId")
        self._report_firmware_status(payload["status"])
        return Reply({})

    def _on_log_status(self, payload: dict[str, Any]) -> Reply:
        self.station.log_request_id = payload.get("requestId")
        self._report_upload_status(payload["status"])
        return Reply({})

    def _on_status_notification(self, payload: dict[str, Any]) -> Reply:
        evse = self.station.evse(payload["evseId"])
        status = CONNECTOR_STATUS.get(payload["connectorStatus"], ConnectorStatus.UNKNOWN)
        evse.connector_status[payload["connectorId"]] = status
        self._set_evse_status(evse.id, derive_status(evse), self._time(payload["timestamp"]))
        return Reply({})

    def _readings(self, meter_values: list[dict[str, Any]]) -> list[Measurement]:
        found: list[Measurement] = []
        for meter_value in meter_values:
            timestamp = self._time(meter_value.get("timestamp"))
            for sampled in meter_value.get("sampledValue", ()):
                unit_of_measure = sampled.get("unitOfMeasure") or {}
                measurement = reading(
                    float(sampled["value"]),
                    measurand=sampled.get("measurand"),
                    unit=unit_of_measure.get("unit"),
                    multiplier=int(unit_of_measure.get("multiplier", 0)),
                    timestamp=timestamp,
                    phase=sampled.get("phase"),
                    location=sampled.get("location"),
                    context=sampled.get("context"),
                )
                if measurement is None:
                    # A multiplier no meter uses (the boundary made the value finite).
                    self.station.warn("implausible_multiplier")
                    continue
                found.append(measurement)
        return found

    def _on_meter_values(self, payload: dict[str, Any]) -> Reply:
        evse = self.station.evse(payload["evseId"])
        transaction = evse.transaction
        self._take_readings(evse, transaction, self._readings(payload["meterValue"]))
        return Reply({})

    def _on_notify_charging_limit(self, payload: dict[str, Any]) -> Reply:
        evse = self.station.evse(payload.get("evseId", 0))
        evse.external_limit = {key: value for key, value in payload.items() if key != "evseId"}
        self._host.emit(EvseUpdated(self.station, evse, frozenset({Change.EXTERNAL_LIMIT})))
        return Reply({})

    def _on_cleared_charging_limit(self, payload: dict[str, Any]) -> Reply:
        evse = self.station.evse(payload.get("evseId", 0))
        evse.external_limit = None
        self._host.emit(EvseUpdated(self.station, evse, frozenset({Change.EXTERNAL_LIMIT})))
        return Reply({})

    def _on_notify_ev_charging_needs(self, payload: dict[str, Any]) -> Reply:
        evse = self.station.evse(payload["evseId"])
        evse.ev_charging_needs = payload["chargingNeeds"]
        self._host.emit(EvseUpdated(self.station, evse, frozenset({Change.EV_CHARGING_NEEDS})))
        # Accepted only where a schedule will follow: the site's plan for the cheapest mode.
        accepted = self._host.plan_for_car(self.station)
        return Reply({"status": "Accepted" if accepted else "Rejected"})

    def _on_notify_event(self, payload: dict[str, Any]) -> Reply:
        self._host.emit(StationNotice(self.station, "event", payload["eventData"]))
        return Reply({})

    def _on_notify_report(self, payload: dict[str, Any]) -> Reply:
        """A part of a base report: record the actual value of every variable."""
        for item in payload.get("reportData", ()):
            name = variable_name(item["component"], item["variable"])
            characteristics = item.get("variableCharacteristics") or {}
            if values := characteristics.get("valuesList"):
                # The measurands (or other members) the station supports for this one.
                self.station.remember_choices(name, config_words(values))
            for attribute in item.get("variableAttribute", ()):
                if attribute.get("type", "Actual") == "Actual":
                    self.station.remember_setting(
                        name,
                        attribute.get("value"),
                        read_only=attribute.get("mutability") == "ReadOnly",
                    )
        if not payload.get("tbc", False):
            waiting = self._reports.get(payload["requestId"])
            if waiting is not None and not waiting.done():
                waiting.set_result(None)
            else:
                self._host.emit(StationUpdated(self.station, frozenset({Change.CONFIGURATION})))
        return Reply({})

    def _on_report_charging_profiles(self, payload: dict[str, Any]) -> Reply:
        self._host.emit(StationNotice(self.station, "charging_profiles", payload))
        return Reply({})

    def _on_reservation_status_update(self, payload: dict[str, Any]) -> Reply:
        status = _RESERVATION_END.get(payload["reservationUpdateStatus"])
        if status is not None:
            self._end_reservation(payload["reservationId"], status)
        return Reply({})

    # -- transactions -----------------------------------------------------------------

    def _on_transaction_event(self, payload: dict[str, Any]) -> Reply | Awaitable[Reply]:
        token = payload.get("idToken")
        evse_id = (payload.get("evse") or {}).get("id")
        if not token:
            return self._transaction_event(payload, None)
        if payload["eventType"] == "Ended":
            # The session ends whatever the answer: no reason to wait for an upstream.
            decision = self._authorize(token["idToken"], evse_id, token.get("type"))
            return self._transaction_event(payload, decision)
        return self._decide(
            token["idToken"],
            evse_id,
            token.get("type"),
            functools.partial(self._transaction_event, payload),
        )

    def _transaction_event(
        self, payload: dict[str, Any], decision: AuthorizationDecision | None
    ) -> Reply:
        info = payload["transactionInfo"]
        transaction_id: str = info["transactionId"]
        answer: dict[str, Any] = {}
        token = payload.get("idToken")
        evse_ref = payload.get("evse") or {}
        if token and decision is not None:
            answer["idTokenInfo"] = id_token_info(decision)
        if self._is_replay(transaction_id, "TransactionEvent"):
            return Reply(answer)

        transaction = self.station.transaction(transaction_id)
        timestamp = self._time(payload["timestamp"])
        mark = _event_mark(payload)
        is_new = transaction is None
        earlier: Measurement | None = None
        if transaction is None:
            if payload["eventType"] != "Started":
                # Started before we knew (offline, or before a restart).
                self.station.warn("unknown_transaction")
            transaction = Transaction(
                id=transaction_id,
                evse_id=evse_ref.get("id", 0),
                connector_id=evse_ref.get("connectorId", 1),
                started_at=timestamp,
                offline=bool(payload.get("offline", False)),
            )
            evse = self.station.evse(transaction.evse_id)
            earlier = register_reading(evse)
            evse.transaction = transaction
        elif self._is_old_news(transaction, payload, timestamp, mark):
            return Reply(answer)
        transaction.event_marks.append(mark)
        if transaction.last_event_at is None or timestamp > transaction.last_event_at:
            transaction.last_event_at = timestamp

        evse = self.station.evse(transaction.evse_id)
        # The EVSE's `transaction` changes when one begins or ends; what happens within
        # it (readings, charging state) is its progress.
        changed: set[Change] = (
            {Change.TRANSACTION} if is_new or payload["eventType"] == "Ended" else set()
        )
        # The tag that authorizes a session may come with its start or any event after.
        tag_limit = (
            self._tag_limit_after_start(transaction, decision)
            if transaction.id_tag is None
            else None
        )
        if self._apply_transaction_event(
            evse, transaction, payload, token, decision, opening=is_new
        ):
            changed.add(Change.MEASUREMENTS)
        if is_new:
            # No register reading came with it: the EVSE's last one before is the start.
            start_from_earlier(transaction, earlier)
            self._host.emit(TransactionStarted(self.station, transaction))
        if payload["eventType"] == "Ended":
            self._finish_transaction(
                transaction,
                stopped_at=timestamp,
                reason=info.get("stoppedReason", "Local"),
                stop_id_tag=token["idToken"] if token else None,
            )
        elif not is_new:
            self._host.emit(TransactionUpdated(self.station, transaction))
            changed.add(Change.SESSION_PROGRESS)
        if evse.connector_status and (status := derive_status(evse)) is not evse.status:
            evse.status = status
            changed.add(Change.STATUS)
        if changed:
            self._host.emit(EvseUpdated(self.station, evse, frozenset(changed)))
        self._end_reservation(payload.get("reservationId"), ReservationStatus.USED)
        return Reply(answer, after=tag_limit if transaction.active else None)

    def _is_old_news(
        self,
        transaction: Transaction,
        payload: dict[str, Any],
        timestamp: datetime,
        mark: tuple[object, ...],
    ) -> bool:
        """Whether an event of a known transaction tells nothing new (then it is counted).

        Not by seqNo alone: a charger that rebooted mid-session starts its counter
        again, and some send 0 every time; dropping their events would lose readings
        and, for an Ended, the end of the session.
        """
        if mark in transaction.event_marks:
            # The same event again (the charger missed our answer).
            self.station.warn("repeated_transaction_event")
            return True
        if payload["seqNo"] > transaction.seq_no:
            return False
        if (
            payload["eventType"] != "Ended"
            and transaction.last_event_at is not None
            and timestamp < transaction.last_event_at
        ):
            # Older than what we have: a late retry from the charger's queue, whose state
            # and readings would overwrite newer ones. (An end always ends.)
            self.station.warn("stale_transaction_event")
            return True
        self.station.warn("seq_no_not_increasing")
        return False

    def _apply_transaction_event(
        self,
        evse: Evse,
        transaction: Transaction,
        payload: dict[str, Any],
        token: dict[str, Any] | None,
        decision: AuthorizationDecision | None,
        *,
        opening: bool,
    ) -> bool:
        """Apply an event's fields to its transaction; whether it carried readings.

        `opening`: the event began the transaction, so its register reading is the start.
        """
        transaction.seq_no = payload["seqNo"]
        info = payload["transactionInfo"]
        if "chargingState" in info:
            transaction.charging_state = info["chargingState"]
        if token and decision and transaction.id_tag is None:
            transaction.id_tag = token["idToken"]
            transaction.id_tag_type = token.get("type")
            transaction.tag_name = decision.name
            transaction.max_current_a = decision.max_current_a
            transaction.authorized = decision.accepted
        if payload.get("offline"):
            transaction.offline = True
        readings = self._readings(payload.get("meterValue") or [])
        applied = apply_readings(evse, readings, transaction, opening=opening)
        self._report_register_anomalies(transaction, applied.anomalies)
        return applied.recorded


def _authorize_answer(decision: AuthorizationDecision) -> Reply:
    return Reply({"idTokenInfo": id_token_info(decision)})


def _event_mark(payload: dict[str, Any]) -> tuple[object, ...]:
    """What tells a TransactionEvent sent again from a new one: not its seqNo alone.

    Its seqNo, type, time and trigger, and a digest of the rest: two events in the same
    second from a charger that sends seqNo 0 every time differ in their readings.
    """
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return (
        payload["seqNo"],
        payload["eventType"],
        payload["timestamp"],
        payload["triggerReason"],
        hashlib.blake2b(text.encode(), digest_size=8).digest(),
    )


class Ocpp21Adapter(Ocpp201Adapter):
    """A station speaking OCPP 2.1."""

    version = OcppVersion.V21
