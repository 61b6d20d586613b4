"""Actions: every command a central system can send, addressed to a charger's device.

Registered once in `async_setup`. Each action names its charger with a device id,
checks its input, and returns or raises honestly (see `action_base`). The
reservation actions are in `reservation_services`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import probatio
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.network import NoURLAvailableError, get_url

from .action_base import Action, Target, register_actions, resolve, send
from .certificate_input import FIRMWARE_SIGNATURE_FIELDS, async_firmware_signature
from .certificate_services import CERTIFICATE_ACTIONS
from .const import CONF_BASE_URL, DOMAIN, MAX_CURRENT_LIMIT_A
from .csms.charging import limit_profile
from .csms.commands import (
    ChangeAvailability,
    ClearCache,
    ClearChargingProfile,
    CommandStatus,
    DataTransfer,
    GetCompositeSchedule,
    GetConfiguration,
    GetLocalListVersion,
    ProfileKind,
    ProfilePurpose,
    RemoteStart,
    RemoteStop,
    Reset,
    SetChargingProfile,
    SetConfiguration,
    TriggerMessage,
    UnlockConnector,
    UpdateFirmware,
    UploadDiagnostics,
)
from .http import DIAGNOSTICS_URL, EXCHANGE, FIRMWARE_FOLDER, FIRMWARE_URL, firmware_path
from .hub import CentralSystemHub
from .limits import profile_from_input
from .reservations.services import RESERVATION_ACTIONS
from .schedules.link import SCHEDULE_FIELDS, stored_schedule

TRIGGERS = (
    "BootNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "TransactionEvent",
)


# -- the actions -------------------------------------------------------------------------


async def _start_charging(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call)
    profile = None
    if (limit := call.data.get("current_limit")) is not None:
        profile = limit_profile(target.station, limit, ProfilePurpose.TX, kind=ProfileKind.RELATIVE)
    tag = call.data.get("tag") or target.hub.index.default_tag(target.station.id)
    await send(target, RemoteStart(tag, evse_id=target.connector, profile=profile))


async def _stop_charging(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call)
    evses = [
        evse
        for evse in target.station.evses.values()
        if evse.transaction is not None and target.connector in (None, evse.id)
    ]
    if not evses:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_session",
            translation_placeholders={"charger": target.hub.index.charger_name(target.station.id)},
        )
    for evse in evses:
        assert evse.transaction is not None
        await send(target, RemoteStop(evse.transaction.id))


async def _reset(hass: HomeAssistant, call: ServiceCall) -> None:
    """Restart the charger, or (2.x) one connector of it: 0 or none is the whole charger."""
    target = resolve(hass, call, allow_station=True)
    evse_id = target.connector or None
    station = target.station
    # Offline, the version may be the default one: the command then says offline.
    if evse_id is not None and station.connected and not station.version.is_2x:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="reset_connector_needs_2x",
            translation_placeholders={"charger": target.hub.index.charger_name(station.id)},
        )
    await send(target, Reset(hard=call.data["type"] == "hard", evse_id=evse_id))


async def _unlock_connector(hass: HomeAssistant, call: ServiceCall) -> None:
    """Unlock any connector in range: the charger knows best which ones it has."""
    target = resolve(hass, call, known_connector=False)
    evse_id = target.connector or 1
    result = await target.hub.execute(target.station.id, UnlockConnector(evse_id))
    if result.status is CommandStatus.REJECTED and result.detail == "UnknownConnector":
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="charger_has_no_connector",
            translation_placeholders={
                "charger": target.hub.index.charger_name(target.station.id),
                "connector": str(evse_id),
            },
        )
    if not result.accepted:
        raise target.hub.command_error(target.station.id, result)


async def _get_local_list_version(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    result = await send(target, GetLocalListVersion())
    version = result.data.get("version")
    if not isinstance(version, int) or version < 0:
        # 1.6 answers -1 when the charger has no local list.
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="no_local_list",
            translation_placeholders={"charger": target.hub.index.charger_name(target.station.id)},
        )
    return {"version": version}


async def _clear_authorization_cache(hass: HomeAssistant, call: ServiceCall) -> None:
    await send(resolve(hass, call), ClearCache())


async def _set_availability(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call, allow_station=True)
    await send(target, ChangeAvailability(target.connector or 0, call.data["available"]))


async def _set_charging_limit(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call, allow_station=True)
    evse_id = target.connector or 0
    purpose = ProfilePurpose.STATION_MAX if evse_id == 0 else ProfilePurpose.TX_DEFAULT
    profile = limit_profile(
        target.station,
        call.data["limit"],
        purpose,
        unit=call.data["unit"],
        duration_s=call.data.get("duration"),
    )
    await send(target, SetChargingProfile(evse_id, profile))


async def _set_schedule(hass: HomeAssistant, call: ServiceCall) -> None:
    """Store the charger's weekly schedule; it is sent now, or when the charger connects."""
    target = resolve(hass, call, allow_station=True)
    stored = stored_schedule(call.data["rules"], call.data.get("default_limit"))
    target.hub.schedule_link.set_schedule(target.station.id, stored)


