"""The devices of one central system: its own, and one per admitted charger.

Every charger's device is connected via the central system's device and belongs to
the charger's config subentry (removing the charger removes it). What a charger says
of itself when it boots (vendor, model, serial number, firmware) fills its device in.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import CONF_CHARGER_ID, DOMAIN, MANUFACTURER
from .csms.station import Station
from .identifiers import charger_device_identifier


class DeviceRegistrar:
    """Keeps the device registry's devices of one central system."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Serve one config entry."""
        self._hass = hass
        self._entry = entry
        # The central system's own device, which every charger's device is connected via.
        self._central_device_id: str | None = None

    @callback
    def register_central(self, sw_version: str) -> None:
        """The central system's own device (a service)."""
        device = dr.async_get(self._hass).async_get_or_create(
            config_entry_id=self._entry.entry_id,
            identifiers={(DOMAIN, self._entry.entry_id)},
            name=self._entry.title,
            manufacturer=MANUFACTURER,
            model="OCPP central system",
            sw_version=sw_version,
            entry_type=dr.DeviceEntryType.SERVICE,
        )
        self._central_device_id = device.id

    @callback
    def register_charger(self, subentry: ConfigSubentry, station: Station | None) -> None:
        """A charger's device, with what it said of itself when it last booted."""
        charger_id: str = subentry.data[CONF_CHARGER_ID]
        details: dict[str, Any] = {}
        if station is not None and station.boot is not None:
            details = {
                "manufacturer": station.boot.vendor,
                "model": station.boot.model,
                "serial_number": station.boot.serial_number,
                "sw_version": station.boot.firmware_version,
            }
        dr.async_get(self._hass).async_get_or_create(
            config_entry_id=self._entry.entry_id,
            config_subentry_id=subentry.subentry_id,
            identifiers={charger_device_identifier(self._entry.entry_id, charger_id)},
            name=subentry.title,
            via_device_id=self._central_device_id,
            **details,
        )
