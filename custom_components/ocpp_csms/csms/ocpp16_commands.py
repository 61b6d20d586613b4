"""OCPP 1.6J spellings of the central system's commands, and readings of the answers."""

from __future__ import annotations

import json
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
from .station import Station

PURPOSE = {
    ProfilePurpose.STATION_MAX: "ChargePointMaxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.TX: "TxProfile",
}

# Version-neutral trigger names that 1.6 spells otherwise.
_TRIGGER_NAMES = {"LogStatusNotification": "DiagnosticsStatusNotification"}
_TRIGGERS = frozenset(
    {
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    }
)
ACCEPTED = frozenset({"Accepted"})

_AUTHORIZATION = {
    AuthorizationStatus.ACCEPTED: "Accepted",
    AuthorizationStatus.BLOCKED: "Blocked",
    AuthorizationStatus.EXPIRED: "Expired",
    AuthorizationStatus.INVALID: "Invalid",
    AuthorizationStatus.UNKNOWN: "Invalid",  # 1.6 has no "Unknown"
    AuthorizationStatus.NOT_AT_THIS_LOCATION: "Invalid",  # nor "NotAtThisLocation"
    AuthorizationStatus.CONCURRENT_TX: "ConcurrentTx",
}


def id_tag_info(decision: AuthorizationDecision) -> dict[str, Any]:
    """The idTagInfo of a decision."""
    info: dict[str, Any] = {"status": _AUTHORIZATION[decision.status]}
    if decision.expiry is not None:
        info["expiryDate"] = time_text(decision.expiry)
    if decision.parent_id:
        info["parentIdTag"] = decision.parent_id[:20]
    return info


def profile_payload(profile: ChargingProfile) -> dict[str, Any]:
    """A 1.6 csChargingProfiles object."""
    payload: dict[str, Any] = {
        "chargingProfileId": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": PURPOSE[profile.purpose],
        "chargingProfileKind": profile.kind.value,
        "chargingSchedule": schedule_payload(profile),
    }
    if profile.recurrency:
        payload["recurrencyKind"] = profile.recurrency
    if profile.valid_from is not None:
        payload["validFrom"] = time_text(profile.valid_from)
    if profile.valid_to is not None:
        payload["validTo"] = time_text(profile.valid_to)
    if profile.transaction_id is not None and profile.transaction_id.isdigit():
        payload["transactionId"] = int(profile.transaction_id)
    return payload


def schedule_data(schedule: dict[str, Any] | None, start: str | None) -> dict[str, Any]:
    """A composite schedule in version-neutral form."""
    if not schedule:
        return {}
    return {
        "start": start or schedule.get("startSchedule"),
        "duration_s": schedule.get("duration"),
        "unit": schedule.get("chargingRateUnit"),
        "periods": [
            {
                "start_s": period["startPeriod"],
                "limit": period["limit"],
                "number_phases": period.get("numberPhases"),
            }
            for period in schedule.get("chargingSchedulePeriod", ())
        ],
    }


def _local_list_entry(entry: LocalListEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"idTag": entry.id_tag}
    if entry.status is not None:
        item["idTagInfo"] = id_tag_info(
            AuthorizationDecision(
                AuthorizationStatus(entry.status), parent_id=entry.parent_id, expiry=entry.expiry
            )
        )
    return item