async def _set_charging_profile(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call, allow_station=True)
    try:
        profile = profile_from_input(call.data["profile"])
    except probatio.Invalid as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_profile",
            translation_placeholders={"error": str(err)},
        ) from err
    await send(target, SetChargingProfile(target.connector or 0, profile))


async def _clear_charging_profile(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call, allow_station=True)
    purpose = call.data.get("purpose")
    await send(
        target,
        ClearChargingProfile(
            profile_id=call.data.get("profile_id"),
            evse_id=target.connector,
            purpose=ProfilePurpose(purpose) if purpose else None,
            stack_level=call.data.get("stack_level"),
        ),
    )


async def _get_composite_schedule(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call, allow_station=True)
    result = await send(
        target,
        GetCompositeSchedule(target.connector or 0, call.data["duration"], call.data.get("unit")),
    )
    return dict(result.data)


async def _get_configuration(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    keys = tuple(call.data.get("keys") or ())
    if not keys and target.station.version.is_2x:
        # A 2.x charger reports everything in its base report, read after each boot.
        return {
            "configuration": {
                name: {"value": value} for name, value in target.station.configuration.items()
            },
            "unknown_keys": [],
        }
    result = await send(target, GetConfiguration(keys))
    return dict(result.data)


async def _set_configuration(hass: HomeAssistant, call: ServiceCall) -> None:
    await send(resolve(hass, call), SetConfiguration(call.data["key"], call.data["value"]))


async def _trigger_message(hass: HomeAssistant, call: ServiceCall) -> None:
    target = resolve(hass, call)
    await send(target, TriggerMessage(call.data["message"], target.connector))


async def _data_transfer(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    result = await send(
        target,
        DataTransfer(call.data["vendor_id"], call.data.get("message_id"), call.data.get("data")),
    )
    return {"status": result.detail, "data": result.data.get("data")}


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


async def _firmware_url(hass: HomeAssistant, call: ServiceCall, target: Target) -> str:
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
    target = resolve(hass, call)
    if not call.data.get("url") and not call.data.get("file"):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="url_or_file")
    # Signed firmware: both the signature and its certificate, checked before sending.
    signing_certificate, signature = await async_firmware_signature(hass, call.data)
    retrieve_at: datetime = call.data.get("retrieve_at") or datetime.now(UTC)
    command = UpdateFirmware(
        await _firmware_url(hass, call, target),
        retrieve_at if retrieve_at.tzinfo else retrieve_at.replace(tzinfo=UTC),
        retries=call.data.get("retries"),
        retry_interval_s=call.data.get("retry_interval"),
        signing_certificate=signing_certificate,
        signature=signature,
    )
    result = await target.hub.execute(target.station.id, command)
    if result.detail in ("InvalidCertificate", "RevokedCertificate"):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="signing_certificate_refused",
            translation_placeholders={
                "charger": target.hub.index.charger_name(target.station.id),
                "detail": result.detail,
            },
        )
    if not result.accepted:
        raise target.hub.command_error(target.station.id, result)


