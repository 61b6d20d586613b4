"""OCPP 2.0.1 / 2.1 spellings of the central system's commands, and readings of answers.

Configuration variables are named `Component[:instance][@evse[:connector]]/Variable[:instance]`,
for example `SmartChargingCtrlr/Enabled` or `EVSE@1/Power`.
"""

from __future__ import annotations

from typing import Any

from .authorization import AuthorizationDecision, AuthorizationStatus
from .commands import (
    Call,
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
    ProfilePurpose,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    Reset,
    SendLocalList,
    SetChargingProfile,
    SetConfiguration,
    SetNetworkProfile,
    TriggerMessage,
    UnlockConnector,
    UpdateFirmware,
    UploadDiagnostics,
    not_supported,
    status_result,
)
from .ocppj import add_retries, schedule_payload, time_text
from .station import OcppVersion, Station

PURPOSE = {
    ProfilePurpose.STATION_MAX: "ChargingStationMaxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.TX: "TxProfile",
}

_AUTHORIZATION = {
    AuthorizationStatus.ACCEPTED: "Accepted",
    AuthorizationStatus.BLOCKED: "Blocked",
    AuthorizationStatus.EXPIRED: "Expired",
    AuthorizationStatus.INVALID: "Invalid",
    AuthorizationStatus.UNKNOWN: "Unknown",
    AuthorizationStatus.NOT_AT_THIS_LOCATION: "NotAtThisLocation",
    AuthorizationStatus.CONCURRENT_TX: "ConcurrentTx",
}

_TRIGGER_NAMES = {"DiagnosticsStatusNotification": "LogStatusNotification"}
_TRIGGERS = frozenset(
    {
        "BootNotification",
        "LogStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
        "TransactionEvent",
        "PublishFirmwareStatusNotification",
    }
)
ACCEPTED = frozenset({"Accepted"})


def id_token_info(decision: AuthorizationDecision) -> dict[str, Any]:
    """The idTokenInfo of a decision."""
    info: dict[str, Any] = {"status": _AUTHORIZATION[decision.status]}
    if decision.expiry is not None:
        info["cacheExpiryDateTime"] = time_text(decision.expiry)
    if decision.parent_id:
        info["groupIdToken"] = {"idToken": decision.parent_id[:36], "type": "Central"}
    return info


def variable_name(component: dict[str, Any], variable: dict[str, Any]) -> str:
    """The model's name of a 2.x component variable (see the module docstring)."""
    name = str(component["name"])
    if component.get("instance"):
        name += f":{component['instance']}"
    if evse := component.get("evse"):
        name += f"@{evse['id']}"
        if evse.get("connectorId") is not None:
            name += f":{evse['connectorId']}"
    name += f"/{variable['name']}"
    if variable.get("instance"):
        name += f":{variable['instance']}"
    return name


