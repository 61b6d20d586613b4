"""What every charger action shares: its target, sending a command, registration.

An action names its charger with a device id, and a connector where it applies. A
wrong device or connector raises a validation error; a charger that refuses, does
not support the command, does not answer or is offline raises a translated error
naming the charger. No action ever falls back to "the first charger".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import probatio
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_register_admin_service

from .const import DOMAIN
from .csms.commands import Command, CommandResult
from .csms.station import MAX_REPORTED_EVSE_ID, Station
from .hub import CentralSystemHub

ATTR_DEVICE_ID = "device_id"
ATTR_CONNECTOR = "connector"

# A connector is never beyond what any charger may report of itself: no larger number
# reaches a charger, whatever an automation sends.
CONNECTOR = probatio.All(probatio.Coerce(int), probatio.Range(min=0, max=MAX_REPORTED_EVSE_ID))
TARGET: dict[Any, Any] = {
    probatio.Required(ATTR_DEVICE_ID): cv.string,
    probatio.Optional(ATTR_CONNECTOR): CONNECTOR,
}


@dataclass(frozen=True)
class Target:
    """The charger (and connector) an action is addressed to."""

    hub: CentralSystemHub
    station: Station
    connector: int | None


def resolve(
    hass: HomeAssistant,
    call: ServiceCall,
    *,
    allow_station: bool = False,
    known_connector: bool = True,
) -> Target:
    """The charger (and connector) an action is addressed to.

    `allow_station`: connector 0 (the whole charger) is allowed. `known_connector`:
    the connector must be one the charger has named or reported; without it, any
    connector in range goes to the charger, which answers for itself.
    """
    hub, station = charger_of_device(hass, call.data[ATTR_DEVICE_ID])
    connector: int | None = call.data.get(ATTR_CONNECTOR)
    if connector is not None:
        _check_connector(hub, station, connector, allow_station, known_connector)
    return Target(hub, station, connector)


def charger_of_device(hass: HomeAssistant, device_id: str) -> tuple[CentralSystemHub, Station]:
    """The central system and charger a device stands for."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_device",
            translation_placeholders={"device_id": device_id},
        )
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        hub: CentralSystemHub = entry.runtime_data
        charger_id = hub.index.charger_for_device(device.identifiers)
        if charger_id is not None and hub.system is not None:
            return hub, hub.system.ensure_station(charger_id)
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_charger",
        translation_placeholders={"device": device.name_by_user or device.name or device_id},
    )


def _check_connector(
    hub: CentralSystemHub,
    station: Station,
    connector: int,
    allow_station: bool,
    known_connector: bool,
) -> None:
    # What the charger reported of itself, or named in its messages, whichever is more:
    # a charger that reports fewer connectors than it uses is not held to its report.
    reported = station.capabilities.number_of_evses if station.capabilities else None
    highest = max((reported or 0, *(evse for evse in station.evses if evse > 0))) or None
    lowest = 0 if allow_station else 1
    beyond = known_connector and highest is not None and connector > highest
    if connector < lowest or beyond:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_connector",
            translation_placeholders={
                "charger": hub.index.charger_name(station.id),
                "connector": str(connector),
                "count": str(highest or "?"),
            },
        )


async def send(target: Target, command: Command) -> CommandResult:
    """Send a command; anything but accepted raises the translated error."""
    result = await target.hub.execute(target.station.id, command)
    if not result.accepted:
        raise target.hub.command_error(target.station.id, result)
    return result


type Handler = Callable[[HomeAssistant, ServiceCall], Awaitable[ServiceResponse | None]]


@dataclass(frozen=True)
class Action:
    """An action: its handler, its fields beyond the target, who may call it."""

    handler: Handler
    fields: dict[Any, Any]
    admin: bool = False
    response: SupportsResponse = SupportsResponse.NONE
    # The fields that name its charger; None: the device and connector (`TARGET`).
    target: dict[Any, Any] | None = None


def register_actions(hass: HomeAssistant, actions: dict[str, Action]) -> None:
    """Register actions once (from async_setup)."""
    for name, action in actions.items():
        target = TARGET if action.target is None else action.target
        schema = probatio.Schema({**target, **action.fields})

        async def handle(call: ServiceCall, action: Action = action) -> ServiceResponse:
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
