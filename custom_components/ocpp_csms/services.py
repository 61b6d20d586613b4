"""Actions: every command a central system can send, addressed to a charger's device.

Registered once in `async_setup`. Each action names its charger with a device id,
checks its input, and returns or raises honestly: a charger that refuses, does not
support the command, does not answer or is offline raises a translated error naming
the charger; a wrong device or connector raises a validation error. No action ever
falls back to "the first charger".
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import probatio
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.service import async_register_admin_service

from .const import CONF_BASE_URL, DOMAIN, MAX_CURRENT_LIMIT_A
from .csms.charging import limit_profile
from .csms.commands import (
    CancelReservation,
    ChangeAvailability,
    ClearChargingProfile,
    Command,
    CommandResult,
    DataTransfer,
    GetCompositeSchedule,
    GetConfiguration,
    ProfileKind,
    ProfilePurpose,
    RemoteStart,
    RemoteStop,
    ReserveNow,
    Reset,
    SetChargingProfile,
    SetConfiguration,
    TriggerMessage,
    UnlockConnector,
    UpdateFirmware,
    UploadDiagnostics,
)
from .csms.station import Station
from .http import DIAGNOSTICS_URL, EXCHANGE, FIRMWARE_FOLDER, FIRMWARE_URL, firmware_path
from .hub import CentralSystemHub
from .limits import profile_from_input
from .schedules import SCHEDULE_FIELDS, stored_schedule

ATTR_DEVICE_ID = "device_id"
ATTR_CONNECTOR = "connector"
TRIGGERS = (
    "BootNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "TransactionEvent",
)
_reservation_ids = itertools.count(int(datetime.now(UTC).timestamp()) % 1_000_000)

_TARGET = {
    probatio.Required(ATTR_DEVICE_ID): cv.string,
    probatio.Optional(ATTR_CONNECTOR): probatio.All(
        probatio.Coerce(int), probatio.Range(min=0, max=32)
    ),
}


@dataclass(frozen=True)
class _Target:
    hub: CentralSystemHub
    station: Station
    connector: int | None


def _resolve(hass: HomeAssistant, call: ServiceCall, *, allow_station: bool = False) -> _Target:
    """The charger (and connector) an action is addressed to."""
    device_id = call.data[ATTR_DEVICE_ID]
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_device",
            translation_placeholders={"device_id": device_id},
        )
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        hub: CentralSystemHub = entry.runtime_data
        charger_id = hub.charger_for_device(device.identifiers)
        if charger_id is not None and hub.system is not None:
            station = hub.system.ensure_station(charger_id)
            return _Target(hub, station, _connector(hub, station, call, allow_station))
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_charger",
        translation_placeholders={"device": device.name_by_user or device.name or device_id},
    )


def _connector(
    hub: CentralSystemHub, station: Station, call: ServiceCall, allow_station: bool
) -> int | None:
    connector: int | None = call.data.get(ATTR_CONNECTOR)
    if connector is None:
        return None
    capabilities = station.capabilities
    highest = (capabilities.number_of_evses if capabilities else None) or max(
        (evse for evse in station.evses if evse > 0), default=None
    )
    lowest = 0 if allow_station else 1
    if connector < lowest or (highest is not None and connector > highest):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_connector",
            translation_placeholders={
                "charger": hub.charger_name(station.id),
                "connector": str(connector),
                "count": str(highest or "?"),
            },
        )
    return connector


async def _send(target: _Target, command: Command) -> CommandResult:
    result = await target.hub.execute(target.station.id, command)
    if not result.accepted:
        raise target.hub.command_error(target.station.id, result)
    return result


# -- the actions -------------------------------------------------------------------------


async def _start_charging(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call)
    profile = None
    if (limit := call.data.get("current_limit")) is not None:
        profile = limit_profile(target.station, limit, ProfilePurpose.TX, kind=ProfileKind.RELATIVE)
    tag = call.data.get("tag") or target.hub.default_tag(target.station.id)
    await _send(target, RemoteStart(tag, evse_id=target.connector, profile=profile))


async def _stop_charging(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call)
    evses = [
        evse
        for evse in target.station.evses.values()
        if evse.transaction is not None and target.connector in (None, evse.id)
    ]
    if not evses:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_session",
            translation_placeholders={"charger": target.hub.charger_name(target.station.id)},
        )
    for evse in evses:
        assert evse.transaction is not None
        await _send(target, RemoteStop(evse.transaction.id))


async def _reset(hass: HomeAssistant, call: ServiceCall) -> None:
    await _send(_resolve(hass, call), Reset(hard=call.data["type"] == "hard"))


async def _unlock_connector(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call)
    await _send(target, UnlockConnector(target.connector or 1))


async def _set_availability(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call, allow_station=True)
    await _send(target, ChangeAvailability(target.connector or 0, call.data["available"]))


async def _set_charging_limit(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call, allow_station=True)
    evse_id = target.connector or 0
    purpose = ProfilePurpose.STATION_MAX if evse_id == 0 else ProfilePurpose.TX_DEFAULT
    profile = limit_profile(
        target.station,
        call.data["limit"],
        purpose,
        unit=call.data["unit"],
        duration_s=call.data.get("duration"),
    )
    await _send(target, SetChargingProfile(evse_id, profile))


async def _set_schedule(hass: HomeAssistant, call: ServiceCall) -> None:
    """Store the charger's weekly schedule; it is sent now, or when the charger connects."""
    target = _resolve(hass, call, allow_station=True)
    stored = stored_schedule(call.data["rules"], call.data.get("default_limit"))
    target.hub.schedule_link.set_schedule(target.station.id, stored)


