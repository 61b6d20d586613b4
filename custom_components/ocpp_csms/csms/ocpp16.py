"""OCPP 1.6J: the charger's messages mapped onto the model, and commands as CALLs.

1.6 connectors map onto the model's EVSEs one to one (connector N is EVSE N);
connector 0 is the charger as a whole (its status) or its main meter (meter values).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from .adapter import RepeatedAnswer, StationAdapter
from .authorization import AuthorizationDecision
from .boundary import finite_number
from .certificate_messages import CertificateSigning, certificate_call
from .commands import Call, Command, CommandResult, GetConfiguration
from .config_values import config_flag, config_integer, config_words
from .events import Change, EvseUpdated, StationUpdated, TransactionStarted
from .metering import apply_readings, reading, take_register
from .metering_setup import MeterKeys
from .ocpp16_commands import encode, id_tag_info
from .reservations import ReservationStatus
from .rpc_types import Handler, Reply
from .station import ConnectorStatus, Measurement, OcppVersion, Transaction
from .station_facts import BootInfo, Capabilities

_LOGGER = logging.getLogger(__name__)

_STATUS = {
    "Available": ConnectorStatus.AVAILABLE,
    "Preparing": ConnectorStatus.PREPARING,
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEV": ConnectorStatus.SUSPENDED_EV,
    "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
    "Finishing": ConnectorStatus.FINISHING,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}

# How many StartTransactions a station remembers for spotting repeats.
_RECENT_STARTS = 50


_RATE_UNITS = {"Current": "A", "Power": "W"}

_METER_KEYS = MeterKeys(
    sampled="MeterValuesSampledData",
    interval="MeterValueSampleInterval",
    edges=("StopTxnSampledData",),
    max_length="MeterValuesSampledDataMaxLength",
)


def _authorize_answer(decision: AuthorizationDecision) -> Reply:
    return Reply({"idTagInfo": id_tag_info(decision)})


def capabilities_from(configuration: dict[str, str | None], read_only: set[str]) -> Capabilities:
    """What a 1.6 station can do, from its configuration keys."""
    return Capabilities(
        features=frozenset(config_words(configuration.get("SupportedFeatureProfiles"))),
        number_of_evses=config_integer(configuration.get("NumberOfConnectors")),
        charging_rate_units=frozenset(
            _RATE_UNITS[word]
            for word in config_words(configuration.get("ChargingScheduleAllowedChargingRateUnit"))
            if word in _RATE_UNITS
        ),
        max_stack_level=config_integer(configuration.get("ChargeProfileMaxStackLevel")),
        local_list_enabled=config_flag(configuration.get("LocalAuthListEnabled")),
        local_list_max_length=config_integer(configuration.get("LocalAuthListMaxLength")),
        meter_measurands=tuple(config_words(configuration.get("MeterValuesSampledData"))),
        meter_interval_s=config_integer(configuration.get("MeterValueSampleInterval")),
        meter_settings_writable="MeterValuesSampledData" in configuration
        and "MeterValuesSampledData" not in read_only,
    )


class Ocpp16Adapter(StationAdapter):
    """A station speaking OCPP 1.6J."""

    version = OcppVersion.V16

    async def _read_capabilities(self) -> Capabilities | None:
        result = await self.execute(GetConfiguration())
        if not result.accepted:
            return None
        return capabilities_from(self.station.configuration, self.station.read_only_settings)

    def _meter_keys(self) -> MeterKeys:
        return _METER_KEYS

    def _ids_in(self, payload: dict[str, Any]) -> list[tuple[str, Any, bool]]:
        """1.6 names connectors, which are the model's EVSEs."""
        return [("connectorId", payload.get("connectorId"), False)]

    def _build_handlers(self) -> dict[str, Handler]:
        return {
            "Authorize": self._on_authorize,
            "BootNotification": self._on_boot_notification,
            "DataTransfer": self._receive_data_transfer,
            "DiagnosticsStatusNotification": self._on_diagnostics_status,
            "FirmwareStatusNotification": self._on_firmware_status,
            "Heartbeat": self._on_heartbeat,
            "MeterValues": self._on_meter_values,
            "StartTransaction": self._on_start_transaction,
            "StatusNotification": self._on_status_notification,
            "StopTransaction": self._on_stop_transaction,
            # Security extension (OCPP 1.6 security whitepaper)
            "SecurityEventNotification": self._record_security_event,
            "SignedFirmwareStatusNotification": self._on_signed_firmware_status,
            "LogStatusNotification": self._on_log_status,
            "SignCertificate": CertificateSigning(
                self.station, self._host, self.execute
            ).on_sign_certificate,
        }

    def _encode(self, command: Command) -> Call | CommandResult:
        return certificate_call(command, self.version) or encode(command, self.station)

    def _on_boot_notification(self, payload: dict[str, Any]) -> Reply:
        serial = payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber")
        return self._answer_boot(
            BootInfo(
                vendor=payload["chargePointVendor"],
                model=payload["chargePointModel"],
                serial_number=serial,
                firmware_version=payload.get("firmwareVersion"),
            )
        )

    def _on_authorize(self, payload: dict[str, Any]) -> Reply | Awaitable[Reply]:
        return self._decide(payload["idTag"], None, None, _authorize_answer)

    def _on_diagnostics_status(self, payload: dict[str, Any]) -> Reply:
        self._report_upload_status(payload["status"])
        return Reply({})

    def _on_firmware_status(self, payload: dict[str, Any]) -> Reply:
        self._report_firmware_status(payload["status"])
        return Reply({})

    def _on_signed_firmware_status(self, payload: dict[str, Any]) -> Reply:
        self.station.firmware_request_id = payload.get("requestId")
        self._report_firmware_status(payload["status"])
        return Reply({})

    def _on_log_status(self, payload: dict[str, Any]) -> Reply:
        self.station.log_request_id = payload.get("requestId")
        self._report_upload_status(payload["status"])
        return Reply({})

    def _on_status_notification(self, payload: dict[str, Any]) -> Reply:
        connector_id: int = payload["connectorId"]
        status = _STATUS.get(payload["status"], ConnectorStatus.UNKNOWN)
        error_code = payload["errorCode"]
        error_code = None if error_code == "NoError" else error_code
        timestamp = self._time(payload.get("timestamp"))
        if connector_id == 0:
            self.station.status = status
            self.station.error_code = error_code
            self._host.emit(StationUpdated(self.station, frozenset({Change.STATUS})))
        else:
            self._set_evse_status(
                connector_id,
                status,
                timestamp,
                error_code=error_code,
                error_info=payload.get("info"),
                vendor_error_code=payload.get("vendorErrorCode"),
            )
        return Reply({})

    def _readings(self, meter_values: list[dict[str, Any]]) -> list[Measurement]:
        """Readings of 1.6 meterValue entries; values that are no number are skipped."""
        found: list[Measurement] = []
        for meter_value in meter_values:
            timestamp = self._time(meter_value.get("timestamp"))
            for sampled in meter_value.get("sampledValue", ()):
                if sampled.get("format") == "SignedData":
                    continue  # a signed blob, not a number
                value = finite_number(sampled.get("value"))
                measurement = None
                if value is not None:
                    measurement = reading(
                        value,
                        measurand=sampled.get("measurand"),
                        unit=sampled.get("unit"),
                        timestamp=timestamp,
                        phase=sampled.get("phase"),
                        location=sampled.get("location"),
                        context=sampled.get("context"),
                    )
                if measurement is None:
                    # Not a number, or NaN, Infinity, 1e999: no reading at all.
                    self.station.warn("unreadable_value")
                    continue
                found.append(measurement)
        return found

    def _on_meter_values(self, payload: dict[str, Any]) -> Reply:
        evse = self.station.evse(payload["connectorId"])
        transaction = evse.transaction
        if "transactionId" in payload:
            transaction_id = str(payload["transactionId"])
            if self._is_replay(transaction_id, "MeterValues"):
                return Reply({})
            transaction = self.station.transaction(transaction_id) or transaction
        self._take_readings(evse, transaction, self._readings(payload["meterValue"]))
        return Reply({})

    def _on_start_transaction(self, payload: dict[str, Any]) -> Reply | Awaitable[Reply]:
        return self._decide(
            payload["idTag"],
            payload["connectorId"],
            None,
            functools.partial(self._start_transaction, payload),
        )

    def _start_transaction(self, payload: dict[str, Any], decision: AuthorizationDecision) -> Reply:
        connector_id: int = payload["connectorId"]
        id_tag: str = payload["idTag"]
        key = (connector_id, id_tag, str(payload["timestamp"]))
        if (known := self.station.recent_starts.get(key)) is not None:
            # The charger sent this start again (it missed our answer): same id, no new
            # transaction.
            self.station.warn("repeated_start_transaction")
            answer = {"transactionId": int(known), "idTagInfo": id_tag_info(decision)}
            return Reply(RepeatedAnswer(answer))

        transaction_id = self._host.next_transaction_id()
        self._remember_start(key, str(transaction_id))
        evse = self.station.evse(connector_id)
        started_at = self._time(payload["timestamp"])
        if evse.transaction is not None:
            # The charger never reported the end of the previous one.
            self.station.warn("unfinished_transaction")
            self._finish_transaction(evse.transaction, stopped_at=started_at, reason="Other")
        transaction = Transaction(
            id=str(transaction_id),
            evse_id=connector_id,
            connector_id=connector_id,
            started_at=started_at,
            id_tag=id_tag,
            tag_name=decision.name,
            max_current_a=decision.max_current_a,
            authorized=decision.accepted,
        )
        take_register(transaction, float(payload["meterStart"]), started_at, opening=True)
        evse.transaction = transaction
        self._host.emit(TransactionStarted(self.station, transaction))
        self._host.emit(EvseUpdated(self.station, evse, frozenset({Change.TRANSACTION})))
        self._end_reservation(payload.get("reservationId"), ReservationStatus.USED)
        return Reply(
            {"transactionId": transaction_id, "idTagInfo": id_tag_info(decision)},
            after=self._tag_limit_after_start(transaction, decision),
        )

    def _remember_start(self, key: tuple[int, str, str], transaction_id: str) -> None:
        starts = self.station.recent_starts
        starts[key] = transaction_id
        while len(starts) > _RECENT_STARTS:
            del starts[next(iter(starts))]

    def _on_stop_transaction(self, payload: dict[str, Any]) -> Reply:
        transaction_id = str(payload["transactionId"])
        id_tag: str | None = payload.get("idTag")
        answer: dict[str, Any] = {}
        if id_tag:
            answer["idTagInfo"] = id_tag_info(self._authorize(id_tag, None))
        if self._is_replay(transaction_id, "StopTransaction"):
            return Reply(answer)
        stopped_at = self._time(payload["timestamp"])
        readings = self._readings(payload.get("transactionData") or [])
        transaction = self.station.transaction(transaction_id)
        unknown = transaction is None
        if transaction is None:
            # Started while we did not know (before a restart, or offline): record it
            # from what the stop tells.
            self.station.warn("unknown_transaction")
            transaction = self._transaction_from_stop(transaction_id, stopped_at, readings)
            self._host.emit(TransactionStarted(self.station, transaction))
        evse = self.station.evse(transaction.evse_id)
        anomalies = apply_readings(evse, readings, transaction, opening=unknown).anomalies
        take_register(transaction, float(payload["meterStop"]), stopped_at, anomalies=anomalies)
        self._report_register_anomalies(transaction, anomalies)
        self._finish_transaction(
            transaction,
            stopped_at=stopped_at,
            reason=payload.get("reason", "Local"),
            stop_id_tag=id_tag,
        )
        self._host.emit(EvseUpdated(self.station, evse, frozenset({Change.TRANSACTION})))
        return Reply(answer)

    def _transaction_from_stop(
        self, transaction_id: str, stopped_at: datetime, readings: list[Measurement]
    ) -> Transaction:
        started_at = min((m.timestamp for m in readings), default=stopped_at)
        return Transaction(
            id=transaction_id,
            evse_id=0,  # a StopTransaction does not name its connector
            connector_id=0,
            started_at=started_at,
            offline=True,
        )
