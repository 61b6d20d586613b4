"""Every OCPP 2.0.1 / 2.1 message a charger sends: answered, and mapped onto the model."""

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
    StationNotice,
    StationUpdated,
    TagPresented,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from custom_components.ocpp_csms.csms.station import ConnectorStatus, Measurand
from tests.engine.conftest import ConnectRaw, RawCharger
from tests.engine.test_messages_16 import FixedAuthorizer

T0 = "2026-11-23T10:00:00Z"
T1 = "2026-11-23T10:30:00.123Z"
T2 = "2026-11-23T11:00:00+00:00"

VERSIONS = pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])


def sampled(value: float, measurand: str | None = None, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"value": value, **extra}
    if measurand:
        found["measurand"] = measurand
    return found


def event(
    event_type: str,
    seq_no: int,
    *,
    transaction_id: str = "TX-1",
    timestamp: str = T0,
    trigger: str = "Authorized",
    info: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "timestamp": timestamp,
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id, **(info or {})},
        **extra,
    }


@VERSIONS
async def test_authorize(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    result = await charger.result("Authorize", {"idToken": {"idToken": "04A2", "type": "ISO14443"}})
    assert result == {"idTokenInfo": {"status": "Accepted"}}
    [presented] = charger.running.recorder.of_type(TagPresented)
    assert (presented.id_tag, presented.token_type) == ("04A2", "ISO14443")


@VERSIONS
@pytest.mark.parametrize(
    ("status", "spelled"),
    [
        (AuthorizationStatus.UNKNOWN, "Unknown"),
        (AuthorizationStatus.BLOCKED, "Blocked"),
        (AuthorizationStatus.CONCURRENT_TX, "ConcurrentTx"),
    ],
)
async def test_authorize_decisions_are_spelled_for_2x(
    raw_charger: ConnectRaw, version: str, status: AuthorizationStatus, spelled: str
) -> None:
    charger = await raw_charger(version)
    charger.running.system.authorizer = FixedAuthorizer(
        AuthorizationDecision(status, parent_id="HOUSE", expiry=datetime(2027, 1, 1, tzinfo=UTC))
    )
    result = await charger.result("Authorize", {"idToken": {"idToken": "X", "type": "Central"}})
    assert result["idTokenInfo"] == {
        "status": spelled,
        "cacheExpiryDateTime": "2027-01-01T00:00:00Z",
        "groupIdToken": {"idToken": "HOUSE", "type": "Central"},
    }


@VERSIONS
async def test_data_transfer(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    result = await charger.result("DataTransfer", {"vendorId": "com.example", "data": {"a": 1}})
    assert result == {"status": "UnknownVendorId"}
    [received] = charger.running.recorder.of_type(DataTransferReceived)
    assert received.data == {"a": 1}


@VERSIONS
@pytest.mark.parametrize(
    ("action", "payload", "field", "value"),
    [
        (
            "FirmwareStatusNotification",
            {"status": "Installed", "requestId": 1},
            "firmware_status",
            "Installed",
        ),
        (
            "LogStatusNotification",
            {"status": "Uploaded", "requestId": 2},
            "diagnostics_status",
            "Uploaded",
        ),
    ],
)
async def test_status_notifications_update_the_station(
    raw_charger: ConnectRaw,
    version: str,
    action: str,
    payload: dict[str, Any],
    field: str,
    value: str,
) -> None:
    charger = await raw_charger(version)
    assert await charger.result(action, payload) == {}
    assert getattr(charger.station, field) == value
    assert any(field in e.changed for e in charger.running.recorder.of_type(StationUpdated))


@VERSIONS
async def test_heartbeat_and_security_event(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    assert "currentTime" in await charger.result("Heartbeat", {})
    await charger.result(
        "SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": T0}
    )
    [reported] = charger.running.recorder.of_type(SecurityEventReported)
    assert reported.event.type == "TamperDetectionActivated"


@VERSIONS
async def test_status_notification(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    status = {"timestamp": T0, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    await charger.result("StatusNotification", status)
    assert charger.station.evses[1].status is ConnectorStatus.AVAILABLE
    await charger.result("StatusNotification", {**status, "connectorStatus": "Occupied"})
    assert charger.station.evses[1].status is ConnectorStatus.OCCUPIED
    await charger.result("StatusNotification", {**status, "connectorStatus": "Faulted"})
    assert charger.station.evses[1].status is ConnectorStatus.FAULTED
    assert len(charger.running.recorder.of_type(EvseUpdated)) == 3


@VERSIONS
async def test_meter_values_with_multipliers(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    await charger.result(
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": T0,
                    "sampledValue": [
                        sampled(12.5, unitOfMeasure={"unit": "kWh"}),
                        sampled(
                            72, "Power.Active.Import", unitOfMeasure={"unit": "W", "multiplier": 2}
                        ),
                        sampled(16, "Current.Import", phase="L2"),
                        sampled(16, "Current.Offered"),
                    ],
                }
            ],
        },
    )
    evse = charger.station.evses[1]
    assert evse.value(Measurand.ENERGY_IMPORT_REGISTER) == 12500
    assert evse.value(Measurand.POWER_IMPORT) == 7200
    assert evse.value(Measurand.CURRENT_IMPORT, "L2") == 16
    assert evse.value(Measurand.CURRENT_OFFERED) == 16


@VERSIONS
async def test_charging_limits_and_needs(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    await charger.result(
        "NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1}
    )
    assert charger.station.evses[1].external_limit == {
        "chargingLimit": {"chargingLimitSource": "EMS"}
    }
    await charger.result("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1})
    assert charger.station.evses[1].external_limit is None
    needs = {"requestedEnergyTransfer": "AC_three_phase"}
    if version == "ocpp2.1":
        needs["controlMode"] = "ScheduledControl"
    result = await charger.result("NotifyEVChargingNeeds", {"chargingNeeds": needs, "evseId": 1})
    assert result == {"status": "Rejected"}
    assert charger.station.evses[1].ev_charging_needs == needs


@VERSIONS
async def test_notify_event_and_charging_profiles_are_passed_on(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    event_data = [
        {
            "eventId": 1,
            "timestamp": T0,
            "trigger": "Delta",
            "actualValue": "Faulted",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector"},
            "variable": {"name": "AvailabilityState"},
        }
    ]
    await charger.result("NotifyEvent", {"generatedAt": T0, "seqNo": 0, "eventData": event_data})
    profiles = {
        "requestId": 5,
        "chargingLimitSource": "CSO",
        "evseId": 1,
        "chargingProfile": [
            {
                "id": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                    }
                ],
            }
        ],
    }
    await charger.result("ReportChargingProfiles", profiles)
    notices = charger.running.recorder.of_type(StationNotice)
    assert [(n.kind, n.data) for n in notices] == [
        ("event", event_data),
        ("charging_profiles", profiles),
    ]


@VERSIONS
async def test_notify_report_fills_the_configuration(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)

    def item(component: dict[str, Any], variable: str, value: str) -> dict[str, Any]:
        return {
            "component": component,
            "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": value}],
        }

    first = [item({"name": "SmartChargingCtrlr"}, "Enabled", "true")]
    second = [item({"name": "EVSE", "evse": {"id": 1}}, "Power", "11000")]
    await charger.result(
        "NotifyReport",
        {"requestId": 1, "generatedAt": T0, "seqNo": 0, "tbc": True, "reportData": first},
    )
    assert not charger.running.recorder.of_type(StationUpdated)[1:]
    await charger.result(
        "NotifyReport", {"requestId": 1, "generatedAt": T0, "seqNo": 1, "reportData": second}
    )
    assert charger.station.configuration == {
        "SmartChargingCtrlr/Enabled": "true",
        "EVSE@1/Power": "11000",
    }
    assert any(
        "configuration" in e.changed for e in charger.running.recorder.of_type(StationUpdated)
    )


@VERSIONS
async def test_reservation_status_update(raw_charger: ConnectRaw, version: str) -> None:
    """Answered; one we never made changes nothing (test_reservations has the rest)."""
    charger = await raw_charger(version)
    answer = await charger.result(
        "ReservationStatusUpdate", {"reservationId": 9, "reservationUpdateStatus": "Expired"}
    )
    assert answer == {}
    assert len(charger.station.reservations) == 0
    updates = charger.running.recorder.of_type(StationUpdated)
    assert not [update for update in updates if "reservations" in update.changed]


async def _start(charger: RawCharger, **extra: Any) -> dict[str, Any]:
    return await charger.result(
        "TransactionEvent",
        event(
            "Started",
            0,
            idToken={"idToken": "TAG1", "type": "ISO14443"},
            evse={"id": 1, "connectorId": 1},
            info={"chargingState": "EVConnected"},
            meterValue=[
                {
                    "timestamp": T0,
                    "sampledValue": [sampled(1000, context="Transaction.Begin")],
                }
            ],
            **extra,
        ),
    )


@VERSIONS
async def test_a_whole_2x_session(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    recorder = charger.running.recorder
    await charger.result(
        "StatusNotification",
        {"timestamp": T0, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
    )
    result = await _start(charger)
    assert result == {"idTokenInfo": {"status": "Accepted"}}
    evse = charger.station.evses[1]
    transaction = evse.transaction
    assert transaction is not None
    assert (transaction.id, transaction.id_tag, transaction.meter_start_wh) == (
        "TX-1",
        "TAG1",
        1000,
    )
    assert evse.status is ConnectorStatus.PREPARING

    await charger.result(
        "TransactionEvent",
        event(
            "Updated",
            1,
            timestamp=T1,
            trigger="ChargingStateChanged",
            info={"chargingState": "Charging"},
            meterValue=[
                {
                    "timestamp": T1,
                    "sampledValue": [sampled(4000), sampled(11000, "Power.Active.Import")],
                }
            ],
        ),
    )
    assert evse.status is ConnectorStatus.CHARGING
    assert transaction.energy_wh == 3000
    assert evse.value(Measurand.POWER_IMPORT) == 11000

    await charger.result(
        "TransactionEvent",
        event(
            "Ended",
            2,
            timestamp=T2,
            trigger="EVDeparted",
            info={"stoppedReason": "EVDisconnected", "chargingState": "Idle"},
            meterValue=[
                {"timestamp": T2, "sampledValue": [sampled(9000, context="Transaction.End")]}
            ],
        ),
    )
    assert transaction.energy_wh == 8000
    assert transaction.stop_reason == "EVDisconnected"
    assert transaction.stopped_at == datetime(2026, 11, 23, 11, tzinfo=UTC)
    assert evse.transaction is None
    assert evse.status is ConnectorStatus.FINISHING
    assert len(recorder.of_type(TransactionStarted)) == 1
    assert len(recorder.of_type(TransactionUpdated)) == 1
    assert len(recorder.of_type(TransactionEnded)) == 1
    # The EVSE's transaction changes at the start and the end; in between, readings and
    # the session's progress (one event for the EVSE's entities).
    assert [set(e.changed) for e in recorder.of_type(EvseUpdated)][-3:] == [
        {"transaction", "measurements", "status"},
        {"measurements", "status", "session_progress"},
        {"transaction", "measurements", "status"},
    ]


@VERSIONS
async def test_repeated_and_replayed_events_count_once(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    await _start(charger)
    updated = event("Updated", 1, info={"chargingState": "Charging"})
    await charger.result("TransactionEvent", updated)
    await charger.result("TransactionEvent", updated)  # same seqNo again
    ended = event("Ended", 2, info={"stoppedReason": "Local"})
    await charger.result("TransactionEvent", ended)
    await charger.result("TransactionEvent", ended)  # replayed after a reconnect
    recorder = charger.running.recorder
    assert len(recorder.of_type(TransactionUpdated)) == 1
    assert len(recorder.of_type(TransactionEnded)) == 1
    # A new charging state is the session's progress, told once (the repeat is not).
    assert [set(e.changed) for e in recorder.of_type(EvseUpdated)] == [
        {"transaction", "measurements"},
        {"session_progress"},
        {"transaction"},
    ]
    assert charger.station.warnings == {
        "repeated_transaction_event": 1,
        "replayed_transaction_message": 1,
    }


@VERSIONS
async def test_a_charger_that_sends_seq_no_0_every_time_loses_nothing(
    raw_charger: ConnectRaw, version: str
) -> None:
    """Non-conformant, but it exists: every event seqNo 0. Each one is new information."""
    charger = await raw_charger(version)
    await _start(charger)
    meter = [{"timestamp": T1, "sampledValue": [sampled(5000)]}]
    updated = event("Updated", 0, timestamp=T1, trigger="MeterValuePeriodic", meterValue=meter)
    await charger.result("TransactionEvent", updated)
    evse = charger.station.evses[1]
    assert evse.transaction is not None
    assert evse.transaction.last_register_wh == 5000
    ended = event(
        "Ended",
        0,
        timestamp=T2,
        trigger="StopAuthorized",
        info={"stoppedReason": "Local"},
        meterValue=[{"timestamp": T2, "sampledValue": [sampled(9000)]}],
    )
    await charger.result("TransactionEvent", ended)
    [ended_event] = charger.running.recorder.of_type(TransactionEnded)
    assert ended_event.transaction.energy_wh == 8000
    assert evse.transaction is None
    assert charger.station.warnings == {"seq_no_not_increasing": 2}


@VERSIONS
async def test_a_counter_restarted_by_a_reboot_mid_session_loses_nothing(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    await _start(charger)
    for seq_no, timestamp in ((1, T0), (2, T1)):
        await charger.result(
            "TransactionEvent",
            event("Updated", seq_no, timestamp=timestamp, trigger="ChargingStateChanged"),
        )
    # Rebooted: its counter starts at 0 again, the transaction goes on and ends.
    await charger.result(
        "TransactionEvent", event("Updated", 0, timestamp=T2, trigger="MeterValuePeriodic")
    )
    await charger.result(
        "TransactionEvent",
        event("Ended", 1, timestamp=T2, trigger="StopAuthorized", info={"stoppedReason": "Reboot"}),
    )
    assert charger.station.evses[1].transaction is None
    [ended] = charger.running.recorder.of_type(TransactionEnded)
    assert ended.transaction.stop_reason == "Reboot"
    # Only the step backwards is a warning; counting on from there is not.
    assert charger.station.warnings == {"seq_no_not_increasing": 1}


@VERSIONS
async def test_a_late_retry_of_an_older_event_changes_nothing(
    raw_charger: ConnectRaw, version: str
) -> None:
    """Lower seqNo and older than what we have: a retry from its queue, not news."""
    charger = await raw_charger(version)
    await _start(charger)
    charging = event("Updated", 2, timestamp=T2, info={"chargingState": "Charging"})
    await charger.result("TransactionEvent", charging)
    late = event("Updated", 1, timestamp=T1, info={"chargingState": "SuspendedEV"})
    await charger.result("TransactionEvent", late)
    transaction = charger.station.evses[1].transaction
    assert transaction is not None
    assert transaction.charging_state == "Charging"
    assert transaction.seq_no == 2
    assert charger.station.warnings == {"stale_transaction_event": 1}
    # An end always ends, however late it comes.
    ended = event("Ended", 1, timestamp=T1, info={"stoppedReason": "Local"})
    await charger.result("TransactionEvent", ended)
    assert charger.station.evses[1].transaction is None


@VERSIONS
async def test_offline_transaction_is_recorded(raw_charger: ConnectRaw, version: str) -> None:
    """A transaction the charger ran offline arrives with offline=true and its own times."""
    charger = await raw_charger(version)
    await _start(charger, offline=True)
    await charger.result(
        "TransactionEvent",
        event(
            "Ended",
            1,
            timestamp=T2,
            offline=True,
            meterValue=[{"timestamp": T2, "sampledValue": [sampled(6000)]}],
        ),
    )
    [ended] = charger.running.recorder.of_type(TransactionEnded)
    assert ended.transaction.offline
    assert ended.transaction.started_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert ended.transaction.energy_wh == 5000


@VERSIONS
async def test_event_for_an_unknown_transaction_starts_it(
    raw_charger: ConnectRaw, version: str
) -> None:
    """After a restart, an Updated for a running transaction is picked up, not refused."""
    charger = await raw_charger(version)
    await charger.result(
        "TransactionEvent",
        event(
            "Updated",
            7,
            evse={"id": 2},
            meterValue=[{"timestamp": T0, "sampledValue": [sampled(2000)]}],
        ),
    )
    transaction = charger.station.evses[2].transaction
    assert transaction is not None
    assert transaction.meter_start_wh == 2000
    assert charger.station.warnings == {"unknown_transaction": 1}


@VERSIONS
async def test_quirks_2x(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    await charger.result(
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {"timestamp": T0, "sampledValue": [{"value": " 0.0"}]},
                {"timestamp": T1, "sampledValue": []},
            ],
            "vendorExtra": 1,
        },
    )
    assert charger.station.evses[1].value(Measurand.ENERGY_IMPORT_REGISTER) == 0.0
    assert charger.station.warnings == {
        "numeric_string": 1,
        "empty_sampled_value": 1,
        "unknown_field": 1,
    }
    answer = await charger.call("MeterValues", {"evseId": 1, "meterValue": [{"timestamp": T0}]})
    assert answer[2] == "OccurrenceConstraintViolation"
