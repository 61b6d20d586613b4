"""Every OCPP 1.6 message a charger sends: answered, and mapped onto the model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.authorization import (
    AuthorizationDecision,
    AuthorizationStatus,
)
from custom_components.ocpp_csms.csms.events import (
    DataTransferReceived,
    EvseUpdated,
    SecurityEventReported,
    StationUpdated,
    TagPresented,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from custom_components.ocpp_csms.csms.station import ConnectorStatus, Measurand
from custom_components.ocpp_csms.csms.transaction_ids import TransactionIdAllocator
from tests.engine.conftest import ConnectRaw, RawCharger

T0 = "2026-11-23T10:00:00Z"
T1 = "2026-11-23T10:30:00Z"
T2 = "2026-11-23T11:00:00Z"


def meter_value(timestamp: str, *values: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampledValue": list(values)}


async def start(
    charger: RawCharger, connector: int = 1, tag: str = "TAG1", meter: int = 1000
) -> int:
    result = await charger.result(
        "StartTransaction",
        {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": T0},
    )
    assert result["idTagInfo"]["status"] == "Accepted"
    transaction_id: int = result["transactionId"]
    return transaction_id


class FixedAuthorizer:
    """Answers one decision for every tag."""

    def __init__(self, decision: AuthorizationDecision) -> None:
        self.decision = decision
        self.asked: list[tuple[str, int | None]] = []

    def authorize(
        self, id_tag: str, station: Any, evse_id: int | None, token_type: str | None = None
    ) -> AuthorizationDecision:
        self.asked.append((id_tag, evse_id))
        return self.decision

    def may_stop(self, start_tag: str, stop_tag: str) -> bool:
        return True


async def test_authorize_accepts_and_reports(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    result = await charger.result("Authorize", {"idTag": "04A2B3C4"})
    assert result == {"idTagInfo": {"status": "Accepted"}}
    [presented] = charger.running.recorder.of_type(TagPresented)
    assert (presented.id_tag, presented.decision.accepted) == ("04A2B3C4", True)


@pytest.mark.parametrize(
    ("status", "spelled"),
    [
        (AuthorizationStatus.BLOCKED, "Blocked"),
        (AuthorizationStatus.EXPIRED, "Expired"),
        (AuthorizationStatus.INVALID, "Invalid"),
        (AuthorizationStatus.UNKNOWN, "Invalid"),
        (AuthorizationStatus.CONCURRENT_TX, "ConcurrentTx"),
    ],
)
async def test_authorize_decisions_are_spelled_for_16(
    raw_charger: ConnectRaw, status: AuthorizationStatus, spelled: str
) -> None:
    charger = await raw_charger()
    expiry = datetime(2027, 1, 1, tzinfo=UTC)
    charger.running.system.authorizer = FixedAuthorizer(
        AuthorizationDecision(status, parent_id="GROUP", expiry=expiry)
    )
    result = await charger.result("Authorize", {"idTag": "T"})
    assert result["idTagInfo"] == {
        "status": spelled,
        "parentIdTag": "GROUP",
        "expiryDate": "2027-01-01T00:00:00Z",
    }


async def test_data_transfer_is_reported(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    result = await charger.result(
        "DataTransfer", {"vendorId": "com.example", "messageId": "x", "data": "hello"}
    )
    assert result == {"status": "UnknownVendorId"}
    [event] = charger.running.recorder.of_type(DataTransferReceived)
    assert (event.vendor_id, event.message_id, event.data) == ("com.example", "x", "hello")


@pytest.mark.parametrize(
    ("action", "payload", "field", "value"),
    [
        ("DiagnosticsStatusNotification", {"status": "Uploaded"}, "diagnostics_status", "Uploaded"),
        ("FirmwareStatusNotification", {"status": "Installed"}, "firmware_status", "Installed"),
        (
            "SignedFirmwareStatusNotification",
            {"status": "InvalidSignature", "requestId": 7},
            "firmware_status",
            "InvalidSignature",
        ),
        (
            "LogStatusNotification",
            {"status": "Uploading", "requestId": 3},
            "diagnostics_status",
            "Uploading",
        ),
    ],
)
async def test_status_notifications_update_the_station(
    raw_charger: ConnectRaw, action: str, payload: dict[str, Any], field: str, value: str
) -> None:
    charger = await raw_charger()
    assert await charger.result(action, payload) == {}
    assert getattr(charger.station, field) == value
    assert any(field in e.changed for e in charger.running.recorder.of_type(StationUpdated))


async def test_heartbeat_answers_the_time(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    result = await charger.result("Heartbeat", {})
    answered = datetime.fromisoformat(result["currentTime"].replace("Z", "+00:00"))
    assert abs((answered - datetime.now(UTC)).total_seconds()) < 5
    assert charger.station.last_heartbeat is not None


async def test_security_event_is_reported(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    payload = {"type": "InvalidCentralSystemCertificate", "timestamp": T0, "techInfo": "x"}
    assert await charger.result("SecurityEventNotification", payload) == {}
    [event] = charger.running.recorder.of_type(SecurityEventReported)
    assert event.event.type == "InvalidCentralSystemCertificate"
    assert charger.station.security_events[-1].tech_info == "x"


async def test_status_notification_per_connector_and_station(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await charger.result(
        "StatusNotification",
        {"connectorId": 0, "errorCode": "NoError", "status": "Available"},
    )
    await charger.result(
        "StatusNotification",
        {
            "connectorId": 2,
            "errorCode": "GroundFailure",
            "status": "Faulted",
            "info": "RCD tripped",
            "timestamp": T0,
            "vendorErrorCode": "E12",
        },
    )
    station = charger.station
    assert station.status is ConnectorStatus.AVAILABLE
    assert station.error_code is None
    evse = station.evses[2]
    assert evse.status is ConnectorStatus.FAULTED
    assert (evse.error_code, evse.error_info, evse.vendor_error_code) == (
        "GroundFailure",
        "RCD tripped",
        "E12",
    )
    assert evse.status_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    [updated] = charger.running.recorder.of_type(EvseUpdated)
    assert updated.evse.id == 2


async def test_meter_values_normalise_units_and_phases(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await charger.result(
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                meter_value(
                    T0,
                    {"value": "12.5", "unit": "kWh"},
                    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                    {"value": "10.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                    {"value": "230", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
                    {"value": "300", "measurand": "Temperature", "unit": "K"},
                    {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                )
            ],
        },
    )
    evse = charger.station.evses[1]
    assert evse.value(Measurand.ENERGY_IMPORT_REGISTER) == 12500
    assert evse.value(Measurand.POWER_IMPORT) == 7200
    assert evse.value(Measurand.CURRENT_IMPORT, "L1") == pytest.approx(10.1)
    assert evse.value(Measurand.VOLTAGE, "L1-N") == 230
    assert evse.value(Measurand.TEMPERATURE) == pytest.approx(26.85)
    assert evse.value(Measurand.SOC) == 55
    assert evse.measurements[(Measurand.POWER_IMPORT, None)].unit == "W"


async def test_a_whole_16_session(raw_charger: ConnectRaw) -> None:
    """Start, metering, stop: one transaction with the right energy and events."""
    charger = await raw_charger()
    recorder = charger.running.recorder
    transaction_id = await start(charger, meter=1000)
    transaction = charger.station.evses[1].transaction
    assert transaction is not None
    assert (transaction.id, transaction.id_tag, transaction.meter_start_wh) == (
        str(transaction_id),
        "TAG1",
        1000,
    )
    await charger.result(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                meter_value(
                    T1,
                    {"value": "4000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
                )
            ],
        },
    )
    assert transaction.energy_wh == 3000
    assert transaction.samples[-1].power_w == 7000
    result = await charger.result(
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "idTag": "TAG1",
            "meterStop": 8000,
            "timestamp": T2,
            "reason": "EVDisconnected",
        },
    )
    assert result == {"idTagInfo": {"status": "Accepted"}}
    assert transaction.energy_wh == 7000
    assert transaction.stop_reason == "EVDisconnected"
    assert transaction.stopped_at == datetime(2026, 11, 23, 11, tzinfo=UTC)
    assert charger.station.evses[1].transaction is None
    assert charger.station.evses[1].last_transaction is transaction
    assert len(recorder.of_type(TransactionStarted)) == 1
    assert len(recorder.of_type(TransactionUpdated)) == 1
    [ended] = recorder.of_type(TransactionEnded)
    assert ended.transaction is transaction


async def test_transaction_ids_unique_across_connectors(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    first = await start(charger, connector=1)
    second = await start(charger, connector=2)
    other = await raw_charger(charger_id="CP-2", running=charger.running)
    third = await start(other, connector=1)
    assert len({first, second, third}) == 3


def test_transaction_ids_survive_a_restart() -> None:
    """A new allocator (after a restart) never repeats an id issued before."""
    now = [1_800_000_000.0]
    before = TransactionIdAllocator(clock=lambda: now[0])
    issued = [before.next_id() for _ in range(5)]
    assert issued == sorted(set(issued))
    now[0] += 10  # Home Assistant restarts ten seconds later
    after = TransactionIdAllocator(clock=lambda: now[0])
    assert after.next_id() > max(issued)
    # A journal that remembers the last id protects even a burst faster than 1/s.
    burst = TransactionIdAllocator(clock=lambda: now[0])
    burst.ensure_above(max(issued) + 100)
    assert burst.next_id() == max(issued) + 101
    assert 0 < after.next_id() < 2**31


async def test_repeated_start_gets_the_same_id(raw_charger: ConnectRaw) -> None:
    """A StartTransaction sent again (answer lost) is the same transaction."""
    charger = await raw_charger()
    first = await start(charger)
    again = await start(charger)
    assert again == first
    assert len(charger.running.recorder.of_type(TransactionStarted)) == 1
    assert charger.station.warnings["repeated_start_transaction"] == 1


async def test_replayed_stop_is_not_counted_twice(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    transaction_id = await start(charger)
    stop = {"transactionId": transaction_id, "meterStop": 5000, "timestamp": T2}
    await charger.result("StopTransaction", stop)
    await charger.result("StopTransaction", stop)
    await charger.result(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [meter_value(T2, {"value": "9999"})],
        },
    )
    assert len(charger.running.recorder.of_type(TransactionEnded)) == 1
    assert charger.station.warnings["replayed_transaction_message"] == 2


async def test_stop_of_an_unknown_transaction_is_recorded(raw_charger: ConnectRaw) -> None:
    """A stop for a transaction this central system never saw start (offline, restart)."""
    charger = await raw_charger()
    await charger.result(
        "StopTransaction",
        {
            "transactionId": 4242,
            "meterStop": 9000,
            "timestamp": T2,
            "transactionData": [
                meter_value(T0, {"value": "2000", "context": "Transaction.Begin"}),
                meter_value(T2, {"value": "9000", "context": "Transaction.End"}),
            ],
        },
    )
    [ended] = charger.running.recorder.of_type(TransactionEnded)
    transaction = ended.transaction
    assert (transaction.id, transaction.offline) == ("4242", True)
    assert transaction.started_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert transaction.energy_wh == 7000
    assert charger.station.warnings["unknown_transaction"] == 1


async def test_a_new_start_closes_an_unfinished_transaction(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await start(charger, tag="A")
    await charger.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "B", "meterStart": 5000, "timestamp": T2},
    )
    [ended] = charger.running.recorder.of_type(TransactionEnded)
    assert ended.transaction.id_tag == "A"
    assert charger.station.evses[1].transaction is not None
    assert charger.station.evses[1].transaction.id_tag == "B"


async def test_invalid_tag_still_records_the_transaction(raw_charger: ConnectRaw) -> None:
    """The charger starts before asking; the central system answers Invalid and keeps it."""
    charger = await raw_charger()
    charger.running.system.authorizer = FixedAuthorizer(
        AuthorizationDecision(AuthorizationStatus.INVALID)
    )
    result = await charger.result(
        "StartTransaction", {"connectorId": 1, "idTag": "BAD", "meterStart": 0, "timestamp": T0}
    )
    assert result["idTagInfo"]["status"] == "Invalid"
    assert charger.station.evses[1].transaction is not None


# -- real chargers' quirks ---------------------------------------------------------------


async def test_quirk_numeric_string_with_spaces(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await charger.result(
        "MeterValues",
        {"connectorId": 1, "meterValue": [meter_value(T0, {"value": " 0.0", "unit": "Wh"})]},
    )
    assert charger.station.evses[1].value(Measurand.ENERGY_IMPORT_REGISTER) == 0.0


async def test_quirk_unknown_error_code_is_kept(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await charger.result(
        "StatusNotification", {"connectorId": 1, "errorCode": "Error", "status": "Faulted"}
    )
    evse = charger.station.evses[1]
    assert (evse.status, evse.error_code, evse.vendor_error_code) == (
        ConnectorStatus.FAULTED,
        "OtherError",
        "Error",
    )
    assert charger.station.warnings == {"unknown_error_code": 1}


async def test_quirk_unknown_unit_keeps_the_value(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await charger.result(
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                meter_value(T0, {"value": "50.0", "measurand": "Frequency", "unit": "Hz"})
            ],
        },
    )
    assert charger.station.evses[1].value(Measurand.FREQUENCY) == 50.0
    assert charger.station.warnings == {"unknown_unit": 1}


async def test_quirk_empty_sampled_values(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    answer = await charger.call(
        "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": []}]}
    )
    assert answer[0] == 3
    assert charger.station.warnings == {"empty_sampled_value": 1}


async def test_quirk_overlong_and_unknown_fields(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    result = await charger.result(
        "BootNotification",
        {
            "chargePointVendor": "V",
            "chargePointModel": "M",
            "chargePointSerialNumber": "S" * 40,
            "vendorSpecificExtra": True,
        },
    )
    assert result["status"] == "Accepted"
    assert charger.station.boot is not None
    assert charger.station.boot.serial_number == "S" * 25
    assert charger.station.warnings == {"overlong_string": 1, "unknown_field": 1}


async def test_quirk_number_where_a_string_belongs(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await charger.result(
        "MeterValues", {"connectorId": 1, "meterValue": [meter_value(T0, {"value": 1234})]}
    )
    assert charger.station.evses[1].value(Measurand.ENERGY_IMPORT_REGISTER) == 1234


async def test_bad_timestamp_falls_back_to_now(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await charger.result(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "yesterday"},
    )
    assert charger.station.warnings == {"bad_timestamp": 1}


async def test_truly_malformed_is_refused(raw_charger: ConnectRaw) -> None:
    """A quirk is accepted; a missing required field or unknown status is not."""
    charger = await raw_charger()
    answer = await charger.call("StatusNotification", {"connectorId": 1, "status": "Available"})
    assert answer[2] == "OccurenceConstraintViolation"  # sic: 1.6 spells it so
    answer = await charger.call(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Plugged"}
    )
    assert answer[2] == "PropertyConstraintViolation"
    answer = await charger.call("StatusNotification", [1])
    assert answer[2] == "FormationViolation"
    answer = await charger.call(
        "MeterValues", {"connectorId": 1, "meterValue": [meter_value(T0, {"value": "abc"})]}
    )
    # A string is what the schema wants; the value that is no number is skipped.
    assert answer[0] == 3
    assert charger.station.warnings == {
        "refused_schema_required": 1,
        "refused_schema_enum": 1,
        "unreadable_value": 1,
    }