async def _upload_diagnostics(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    url = call.data.get("url")
    if not url:
        token = hass.data[EXCHANGE].grant("diagnostics", target.station.id)
        url = f"{_file_base_url(hass, target.hub)}{DIAGNOSTICS_URL}/{token}"
    result = await send(
        target,
        UploadDiagnostics(url, start=call.data.get("start"), stop=call.data.get("stop")),
    )
    return {"file_name": result.data.get("file_name")}


_ACTIONS: dict[str, Action] = {
    "start_charging": Action(
        _start_charging,
        {
            probatio.Optional("tag"): probatio.All(cv.string, probatio.Length(min=1, max=36)),
            probatio.Optional("current_limit"): probatio.All(
                probatio.Coerce(float), probatio.Range(min=0, max=MAX_CURRENT_LIMIT_A)
            ),
        },
    ),
    "stop_charging": Action(_stop_charging, {}),
    "reset": Action(
        _reset,
        {probatio.Optional("type", default="soft"): probatio.In(("soft", "hard"))},
        admin=True,
    ),
    "unlock_connector": Action(_unlock_connector, {}),
    "get_local_list_version": Action(_get_local_list_version, {}, response=SupportsResponse.ONLY),
    "clear_authorization_cache": Action(_clear_authorization_cache, {}),
    "set_availability": Action(_set_availability, {probatio.Required("available"): cv.boolean}),
    "set_charging_limit": Action(
        _set_charging_limit,
        {
            probatio.Required("limit"): probatio.All(probatio.Coerce(float), probatio.Range(min=0)),
            probatio.Optional("unit", default="A"): probatio.In(("A", "W")),
            probatio.Optional("duration"): probatio.All(
                probatio.Coerce(int), probatio.Range(min=1)
            ),
        },
    ),
    "set_schedule": Action(_set_schedule, SCHEDULE_FIELDS),
    "set_charging_profile": Action(
        _set_charging_profile, {probatio.Required("profile"): dict}, admin=True
    ),
    "clear_charging_profile": Action(
        _clear_charging_profile,
        {
            probatio.Optional("profile_id"): probatio.Coerce(int),
            probatio.Optional("purpose"): probatio.In(
                [purpose.value for purpose in ProfilePurpose]
            ),
            probatio.Optional("stack_level"): probatio.Coerce(int),
        },
    ),
    "get_composite_schedule": Action(
        _get_composite_schedule,
        {
            probatio.Optional("duration", default=3600): probatio.All(
                probatio.Coerce(int), probatio.Range(min=1)
            ),
            probatio.Optional("unit"): probatio.In(("A", "W")),
        },
        response=SupportsResponse.ONLY,
    ),
    "get_configuration": Action(
        _get_configuration,
        {probatio.Optional("keys"): probatio.All(cv.ensure_list, [cv.string])},
        response=SupportsResponse.ONLY,
    ),
    "set_configuration": Action(
        _set_configuration,
        {probatio.Required("key"): cv.string, probatio.Required("value"): cv.string},
        admin=True,
    ),
    "trigger_message": Action(
        _trigger_message, {probatio.Required("message"): probatio.In(TRIGGERS)}
    ),
    "data_transfer": Action(
        _data_transfer,
        {
            probatio.Required("vendor_id"): cv.string,
            probatio.Optional("message_id"): cv.string,
            probatio.Optional("data"): probatio.Any(str, dict, list),
        },
        admin=True,
        response=SupportsResponse.OPTIONAL,
    ),
    "update_firmware": Action(
        _update_firmware,
        {
            probatio.Optional("url"): cv.url,
            probatio.Optional("file"): cv.string,
            probatio.Optional("retrieve_at"): cv.datetime,
            probatio.Optional("retries"): probatio.All(probatio.Coerce(int), probatio.Range(min=0)),
            probatio.Optional("retry_interval"): probatio.All(
                probatio.Coerce(int), probatio.Range(min=1)
            ),
            **FIRMWARE_SIGNATURE_FIELDS,
        },
        admin=True,
    ),
    "upload_diagnostics": Action(
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
    register_actions(hass, _ACTIONS)
    register_actions(hass, RESERVATION_ACTIONS)
    register_actions(hass, CERTIFICATE_ACTIONS)
