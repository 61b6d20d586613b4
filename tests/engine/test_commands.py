"""Every command in 1.6 and 2.x: the CALL sent, its schema, and the typed result."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.commands import (
    CancelReservation,
    ChangeAvailability,
    ChargingProfile,
    ClearCache,
    ClearChargingProfile,
    Command,
    CommandResult,
    CommandStatus,
    DataTransfer,
    GetBaseReport,
    GetChargingProfiles,
    GetCompositeSchedule,
    GetConfiguration,
    GetLocalListVersion,
    LocalListEntry,
    ProfileKind,
    ProfilePurpose,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    Reset,
    SchedulePeriod,
    SendLocalList,
    SetChargingProfile,
    SetConfiguration,
    SetNetworkProfile,
    TriggerMessage,
    UnlockConnector,
    UpdateFirmware,
    UploadDiagnostics,
)
from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.station import OcppVersion
from tests.engine.conftest import ConnectRaw, RawCharger

WHEN = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SIGNING_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PROFILE = ChargingProfile(
    id=7,
    stack_level=2,
    purpose=ProfilePurpose.TX_DEFAULT,
    kind=ProfileKind.RECURRING,
    recurrency="Daily",
    start_schedule=WHEN,
    duration_s=86400,
    periods=(SchedulePeriod(0, 16.0), SchedulePeriod(21600, 6.0, number_phases=3)),
)
SCHEDULE_16 = {
    "chargingRateUnit": "A",
    "chargingSchedulePeriod": [
        {"startPeriod": 0, "limit": 16.0},
        {"startPeriod": 21600, "limit": 6.0, "numberPhases": 3},
    ],
    "duration": 86400,
    "startSchedule": "2026-12-01T03:00:00Z",
}
PROFILE_16 = {
    "chargingProfileId": 7,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "chargingSchedule": SCHEDULE_16,
}
PROFILE_2X = {
    "id": 7,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "chargingSchedule": [{"id": 7, **SCHEDULE_16}],
}
ENTRIES = (
    LocalListEntry("AA11", "accepted", parent_id="HOUSE"),
    LocalListEntry("BB22", "blocked"),
    LocalListEntry("CC33"),
)

# (name, command, action, payload sent, answer, status, data expected in the result)
Case = tuple[str, Command, str, dict[str, Any], dict[str, Any], CommandStatus, dict[str, Any]]

CASES_16: list[Case] = [
    ("remote_start", RemoteStart("TAG1", evse_id=1), "RemoteStartTransaction",
     {"idTag": "TAG1", "connectorId": 1}, {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
    ("remote_start_profile",
     RemoteStart(
         "TAG1", profile=ChargingProfile(1, 0, ProfilePurpose.TX, (SchedulePeriod(0, 10),))
     ),
     "RemoteStartTransaction",
     {"idTag": "TAG1", "chargingProfile": {
         "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
         "chargingProfileKind": "Relative",
         "chargingSchedule": {"chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}},
     {"status": "Rejected"}, CommandStatus.REJECTED, {}),
    ("remote_stop", RemoteStop("1234"), "RemoteStopTransaction", {"transactionId": 1234},
     {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
    ("reset_soft", Reset(), "Reset", {"type": "Soft"}, {"status": "Accepted"},
     CommandStatus.ACCEPTED, {}),
    ("reset_hard", Reset(hard=True), "Reset", {"type": "Hard"}, {"status": "Rejected"},
     CommandStatus.REJECTED, {}),
    ("unlock", UnlockConnector(2), "UnlockConnector", {"connectorId": 2}, {"status": "Unlocked"},
     CommandStatus.ACCEPTED, {}),
    ("unlock_unsupported", UnlockConnector(1), "UnlockConnector", {"connectorId": 1},
     {"status": "NotSupported"}, CommandStatus.NOT_SUPPORTED, {}),
    ("availability", ChangeAvailability(0, operative=False), "ChangeAvailability",
     {"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"},
     CommandStatus.ACCEPTED, {}),
    ("get_configuration", GetConfiguration(("HeartbeatInterval", "Nope")), "GetConfiguration",
     {"key": ["HeartbeatInterval", "Nope"]},
     {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
      "unknownKey": ["Nope"]},
     CommandStatus.ACCEPTED,
     {"configuration": {"HeartbeatInterval": {"value": "300", "readonly": False}},
      "unknown_keys": ["Nope"]}),
    ("get_configuration_all", GetConfiguration(), "GetConfiguration", {},
     {"configurationKey": []}, CommandStatus.ACCEPTED, {"configuration": {}, "unknown_keys": []}),
    ("set_configuration", SetConfiguration("MeterValueSampleInterval", "60"), "ChangeConfiguration",
     {"key": "MeterValueSampleInterval", "value": "60"}, {"status": "RebootRequired"},
     CommandStatus.ACCEPTED, {}),
    ("set_configuration_rejected", SetConfiguration("X", "1"), "ChangeConfiguration",
     {"key": "X", "value": "1"}, {"status": "NotSupported"}, CommandStatus.NOT_SUPPORTED, {}),
    ("trigger", TriggerMessage("StatusNotification", evse_id=1), "TriggerMessage",
     {"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"},
     CommandStatus.ACCEPTED, {}),
    ("trigger_log_status", TriggerMessage("LogStatusNotification"), "TriggerMessage",
     {"requestedMessage": "DiagnosticsStatusNotification"}, {"status": "NotImplemented"},
     CommandStatus.NOT_SUPPORTED, {}),
    ("set_profile", SetChargingProfile(1, PROFILE), "SetChargingProfile",
     {"connectorId": 1, "csChargingProfiles": PROFILE_16}, {"status": "Accepted"},
     CommandStatus.ACCEPTED, {}),
    ("clear_profile", ClearChargingProfile(evse_id=1, purpose=ProfilePurpose.TX_DEFAULT),
     "ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"},
     {"status": "Unknown"}, CommandStatus.ACCEPTED, {}),
    ("composite", GetCompositeSchedule(1, 3600, "W"), "GetCompositeSchedule",
     {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
     {"status": "Accepted", "connectorId": 1, "scheduleStart": "2026-12-01T03:00:00Z",
      "chargingSchedule": {"chargingRateUnit": "W", "duration": 3600,
                           "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}]}},
     CommandStatus.ACCEPTED,
     {"start": "2026-12-01T03:00:00Z", "unit": "W", "duration_s": 3600,
      "periods": [{"start_s": 0, "limit": 7400.0, "number_phases": None}]}),
    ("local_list", SendLocalList(3, full=False, entries=ENTRIES), "SendLocalList",
     {"listVersion": 3, "updateType": "Differential", "localAuthorizationList": [
         {"idTag": "AA11", "idTagInfo": {"status": "Accepted", "parentIdTag": "HOUSE"}},
         {"idTag": "BB22", "idTagInfo": {"status": "Blocked"}},
         {"idTag": "CC33"}]},
     {"status": "VersionMismatch"}, CommandStatus.REJECTED, {}),
    ("local_list_version", GetLocalListVersion(), "GetLocalListVersion", {}, {"listVersion": 3},
     CommandStatus.ACCEPTED, {"version": 3}),
    ("clear_cache", ClearCache(), "ClearCache", {}, {"status": "Accepted"},
     CommandStatus.ACCEPTED, {}),
    ("reserve", ReserveNow(5, "TAG1", WHEN, evse_id=1, parent_id="HOUSE"), "ReserveNow",
     {"connectorId": 1, "expiryDate": "2026-12-01T03:00:00Z", "idTag": "TAG1",
      "reservationId": 5, "parentIdTag": "HOUSE"},
     {"status": "Occupied"}, CommandStatus.REJECTED, {}),
    ("cancel_reservation", CancelReservation(5), "CancelReservation", {"reservationId": 5},
     {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
    ("firmware", UpdateFirmware("https://h/fw.bin", WHEN, retries=2, retry_interval_s=60),
     "UpdateFirmware",
     {"location": "https://h/fw.bin", "retrieveDate": "2026-12-01T03:00:00Z", "retries": 2,
      "retryInterval": 60}, {}, CommandStatus.ACCEPTED, {}),
    ("signed_firmware",
     UpdateFirmware("https://h/fw.bin", WHEN, request_id=4, retries=1,
                    signing_certificate=SIGNING_PEM, signature="c2ln"),
     "SignedUpdateFirmware",
     {"requestId": 4, "retries": 1,
      "firmware": {"location": "https://h/fw.bin", "retrieveDateTime": "2026-12-01T03:00:00Z",
                   "signingCertificate": SIGNING_PEM, "signature": "c2ln"}},
     {"status": "InvalidCertificate"}, CommandStatus.REJECTED, {}),
    ("diagnostics", UploadDiagnostics("https://h/up", start=WHEN), "GetDiagnostics",
     {"location": "https://h/up", "startTime": "2026-12-01T03:00:00Z"}, {"fileName": "diag.zip"},
     CommandStatus.ACCEPTED, {"file_name": "diag.zip"}),
    ("data_transfer", DataTransfer("com.example", "ping", {"a": 1}), "DataTransfer",
     {"vendorId": "com.example", "messageId": "ping", "data": '{"a":1}'},
     {"status": "Accepted", "data": "pong"}, CommandStatus.ACCEPTED, {"data": "pong"}),
]  # fmt: skip

CASES_2X: list[Case] = [
    ("remote_start", RemoteStart("TAG1", evse_id=1, remote_start_id=9), "RequestStartTransaction",
     {"idToken": {"idToken": "TAG1", "type": "Central"}, "remoteStartId": 9, "evseId": 1},
     {"status": "Accepted", "transactionId": "TX-9"}, CommandStatus.ACCEPTED,
     {"transaction_id": "TX-9"}),
    ("remote_stop", RemoteStop("TX-9"), "RequestStopTransaction", {"transactionId": "TX-9"},
     {"status": "Rejected"}, CommandStatus.REJECTED, {}),
    ("reset_soft", Reset(), "Reset", {"type": "OnIdle"}, {"status": "Scheduled"},
     CommandStatus.ACCEPTED, {}),
    ("reset_hard", Reset(hard=True), "Reset", {"type": "Immediate"}, {"status": "Accepted"},
     CommandStatus.ACCEPTED, {}),
    ("reset_evse", Reset(hard=True, evse_id=2), "Reset", {"type": "Immediate", "evseId": 2},
     {"status": "Rejected"}, CommandStatus.REJECTED, {}),
    ("unlock", UnlockConnector(1, 2), "UnlockConnector", {"evseId": 1, "connectorId": 2},
     {"status": "OngoingAuthorizedTransaction"}, CommandStatus.REJECTED, {}),
    ("unlock_unknown", UnlockConnector(3), "UnlockConnector", {"evseId": 3, "connectorId": 1},
     {"status": "UnknownConnector"}, CommandStatus.REJECTED, {}),
    ("availability_station", ChangeAvailability(0, operative=True), "ChangeAvailability",
     {"operationalStatus": "Operative"}, {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
    ("availability_evse", ChangeAvailability(2, operative=False), "ChangeAvailability",
     {"operationalStatus": "Inoperative", "evse": {"id": 2}}, {"status": "Rejected"},
     CommandStatus.REJECTED, {}),
    ("get_variables", GetConfiguration(("OCPPCommCtrlr/HeartbeatInterval", "EVSE@1/Power")),
     "GetVariables",
     {"getVariableData": [
         {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
         {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}]},
     {"getVariableResult": [
         {"attributeStatus": "Accepted", "attributeValue": "300",
          "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
         {"attributeStatus": "UnknownVariable", "component": {"name": "EVSE", "evse": {"id": 1}},
          "variable": {"name": "Power"}}]},
     CommandStatus.ACCEPTED,
     {"configuration": {"OCPPCommCtrlr/HeartbeatInterval": {"value": "300"}},
      "unknown_keys": ["EVSE@1/Power"]}),
    ("set_variables", SetConfiguration("SampledDataCtrlr/TxUpdatedInterval", "60"), "SetVariables",
     {"setVariableData": [{"attributeValue": "60", "component": {"name": "SampledDataCtrlr"},
                           "variable": {"name": "TxUpdatedInterval"}}]},
     {"setVariableResult": [{"attributeStatus": "Accepted",
                             "component": {"name": "SampledDataCtrlr"},
                             "variable": {"name": "TxUpdatedInterval"}}]},
     CommandStatus.ACCEPTED, {}),
    ("base_report", GetBaseReport(4, "ConfigurationInventory"), "GetBaseReport",
     {"requestId": 4, "reportBase": "ConfigurationInventory"}, {"status": "EmptyResultSet"},
     CommandStatus.REJECTED, {}),
    ("trigger", TriggerMessage("DiagnosticsStatusNotification", evse_id=1), "TriggerMessage",
     {"requestedMessage": "LogStatusNotification", "evse": {"id": 1}}, {"status": "Accepted"},
     CommandStatus.ACCEPTED, {}),
    ("set_profile", SetChargingProfile(1, PROFILE), "SetChargingProfile",
     {"evseId": 1, "chargingProfile": PROFILE_2X}, {"status": "Accepted"},
     CommandStatus.ACCEPTED, {}),
    ("clear_profile", ClearChargingProfile(profile_id=7), "ClearChargingProfile",
     {"chargingProfileId": 7}, {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
    ("clear_profile_criteria", ClearChargingProfile(evse_id=1, stack_level=2),
     "ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 1, "stackLevel": 2}},
     {"status": "Unknown"}, CommandStatus.ACCEPTED, {}),
    ("get_profiles", GetChargingProfiles(8, evse_id=1, purpose=ProfilePurpose.TX_DEFAULT),
     "GetChargingProfiles",
     {"requestId": 8, "evseId": 1,
      "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
     {"status": "NoProfiles"}, CommandStatus.ACCEPTED, {}),
    ("composite", GetCompositeSchedule(1, 3600), "GetCompositeSchedule",
     {"duration": 3600, "evseId": 1},
     {"status": "Accepted", "schedule": {
         "evseId": 1, "duration": 3600, "scheduleStart": "2026-12-01T03:00:00Z",
         "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}},
     CommandStatus.ACCEPTED,
     {"start": "2026-12-01T03:00:00Z", "unit": "A", "duration_s": 3600,
      "periods": [{"start_s": 0, "limit": 16.0, "number_phases": None}]}),
    ("local_list", SendLocalList(1, full=True, entries=ENTRIES[:2]), "SendLocalList",
     {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [
         {"idToken": {"idToken": "AA11", "type": "ISO14443"},
          "idTokenInfo": {"status": "Accepted",
                          "groupIdToken": {"idToken": "HOUSE", "type": "Central"}}},
         {"idToken": {"idToken": "BB22", "type": "ISO14443"},
          "idTokenInfo": {"status": "Blocked"}}]},
     {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
    ("local_list_version", GetLocalListVersion(), "GetLocalListVersion", {},
     {"versionNumber": 1}, CommandStatus.ACCEPTED, {"version": 1}),
    ("clear_cache", ClearCache(), "ClearCache", {}, {"status": "Rejected"},
     CommandStatus.REJECTED, {}),
    ("reserve", ReserveNow(5, "TAG1", WHEN, evse_id=1), "ReserveNow",
     {"id": 5, "expiryDateTime": "2026-12-01T03:00:00Z",
      "idToken": {"idToken": "TAG1", "type": "ISO14443"}, "evseId": 1},
     {"status": "Accepted"}, CommandStatus.ACCEPTED, {}),
    ("cancel_reservation", CancelReservation(5), "CancelReservation", {"reservationId": 5},
     {"status": "Rejected"}, CommandStatus.REJECTED, {}),
    ("firmware", UpdateFirmware("https://h/fw.bin", WHEN, request_id=3), "UpdateFirmware",
     {"requestId": 3, "firmware": {"location": "https://h/fw.bin",
                                   "retrieveDateTime": "2026-12-01T03:00:00Z"}},
     {"status": "InvalidCertificate"}, CommandStatus.REJECTED, {}),
    ("signed_firmware",
     UpdateFirmware("https://h/fw.bin", WHEN, request_id=3,
                    signing_certificate=SIGNING_PEM, signature="c2ln"),
     "UpdateFirmware",
     {"requestId": 3, "firmware": {"location": "https://h/fw.bin",
                                   "retrieveDateTime": "2026-12-01T03:00:00Z",
                                   "signingCertificate": SIGNING_PEM, "signature": "c2ln"}},
     {"status": "AcceptedCanceled"}, CommandStatus.ACCEPTED, {}),
    ("log", UploadDiagnostics("https://h/up", request_id=2, stop=WHEN, retries=1), "GetLog",
     {"log": {"remoteLocation": "https://h/up", "latestTimestamp": "2026-12-01T03:00:00Z"},
      "logType": "DiagnosticsLog", "requestId": 2, "retries": 1},
     {"status": "Accepted", "filename": "log.tgz"}, CommandStatus.ACCEPTED,
     {"file_name": "log.tgz"}),
    ("data_transfer", DataTransfer("com.example", data={"a": 1}), "DataTransfer",
     {"vendorId": "com.example", "data": {"a": 1}}, {"status": "UnknownVendorId"},
     CommandStatus.REJECTED, {}),
]  # fmt: skip


async def run_command(
    charger: RawCharger, command: Command, answer: list[Any] | dict[str, Any] | None
) -> tuple[list[Any], CommandResult]:
    """Execute a command; the charger answers `answer` (a payload, a whole frame or nothing)."""
    task = asyncio.create_task(charger.running.system.execute(charger.charger_id, command))
    frame = json.loads(await asyncio.wait_for(charger.websocket.recv(), 3))
    if isinstance(answer, dict):
        await charger.websocket.send(json.dumps([3, frame[1], answer]))
    elif isinstance(answer, list):
        await charger.websocket.send(json.dumps([answer[0], frame[1], *answer[1:]]))
    return frame, await task


async def _check_case(charger: RawCharger, version: OcppVersion, case: Case) -> None:
    _name, command, action, payload, answer, status, data = case
    frame, result = await run_command(charger, command, answer)
    assert frame[2:] == [action, payload]
    assert load_all()[version].request_problem(action, frame[3]) is None
    assert result.status is status, result
    for key, value in data.items():
        assert result.data[key] == value


@pytest.mark.parametrize("case", CASES_16, ids=[case[0] for case in CASES_16])
async def test_command_16(raw_charger: ConnectRaw, case: Case) -> None:
    charger = await raw_charger("ocpp1.6")
    await _check_case(charger, OcppVersion.V16, case)


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
@pytest.mark.parametrize("case", CASES_2X, ids=[case[0] for case in CASES_2X])
async def test_command_2x(raw_charger: ConnectRaw, case: Case, version: OcppVersion) -> None:
    charger = await raw_charger(version.value)
    await _check_case(charger, version, case)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_timeout_error_and_offline(raw_charger: ConnectRaw, version: str) -> None:
    """Whatever the command: silence times out, a CALLERROR fails, no charger is offline."""
    charger = await raw_charger(version, call_timeout=0.3)
    _, result = await run_command(charger, Reset(), None)
    assert result.status is CommandStatus.TIMED_OUT
    _, result = await run_command(charger, Reset(), [4, "InternalError", "boom", {}])
    assert (result.status, result.detail) == (CommandStatus.FAILED, "InternalError: boom")
    _, result = await run_command(charger, ClearCache(), [4, "NotImplemented", "", {}])
    assert result.status is CommandStatus.NOT_SUPPORTED
    system = charger.running.system
    assert (await system.execute("NOBODY", Reset())).status is CommandStatus.OFFLINE


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
async def test_network_profile(raw_charger: ConnectRaw, version: OcppVersion) -> None:
    """2.0.1 names its version OCPP20 (required); 2.1 leaves the optional word out."""
    charger = await raw_charger(version.value)
    command = SetNetworkProfile(2, "wss://ha.local:9000/ocpp", 3, "Wireless0", 40)
    frame, result = await run_command(charger, command, {"status": "Accepted"})
    connection = {
        "ocppTransport": "JSON",
        "ocppCsmsUrl": "wss://ha.local:9000/ocpp",
        "messageTimeout": 40,
        "securityProfile": 3,
        "ocppInterface": "Wireless0",
    }
    if version is OcppVersion.V201:
        connection["ocppVersion"] = "OCPP20"
    assert frame[2:] == [
        "SetNetworkProfile",
        {"configurationSlot": 2, "connectionData": connection},
    ]
    assert load_all()[version].request_problem("SetNetworkProfile", frame[3]) is None
    assert result.accepted
    _, result = await run_command(charger, command, {"status": "Failed"})
    assert result.status is CommandStatus.REJECTED


async def test_commands_16_cannot_carry(raw_charger: ConnectRaw) -> None:
    """Commands 1.6 lacks are refused locally, without a CALL."""
    charger = await raw_charger("ocpp1.6")
    system = charger.running.system
    for command in (
        GetBaseReport(1),
        GetChargingProfiles(1),
        SetNetworkProfile(1, "wss://h/ocpp", 3),
        TriggerMessage("TransactionEvent"),
        Reset(evse_id=1),  # 1.6 restarts only the whole charger
    ):
        assert (await system.execute("CP-1", command)).status is CommandStatus.NOT_SUPPORTED
    result = await system.execute("CP-1", RemoteStop("TX-abc"))
    assert result.status is CommandStatus.FAILED


async def test_commands_2x_cannot_carry(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger("ocpp2.0.1")
    system = charger.running.system
    assert (
        await system.execute("CP-1", TriggerMessage("Nonsense"))
    ).status is CommandStatus.NOT_SUPPORTED
    for key in ("NoSlash", "Comp@x/Var"):
        result = await system.execute("CP-1", SetConfiguration(key, "1"))
        assert result.status is CommandStatus.FAILED
        result = await system.execute("CP-1", GetConfiguration((key,)))
        assert result.status is CommandStatus.FAILED


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
async def test_2x_unlock_names_the_connector_the_charger_reported(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    status = {"timestamp": "2026-11-23T10:00:00Z", "connectorStatus": "Occupied"}
    await charger.result("StatusNotification", {**status, "evseId": 1, "connectorId": 2})
    frame, _ = await run_command(charger, UnlockConnector(1), {"status": "Unlocked"})
    assert frame[3] == {"evseId": 1, "connectorId": 2}


async def test_accepted_settings_are_remembered(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger("ocpp1.6")
    await run_command(charger, SetConfiguration("HeartbeatInterval", "120"), {"status": "Accepted"})
    await run_command(charger, SetConfiguration("Locked", "1"), {"status": "Rejected"})
    assert charger.station.configuration == {"HeartbeatInterval": "120"}


ALL_CASES = [(OcppVersion.V16, case) for case in CASES_16] + [
    (version, case) for version in (OcppVersion.V201, OcppVersion.V21) for case in CASES_2X
]


@pytest.mark.parametrize(
    ("version", "case"), ALL_CASES, ids=[f"{v.value}-{c[0]}" for v, c in ALL_CASES]
)
async def test_every_command_times_out_and_goes_offline_typed(
    raw_charger: ConnectRaw, version: OcppVersion, case: Case
) -> None:
    """Each command: silence -> timed out (bounded), and no connection -> offline, no CALL."""
    charger = await raw_charger(version.value, call_timeout=0.05)
    command = case[1]
    frame, result = await run_command(charger, command, None)
    assert frame[2] == case[2]
    assert result.status is CommandStatus.TIMED_OUT
    offline = await charger.running.system.execute("NOT-CONNECTED", command)
    assert offline.status is CommandStatus.OFFLINE