def encode(command: Command, station: Station) -> Call | CommandResult:  # noqa: PLR0911, PLR0912, PLR0915
    """The 1.6 CALL for `command`, or why it cannot be sent."""
    # One case per command: a dispatch table reads best as one match.
    match command:
        case RemoteStart(id_tag=id_tag, evse_id=evse_id, profile=profile):
            payload: dict[str, Any] = {"idTag": id_tag[:20]}
            if evse_id is not None:
                payload["connectorId"] = evse_id
            if profile is not None:
                payload["chargingProfile"] = profile_payload(profile)
            return Call("RemoteStartTransaction", payload)
        case RemoteStop(transaction_id=transaction_id):
            if not transaction_id.isdigit():
                return CommandResult(
                    CommandStatus.FAILED, f"{transaction_id} is no 1.6 transaction id"
                )
            return Call("RemoteStopTransaction", {"transactionId": int(transaction_id)})
        case Reset(hard=hard, evse_id=evse_id):
            if evse_id is not None:
                return not_supported("OCPP 1.6 restarts only the whole charger")
            return Call("Reset", {"type": "Hard" if hard else "Soft"})
        case UnlockConnector(evse_id=evse_id):
            return Call("UnlockConnector", {"connectorId": evse_id}, frozenset({"Unlocked"}))
        case ChangeAvailability(evse_id=evse_id, operative=operative):
            return Call(
                "ChangeAvailability",
                {"connectorId": evse_id, "type": "Operative" if operative else "Inoperative"},
                frozenset({"Accepted", "Scheduled"}),
            )
        case GetConfiguration(keys=keys):
            return Call(
                "GetConfiguration",
                {"key": list(keys)} if keys else {},
                decode=lambda answer: _read_configuration(answer, station),
            )
        case SetConfiguration(key=key, value=value):
            return Call(
                "ChangeConfiguration",
                {"key": key, "value": value},
                frozenset({"Accepted", "RebootRequired"}),
                decode=lambda answer: _remember_setting(answer, station, key, value),
            )
        case TriggerMessage(message=message, evse_id=evse_id):
            message = _TRIGGER_NAMES.get(message, message)
            if message not in _TRIGGERS:
                return not_supported(f"OCPP 1.6 cannot trigger {message}")
            payload = {"requestedMessage": message}
            if evse_id is not None:
                payload["connectorId"] = evse_id
            return Call("TriggerMessage", payload)
        case SetChargingProfile(evse_id=evse_id, profile=profile):
            return Call(
                "SetChargingProfile",
                {"connectorId": evse_id, "csChargingProfiles": profile_payload(profile)},
            )
        case ClearChargingProfile():
            payload = {}
            if command.profile_id is not None:
                payload["id"] = command.profile_id
            if command.evse_id is not None:
                payload["connectorId"] = command.evse_id
            if command.purpose is not None:
                payload["chargingProfilePurpose"] = PURPOSE[command.purpose]
            if command.stack_level is not None:
                payload["stackLevel"] = command.stack_level
            # "Unknown": nothing matched, so nothing is left to clear.
            return Call("ClearChargingProfile", payload, frozenset({"Accepted", "Unknown"}))
        case GetCompositeSchedule(evse_id=evse_id, duration_s=duration_s, unit=unit):
            payload = {"connectorId": evse_id, "duration": duration_s}
            if unit:
                payload["chargingRateUnit"] = unit
            return Call(
                "GetCompositeSchedule",
                payload,
                decode=lambda answer: status_result(
                    answer.get("status", ""),
                    ACCEPTED,
                    schedule_data(answer.get("chargingSchedule"), answer.get("scheduleStart")),
                ),
            )
        case SendLocalList(version=version, full=full, entries=entries):
            return Call(
                "SendLocalList",
                {
                    "listVersion": version,
                    "updateType": "Full" if full else "Differential",
                    "localAuthorizationList": [_local_list_entry(entry) for entry in entries],
                },
            )
        case GetLocalListVersion():
            return Call(
                "GetLocalListVersion",
                {},
                decode=lambda answer: CommandResult(
                    CommandStatus.ACCEPTED, data={"version": answer.get("listVersion")}
                ),
            )
        case ClearCache():
            return Call("ClearCache", {})
        case ReserveNow():
            payload = {
                "connectorId": command.evse_id or 0,
                "expiryDate": time_text(command.expiry),
                "idTag": command.id_tag[:20],
                "reservationId": command.reservation_id,
            }
            if command.parent_id:
                payload["parentIdTag"] = command.parent_id[:20]
            return Call("ReserveNow", payload)
        case CancelReservation(reservation_id=reservation_id):
            return Call("CancelReservation", {"reservationId": reservation_id})
        case UpdateFirmware() if command.signed:
            return _signed_update_firmware(command)
        case UpdateFirmware():
            payload = {"location": command.location, "retrieveDate": time_text(command.retrieve_at)}
            add_retries(payload, command.retries, command.retry_interval_s)
            # 1.6 answers an empty UpdateFirmware.conf: receiving it means accepted.
            return Call("UpdateFirmware", payload, decode=_accepted_without_status)
        case UploadDiagnostics():
            payload = {"location": command.location}
            add_retries(payload, command.retries, command.retry_interval_s)
            if command.start is not None:
                payload["startTime"] = time_text(command.start)
            if command.stop is not None:
                payload["stopTime"] = time_text(command.stop)
            return Call(
                "GetDiagnostics",
                payload,
                decode=lambda answer: CommandResult(
                    CommandStatus.ACCEPTED, data={"file_name": answer.get("fileName")}
                ),
            )
        case DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data):
            payload = {"vendorId": vendor_id}
            if message_id is not None:
                payload["messageId"] = message_id
            if data is not None:
                payload["data"] = data if isinstance(data, str) else _json_text(data)
            return Call(
                "DataTransfer",
                payload,
                decode=lambda answer: status_result(
                    answer.get("status", ""), ACCEPTED, {"data": answer.get("data")}
                ),
            )
        case GetBaseReport() | GetChargingProfiles() | SetNetworkProfile():
            return not_supported(f"OCPP 1.6 has no {type(command).__name__}")
    return not_supported(type(command).__name__)


def _signed_update_firmware(command: UpdateFirmware) -> Call:
    """The security extension's SignedUpdateFirmware: the charger checks the signature.

    Answered Accepted, Rejected, AcceptedCanceled (an earlier update was cancelled for
    this one), InvalidCertificate or RevokedCertificate.
    """
    payload: dict[str, Any] = {
        "requestId": command.request_id,
        "firmware": {
            "location": command.location,
            "retrieveDateTime": time_text(command.retrieve_at),
            "signingCertificate": command.signing_certificate,
            "signature": command.signature,
        },
    }
    add_retries(payload, command.retries, command.retry_interval_s)
    return Call("SignedUpdateFirmware", payload, frozenset({"Accepted", "AcceptedCanceled"}))


def _accepted_without_status(_answer: dict[str, Any]) -> CommandResult:
    return CommandResult(CommandStatus.ACCEPTED)


def _json_text(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))


def _read_configuration(answer: dict[str, Any], station: Station) -> CommandResult:
    configuration: dict[str, dict[str, Any]] = {}
    for item in answer.get("configurationKey") or ():
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            station.warn("unreadable_setting")
            continue
        value = item.get("value")
        value = value if value is None else str(value)
        read_only = bool(item.get("readonly"))
        station.remember_setting(item["key"], value, read_only=read_only)
        configuration[item["key"]] = {"value": value, "readonly": read_only}
    return CommandResult(
        CommandStatus.ACCEPTED,
        data={
            "configuration": configuration,
            "unknown_keys": list(answer.get("unknownKey", [])),
        },
    )


def _remember_setting(
    answer: dict[str, Any], station: Station, key: str, value: str
) -> CommandResult:
    result = status_result(answer.get("status", ""), frozenset({"Accepted", "RebootRequired"}))
    if result.accepted:
        station.configuration[key] = value
    return result
