"""Actions for reservations: reserve_now, cancel_reservation and list_reservations.

The engine records a reservation when the charger accepts it and ends it in every
way OCPP ends one (`csms/reservations.py`); these actions read that record. It is kept
in memory only: after Home Assistant restarts, the chargers still hold their
reservations, but only those made since are listed and can be cancelled by connector
(a known id can still be cancelled).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import probatio
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from ..action_base import ATTR_DEVICE_ID, Action, Target, charger_of_device, resolve, send
from ..const import DOMAIN
from ..csms.commands import CancelReservation, ReserveNow
from ..csms.reservations import Reservation
from ..csms.station import Station
from ..hub import CentralSystemHub
from ..identifiers import charger_device_identifier

# OCPP's integers are 32-bit: no larger reservation id reaches a charger.
MAX_RESERVATION_ID = 2**31 - 1
_RESERVATION_ID = probatio.All(probatio.Coerce(int), probatio.Range(min=1, max=MAX_RESERVATION_ID))
_reservation_ids = itertools.count(int(datetime.now(UTC).timestamp()) % 1_000_000)


async def _reserve_now(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    target = resolve(hass, call)
    reservation_id = call.data.get("reservation_id") or next(_reservation_ids)
    expiry: datetime = call.data["expiry"]
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    await send(
        target,
        ReserveNow(reservation_id, call.data["tag"], expiry, evse_id=target.connector),
    )
    return {"reservation_id": reservation_id}


async def _cancel_reservation(hass: HomeAssistant, call: ServiceCall) -> None:
    """Cancel by id, else the connector's reservation, else every one of the charger."""
    target = resolve(hass, call)
    reservation_id: int | None = call.data.get("reservation_id")
    ids = [reservation_id] if reservation_id is not None else _held_ids(target)
    for each in ids:
        await send(target, CancelReservation(each))


def _held_ids(target: Target) -> list[int]:
    """The reservations the target's connector (or charger) holds; none is an error."""
    held = target.station.reservations.active(dt_util.utcnow())
    if target.connector is not None:
        held = [reservation for reservation in held if reservation.evse_id == target.connector]
    if held:
        return [reservation.id for reservation in held]
    placeholders = {"charger": target.hub.index.charger_name(target.station.id)}
    if target.connector is None:
        key = "no_reservation"
    else:
        key = "no_reservation_on_connector"
        placeholders["connector"] = str(target.connector)
    raise ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


async def _list_reservations(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """The active reservations of one charger, or of every charger."""
    if (device_id := call.data.get(ATTR_DEVICE_ID)) is not None:
        chargers = [charger_of_device(hass, device_id)]
    else:
        chargers = list(_every_charger(hass))
    now = dt_util.utcnow()
    held = sorted(
        (
            (hub, station, reservation)
            for hub, station in chargers
            for reservation in station.reservations.active(now)
        ),
        key=lambda found: (found[0].index.charger_name(found[1].id), found[2].evse_id or 0),
    )
    rows: list[JsonValueType] = [_row(hass, *found) for found in held]
    return {"reservations": rows}


def _every_charger(hass: HomeAssistant) -> list[tuple[CentralSystemHub, Station]]:
    found = []
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        hub: CentralSystemHub = entry.runtime_data
        if hub.system is None:
            continue
        for charger_id in sorted(hub.index.admitted):
            if (station := hub.system.stations.get(charger_id)) is not None:
                found.append((hub, station))
    return found


def _row(
    hass: HomeAssistant, hub: CentralSystemHub, station: Station, reservation: Reservation
) -> dict[str, JsonValueType]:
    identifier = charger_device_identifier(hub.entry.entry_id, station.id)
    device = dr.async_get(hass).async_get_device_by_identifier(identifier, hub.entry.entry_id)
    return {
        "charger": hub.index.charger_name(station.id),
        "device_id": device.id if device else None,
        "connector": reservation.evse_id,  # None: any connector
        "reservation_id": reservation.id,
        "tag": reservation.id_tag,
        "tag_name": hub.tag_name(reservation.id_tag),
        "expiry": reservation.expiry.isoformat(),
    }


RESERVATION_ACTIONS: dict[str, Action] = {
    "reserve_now": Action(
        _reserve_now,
        {
            probatio.Required("tag"): probatio.All(cv.string, probatio.Length(min=1, max=36)),
            probatio.Required("expiry"): cv.datetime,
            probatio.Optional("reservation_id"): _RESERVATION_ID,
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "cancel_reservation": Action(
        _cancel_reservation, {probatio.Optional("reservation_id"): _RESERVATION_ID}
    ),
    "list_reservations": Action(
        _list_reservations,
        {},
        response=SupportsResponse.ONLY,
        target={probatio.Optional(ATTR_DEVICE_ID): cv.string},
    ),
}
