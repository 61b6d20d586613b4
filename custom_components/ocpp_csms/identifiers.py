"""How chargers and their entities are identified in Home Assistant's registries."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN

# Scope of a charger-level entity in unique ids; EVSE-level ones use "evse<N>".
STATION_SCOPE = "station"


def charger_unique_id(entry_id: str, charger_id: str) -> str:
    """The unique id of a charger's discovery flow (and of its ignored entry)."""
    return f"{entry_id}_{charger_id}"


def charger_device_identifier(entry_id: str, charger_id: str) -> tuple[str, str]:
    """The device-registry identifier of a charger."""
    return (DOMAIN, charger_unique_id(entry_id, charger_id))


def unique_id_for(entry_id: str, charger_id: str, evse_id: int | None, key: str) -> str:
    """The unique id of a charger's (or EVSE's) entity `key`."""
    scope = STATION_SCOPE if evse_id is None else f"evse{evse_id}"
    return f"{entry_id}-{charger_id}-{scope}-{key}"


def parse_unique_id(entry_id: str, unique_id: str) -> tuple[str, int | None, str] | None:
    """(charger id, EVSE id or None, key) of a unique id made by `unique_id_for`."""
    prefix = f"{entry_id}-"
    if not unique_id.startswith(prefix):
        return None
    # Charger ids may contain dashes; scope and key never do: split from the right.
    parts = unique_id[len(prefix) :].rsplit("-", 2)
    if len(parts) != 3:
        return None
    charger_id, scope, key = parts
    if scope == STATION_SCOPE:
        return charger_id, None, key
    if scope.startswith("evse") and scope[4:].isdigit():
        return charger_id, int(scope[4:]), key
    return None


def charger_device_id(hass: HomeAssistant, entry_id: str, charger_id: str) -> str | None:
    """The device-registry id of a charger's device (None: it has none yet)."""
    identifier = charger_device_identifier(entry_id, charger_id)
    device = dr.async_get(hass).async_get_device_by_identifier(identifier, entry_id)
    return device.id if device is not None else None