async def _set_charging_profile(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call, allow_station=True)
    try:
        profile = profile_from_input(call.data["profile"])
    except probatio.Invalid as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_profile",
            translation_placeholders={"error": str(err)},
        ) from err
    await _send(target, SetChargingProfile(target.connector or 0, profile))


async def _clear_charging_profile(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call, allow_station=True)
    purpose = call.data.get("purpose")
    await _send(
        target,
        ClearChargingProfile(
            profile_id=call.data.get("profile_id"),
            evse_id=target.connector,
            purpose=ProfilePurpose(purpose) if purpose else None,
            stack_level=call.data.get("stack_level"),
        ),
    )


async def _get_composite_schedule(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = _resolve(hass, call, allow_station=True)
    result = await _send(
        target,
        GetCompositeSchedule(target.connector or 0, call.data["duration"], call.data.get("unit")),
    )
    return dict(result.data)


async def _get_configuration(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = _resolve(hass, call)
    keys = tuple(call.data.get("keys") or ())
    if not keys and target.station.version.is_2x:
        # A 2.x charger reports everything in its base report, read after each boot.
        return {
            "configuration": {
                name: {"value": value} for name, value in target.station.configuration.items()
            },
            "unknown_keys": [],
        }
    result = await _send(target, GetConfiguration(keys))
    return dict(result.data)


async def _set_configuration(hass: HomeAssistant, call: ServiceCall) -> None:
    await _send(_resolve(hass, call), SetConfiguration(call.data["key"], call.data["value"]))


async def _trigger_message(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call)
    await _send(target, TriggerMessage(call.data["message"], target.connector))


async def _data_transfer(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = _resolve(hass, call)
    result = await _send(
        target,
        DataTransfer(call.data["vendor_id"], call.data.get("message_id"), call.data.get("data")),
    )
    return {"status": result.detail, "data": result.data.get("data")}


async def _reserve_now(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = _resolve(hass, call)
    reservation_id = call.data.get("reservation_id") or next(_reservation_ids)
    expiry: datetime = call.data["expiry"]
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    await _send(
        target,
        ReserveNow(reservation_id, call.data["tag"], expiry, evse_id=target.connector),
    )
    return {"reservation_id": reservation_id}


async def _cancel_reservation(hass: HomeAssistant, call: ServiceCall) -> None:
    await _send(_resolve(hass, call), CancelReservation(call.data["reservation_id"]))


def _file_base_url(hass: HomeAssistant, hub: CentralSystemHub) -> str:
    """Where chargers reach Home Assistant: the option, or Home Assistant's own URL."""
    if override := hub.entry.options.get(CONF_BASE_URL):
        return str(override).rstrip("/")
    try:
        # Chargers are on the local network: the internal URL first, never the cloud.
        return get_url(hass, allow_cloud=False, prefer_external=False)
    except NoURLAvailableError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_base_url"
        ) from err


async def _firmware_url(hass: HomeAssistant, call: ServiceCall, target: _Target) -> str:
    if url := call.data.get("url"):
        return str(url)
    name = call.data.get("file")
    path = await hass.async_add_executor_job(firmware_path, hass, name or "")
    if path is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="firmware_not_found",
            translation_placeholders={"file": str(name), "folder": FIRMWARE_FOLDER},
        )
    token = hass.data[EXCHANGE].grant("firmware", target.station.id, path)
    return f"{_file_base_url(hass, target.hub)}{FIRMWARE_URL}/{token}/{path.name}"


async def _update_firmware(hass: HomeAssistant, call: ServiceCall) -> None:
    target = _resolve(hass, call)
    if not call.data.get("url") and not call.data.get("file"):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="url_or_file")
    retrieve_at: datetime = call.data.get("retrieve_at") or datetime.now(UTC)
    await _send(
        target,
        UpdateFirmware(
            await _firmware_url(hass, call, target),
            retrieve_at if retrieve_at.tzinfo else retrieve_at.replace(tzinfo=UTC),
            retries=call.data.get("retries"),
            retry_interval_s=call.data.get("retry_interval"),
        ),
    )


async def _upload_diagnostics(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = _resolve(hass, call)
    url = call.data.get("url")
    if not url:
        token = hass.data[EXCHANGE].grant("diagnostics", target.station.id)
        url = f"{_file_base_url(hass, target.hub)}{DIAGNOSTICS_URL}/{token}"
    result = await _send(
        target,
        UploadDiagnostics(url, start=call.data.get("start"), stop=call.data.get("stop")),
    )
    return {"file_name": result.data.get("file_name")}


type Handler = Callable[[HomeAssistant, ServiceCall], Awaitable[ServiceResponse | None]]


@dataclass(frozen=True)
class _Action:
    handler: Handler
    fields: dict[Any, Any]
    admin: bool = False
    response: SupportsResponse = SupportsResponse.NONE


_ACTIONS: dict[str, _Action] = {
    "start_charging": _Action(
        _start_charging,
        {
            probatio.Optional("tag"): probatio.All(cv.string, probatio.Length(min=1, max=36)),
            probatio.Optional("current_limit"): probatio.All(
                probatio.Coerce(float), probatio.Range(min=0, max=MAX_CURRENT_LIMIT_A)
            ),
        },
    ),
    "stop_charging": _Action(_stop_charging, {}),
    "reset": _Action(
        _reset,
        {probatio.Optional("type", default="soft"): probatio.In(("soft", "hard"))},
        admin=True,
    ),
    "unlock_connector": _Action(_unlock_connector, {}),
    "set_availability": _Action(_set_availability, {probatio.Required("available"): cv.boolean}),
    "set_charging_limit": _Action(
        _set_charging_limit,
        {
            probatio.Required("limit"): probatio.All(probatio.Coerce(float), probatio.Range(min=0)),
            probatio.Optional("unit", default="A"): probatio.In(("A", "W")),
            probatio.Optional("duration"): probatio.All(
                probatio.Coerce(int), probatio.Range(min=1)
            ),
        },
    ),
    "set_schedule": _Action(_set_schedule, SCHEDULE_FIELDS),
    "set_charging_profile": _Action(
        _set_charging_profile, {probatio.Required("profile"): dict}, admin=True
    ),
    "clear_charging_profile": _Action(
        _clear_charging_profile,
        {
            probatio.Optional("profile_id"): probatio.Coerce(int),
            probatio.Optional("purpose"): probatio.In(
                [purpose.value for purpose in ProfilePurpose]
            ),
            probatio.Optional("stack_level"): probatio.Coerce(int),
        },
    ),
    "get_composite_schedule": _Action(
        _get_composite_schedule,
        {
            probatio.Optional("duration", default=3600): probatio.All(
                probatio.Coerce(int), probatio.Range(min=1)
            ),
            probatio.Optional("unit"): probatio.In(("A", "W")),
        },
        response=SupportsResponse.ONLY,
    ),
    "get_configuration": _Action(
        _get_configuration,
        {probatio.Optional("keys"): probatio.All(cv.ensure_list, [cv.string])},
        response=SupportsResponse.ONLY,
    ),
    "set_configuration": _Action(
        _set_configuration,
        {probatio.Required("key"): cv.string, probatio.Required("value"): cv.string},
        admin=True,
    ),
    "trigger_message": _Action(
        _trigger_message, {probatio.Required("message"): probatio.In(TRIGGERS)}
    ),
    "data_transfer": _Action(
        _data_transfer,
        {
            probatio.Required("vendor_id"): cv.string,
            probatio.Optional("message_id"): cv.string,
            probatio.Optional("data"): probatio.Any(str, dict, list),
        },
        admin=True,
        response=SupportsResponse.OPTIONAL,
    ),
    "reserve_now": _Action(
        _reserve_now,
        {
            probatio.Required("tag"): probatio.All(cv.string, probatio.Length(min=1, max=36)),
            probatio.Required("expiry"): cv.datetime,
            probatio.Optional("reservation_id"): probatio.All(
                probatio.Coerce(int), probatio.Range(min=1)
            ),
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "cancel_reservation": _Action(
        _cancel_reservation, {probatio.Required("reservation_id"): probatio.Coerce(int)}
    ),
    "update_firmware": _Action(
        _update_firmware,
        {
            probatio.Optional("url"): cv.url,
            probatio.Optional("file"): cv.string,
            probatio.Optional("retrieve_at"): cv.datetime,
            probatio.Optional("retries"): probatio.All(probatio.Coerce(int), probatio.Range(min=0)),
            probatio.Optional("retry_interval"): probatio.All(
                probatio.Coerce(int), probatio.Range(min=1)
            ),
        },
        admin=True,
    ),
    "upload_diagnostics": _Action(
        _upload_diagnostics,
        {
            probatio.Optional("url"): cv.url,
            probatio.Optional("start"): cv.datetime,
            probatio.Optional("stop"): cv.datetime,
        },
        admin=True,
        response=SupportsResponse.OPTIONAL,
    ),
}


def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action once (from async_setup)."""
    for name, action in _ACTIONS.items():
        schema = probatio.Schema({**_TARGET, **action.fields})

        async def handle(call: ServiceCall, action: _Action = action) -> ServiceResponse:
            response = await action.handler(hass, call)
            return response if call.return_response else None

        if action.admin:
            async_register_admin_service(
                hass, DOMAIN, name, handle, schema, supports_response=action.response
            )
        else:
            hass.services.async_register(
                DOMAIN, name, handle, schema, supports_response=action.response
            )