def parse_variable_name(name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The component and variable objects of a name, or None when it is no such name."""
    component_part, slash, variable_part = name.partition("/")
    if not slash or not component_part or not variable_part:
        return None
    component_part, _, evse_part = component_part.partition("@")
    component_name, _, component_instance = component_part.partition(":")
    variable_name_, _, variable_instance = variable_part.partition(":")
    component: dict[str, Any] = {"name": component_name}
    if component_instance:
        component["instance"] = component_instance
    if evse_part:
        evse_id, _, connector_id = evse_part.partition(":")
        if not evse_id.isdigit() or (connector_id and not connector_id.isdigit()):
            return None
        component["evse"] = {"id": int(evse_id)}
        if connector_id:
            component["evse"]["connectorId"] = int(connector_id)
    variable: dict[str, Any] = {"name": variable_name_}
    if variable_instance:
        variable["instance"] = variable_instance
    return component, variable


def profile_payload(profile: ChargingProfile) -> dict[str, Any]:
    """A 2.x chargingProfile object."""
    payload: dict[str, Any] = {
        "id": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": PURPOSE[profile.purpose],
        "chargingProfileKind": profile.kind.value,
        "chargingSchedule": [{"id": profile.id, **schedule_payload(profile)}],
    }
    if profile.recurrency:
        payload["recurrencyKind"] = profile.recurrency
    if profile.valid_from is not None:
        payload["validFrom"] = time_text(profile.valid_from)
    if profile.valid_to is not None:
        payload["validTo"] = time_text(profile.valid_to)
    if profile.transaction_id is not None:
        payload["transactionId"] = profile.transaction_id
    return payload


def schedule_data(schedule: dict[str, Any] | None) -> dict[str, Any]:
    """A composite schedule in version-neutral form."""
    if not schedule:
        return {}
    return {
        "start": schedule.get("scheduleStart"),
        "duration_s": schedule.get("duration"),
        "unit": schedule.get("chargingRateUnit"),
        "periods": [
            {
                "start_s": period["startPeriod"],
                "limit": period.get("limit"),
                "number_phases": period.get("numberPhases"),
            }
            for period in schedule.get("chargingSchedulePeriod", ())
        ],
    }


def _local_list_entry(entry: LocalListEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"idToken": {"idToken": entry.id_tag, "type": entry.token_type}}
    if entry.status is not None:
        item["idTokenInfo"] = id_token_info(
            AuthorizationDecision(
                AuthorizationStatus(entry.status), parent_id=entry.parent_id, expiry=entry.expiry
            )
        )
    return item


def encode(command: Command, station: Station) -> Call | CommandResult:  # noqa: PLR0911, PLR0912, PLR0915
    """The 2.x CALL for `command`, or why it cannot be sent."""
    # One case per command: a dispatch table reads best as one match.
    match command:
        case RemoteStart(id_tag=id_tag, evse_id=evse_id, profile=profile):
            payload: dict[str, Any] = {
                "idToken": {"idToken": id_tag[:36], "type": "Central"},
                "remoteStartId": command.remote_start_id,
            }
            if evse_id is not None:
                payload["evseId"] = evse_id
            if profile is not None:
                payload["chargingProfile"] = profile_payload(profile)
            return Call(
                "RequestStartTransaction",
                payload,
                decode=lambda answer: status_result(
                    answer.get("status", ""),
                    ACCEPTED,
                    {"transaction_id": answer.get("transactionId")},
                ),
            )
        case RemoteStop(transaction_id=transaction_id):
            return Call("RequestStopTransaction", {"transactionId": transaction_id})
        case Reset(hard=hard, evse_id=evse_id):
            payload = {"type": "Immediate" if hard else "OnIdle"}
            if evse_id is not None:
                payload["evseId"] = evse_id
            return Call("Reset", payload, frozenset({"Accepted", "Scheduled"}))
        case UnlockConnector(evse_id=evse_id, connector_id=connector_id):
            if connector_id is None:
                connector_id = _first_connector(station, evse_id)
            return Call(
                "UnlockConnector",
                {"evseId": evse_id, "connectorId": connector_id},
                frozenset({"Unlocked"}),
            )
        case ChangeAvailability(evse_id=evse_id, operative=operative):
            payload = {"operationalStatus": "Operative" if operative else "Inoperative"}
            if evse_id:
                payload["evse"] = {"id": evse_id}
            return Call("ChangeAvailability", payload, frozenset({"Accepted", "Scheduled"}))
        case GetConfiguration(keys=keys) if keys:
            data = []
            for key in keys:
                parsed = parse_variable_name(key)
                if parsed is None:
                    return CommandResult(CommandStatus.FAILED, f"{key} is not Component/Variable")
                data.append({"component": parsed[0], "variable": parsed[1]})
            return Call(
                "GetVariables",
                {"getVariableData": data},
                decode=lambda answer: _read_variables(answer, station),
            )
        case SetConfiguration(key=key, value=value):
            parsed = parse_variable_name(key)
            if parsed is None:
                return CommandResult(CommandStatus.FAILED, f"{key} is not Component/Variable")
            return Call(
                "SetVariables",
                {
                    "setVariableData": [
                        {"attributeValue": value, "component": parsed[0], "variable": parsed[1]}
                    ]
                },
                decode=lambda answer: _read_set_variable(answer, station, key, value),
            )
        case GetBaseReport(request_id=request_id, report_base=report_base):
            return Call("GetBaseReport", {"requestId": request_id, "reportBase": report_base})
        case TriggerMessage(message=message, evse_id=evse_id):
            message = _TRIGGER_NAMES.get(message, message)
            if message not in _TRIGGERS:
                return not_supported(f"OCPP 2.x cannot trigger {message}")
            payload = {"requestedMessage": message}
            if evse_id is not None:
                payload["evse"] = {"id": evse_id}
            return Call("TriggerMessage", payload)
        case SetChargingProfile(evse_id=evse_id, profile=profile):
            return Call(
                "SetChargingProfile",
                {"evseId": evse_id, "chargingProfile": profile_payload(profile)},
            )
        case ClearChargingProfile():
            payload = {}
            if command.profile_id is not None:
                payload["chargingProfileId"] = command.profile_id
            criteria: dict[str, Any] = {}
            if command.evse_id is not None:
                criteria["evseId"] = command.evse_id
            if command.purpose is not None:
                criteria["chargingProfilePurpose"] = PURPOSE[command.purpose]
            if command.stack_level is not None:
                criteria["stackLevel"] = command.stack_level
            if criteria:
                payload["chargingProfileCriteria"] = criteria
            return Call("ClearChargingProfile", payload, frozenset({"Accepted", "Unknown"}))
        case GetChargingProfiles(request_id=request_id, evse_id=evse_id, purpose=purpose):
            payload = {"requestId": request_id, "chargingProfile": {}}
            if evse_id is not None:
                payload["evseId"] = evse_id
            if purpose is not None:
                payload["chargingProfile"]["chargingProfilePurpose"] = PURPOSE[purpose]
            return Call("GetChargingProfiles", payload, frozenset({"Accepted", "NoProfiles"}))
        case GetCompositeSchedule(evse_id=evse_id, duration_s=duration_s, unit=unit):
            payload = {"duration": duration_s, "evseId": evse_id}
            if unit:
                payload["chargingRateUnit"] = unit
            return Call(
                "GetCompositeSchedule",
                payload,
                decode=lambda answer: status_result(
                    answer.get("status", ""), ACCEPTED, schedule_data(answer.get("schedule"))
                ),
            )
        case SendLocalList(version=version, full=full, entries=entries):
            return Call(
                "SendLocalList",
                {
                    "versionNumber": version,
                    "updateType": "Full" if full else "Differential",
                    "localAuthorizationList": [_local_list_entry(entry) for entry in entries],
                },
            )
        case GetLocalListVersion():
            return Call(
                "GetLocalListVersion",
                {},
                decode=lambda answer: CommandResult(
                    CommandStatus.ACCEPTED, data={"version": answer.get("versionNumber")}
                ),
            )
        case ClearCache():
            return Call("ClearCache", {})
        case ReserveNow():
            payload = {
                "id": command.reservation_id,
                "expiryDateTime": time_text(command.expiry),
                "idToken": {"idToken": command.id_tag[:36], "type": "ISO14443"},
            }
            if command.evse_id is not None:
                payload["evseId"] = command.evse_id
            if command.parent_id:
                payload["groupIdToken"] = {"idToken": command.parent_id[:36], "type": "Central"}
            return Call("ReserveNow", payload)
        case CancelReservation(reservation_id=reservation_id):
            return Call("CancelReservation", {"reservationId": reservation_id})
        case UpdateFirmware():
            payload = {
                "requestId": command.request_id,
                "firmware": {
                    "location": command.location,
                    "retrieveDateTime": time_text(command.retrieve_at),
                },
            }
            if command.signed:
                # The charger checks the signature against the certificate before it
                # installs; a bad certificate is answered InvalidCertificate.
                payload["firmware"]["signingCertificate"] = command.signing_certificate
                payload["firmware"]["signature"] = command.signature
            add_retries(payload, command.retries, command.retry_interval_s)
            return Call("UpdateFirmware", payload, frozenset({"Accepted", "AcceptedCanceled"}))
        case SetNetworkProfile():
            connection: dict[str, Any] = {
                "ocppTransport": "JSON",
                "ocppCsmsUrl": command.csms_url,
                "messageTimeout": command.message_timeout_s,
                "securityProfile": command.security_profile,
                "ocppInterface": command.ocpp_interface,
            }
            if station.version is OcppVersion.V201:
                # Required in 2.0.1, which knows 2.0 only as OCPP20; 2.1 made it
                # optional (the WebSocket handshake says the version).
                connection["ocppVersion"] = "OCPP20"
            return Call(
                "SetNetworkProfile",
                {"configurationSlot": command.slot, "connectionData": connection},
            )
        case UploadDiagnostics():
            log: dict[str, Any] = {"remoteLocation": command.location}
            if command.start is not None:
                log["oldestTimestamp"] = time_text(command.start)
            if command.stop is not None:
                log["latestTimestamp"] = time_text(command.stop)
            payload = {"log": log, "logType": "DiagnosticsLog", "requestId": command.request_id}
            add_retries(payload, command.retries, command.retry_interval_s)
            return Call(
                "GetLog",
                payload,
                decode=lambda answer: status_result(
                    answer.get("status", ""),
                    frozenset({"Accepted", "AcceptedCanceled"}),
                    {"file_name": answer.get("filename")},
                ),
            )
        case DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data):
            payload = {"vendorId": vendor_id}
            if message_id is not None:
                payload["messageId"] = message_id
            if data is not None:
                payload["data"] = data
            return Call(
                "DataTransfer",
                payload,
                decode=lambda answer: status_result(
                    answer.get("status", ""), ACCEPTED, {"data": answer.get("data")}
                ),
            )
        case GetConfiguration():
            return not_supported("read the whole configuration with a base report")
    return not_supported(type(command).__name__)


def _first_connector(station: Station, evse_id: int) -> int:
    """The lowest connector of an EVSE the charger reported a status for, else 1."""
    evse = station.evses.get(evse_id)
    return min(evse.connector_status, default=1) if evse else 1


def _read_variables(answer: dict[str, Any], station: Station) -> CommandResult:
    configuration: dict[str, Any] = {}
    unknown: list[str] = []
    for item in answer.get("getVariableResult", ()):
        name = variable_name(item["component"], item["variable"])
        if item.get("attributeStatus") == "Accepted":
            station.remember_setting(
                name,
                item.get("attributeValue"),
                read_only=name in station.read_only_settings,
            )
            configuration[name] = {"value": item.get("attributeValue")}
        else:
            unknown.append(name)
    return CommandResult(
        CommandStatus.ACCEPTED, data={"configuration": configuration, "unknown_keys": unknown}
    )


def _read_set_variable(
    answer: dict[str, Any], station: Station, key: str, value: str
) -> CommandResult:
    results = answer.get("setVariableResult") or [{}]
    status = str(results[0].get("attributeStatus", ""))
    result = status_result(status, frozenset({"Accepted", "RebootRequired"}))
    if result.accepted:
        station.configuration[key] = value
    return result
