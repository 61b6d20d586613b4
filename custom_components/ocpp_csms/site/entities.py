"""Entities of load balancing: allotted current, spare current and the site limit.

Each EVSE shows its allotted current (built for every EVSE while balancing is on).
The central system's device shows the site's spare current and its limit; they are
added the first time balancing is on (see `SiteLink.register_site_platform`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberMode,
    RestoreNumber,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.helpers.entity import Entity

from ..const import MIN_CURRENT_A
from ..entity import OcppEntity, SiteEntity
from ..entity_manager import ALLOCATION
from ..hub import CentralSystemHub
from .link import site_fuse

_PHASES = ("l1", "l2", "l3")


class AllocatedCurrentSensor(OcppEntity, SensorEntity):
    """The current load balancing gives this EVSE's session (0: paused)."""

    _attr_device_class = SensorDeviceClass.CURRENT
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfElectricCurrent.AMPERE

    @property
    def available(self) -> bool:
        """While balancing is on and the charger is connected."""
        return self.hub.site_link.site is not None and super().available

    @property
    def native_value(self) -> float | None:
        """The allotted current; 0 without a balanced session."""
        assert self.evse_id is not None
        allocated = self.hub.site_link.allocated_a(self.station.id, self.evse_id)
        return 0.0 if allocated is None else allocated


class SiteAvailableSensor(SiteEntity, SensorEntity):
    """What the house leaves of the fuse for the chargers: the least over the phases."""

    _attr_device_class = SensorDeviceClass.CURRENT
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfElectricCurrent.AMPERE
    _attr_suggested_display_precision = 1

    @property
    def native_value(self) -> float | None:
        """The phase with the least to spare decides."""
        site = self.hub.site_link.site
        return round(min(site.available_a), 2) if site is not None else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Each phase's spare current, and whether the grid meter reads."""
        site = self.hub.site_link.site
        if site is None:
            return None
        attributes: dict[str, Any] = {
            phase: round(value, 2) for phase, value in zip(_PHASES, site.available_a, strict=True)
        }
        attributes["grid_meter"] = site.settings.grid_meter
        attributes["grid_reading"] = site.grid_a is not None
        return attributes


class SiteLimitNumber(SiteEntity, RestoreNumber):
    """The site limit per phase: the main fuse, or less (a tariff's peak, a cable)."""

    _attr_device_class = NumberDeviceClass.CURRENT
    _attr_native_unit_of_measurement = UnitOfElectricCurrent.AMPERE
    _attr_native_min_value = MIN_CURRENT_A
    _attr_native_step = 1
    _attr_mode = NumberMode.BOX

    @property
    def native_max_value(self) -> float:
        """The main fuse: the limit can only be lower."""
        return site_fuse(self.hub.entry.options) or MIN_CURRENT_A

    @property
    def native_value(self) -> float | None:
        """The limit in force."""
        site = self.hub.site_link.site
        return site.settings.fuse_a if site is not None else None

    async def async_added_to_hass(self) -> None:
        """Go on with the limit set before a restart (if still below the fuse)."""
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        if last is not None and last.native_value is not None:
            fuse = site_fuse(self.hub.entry.options)
            if fuse is not None and last.native_value < fuse:
                self.hub.site_link.set_limit(last.native_value)

    async def async_set_native_value(self, value: float) -> None:
        """Balance within `value` from now on (the fuse itself: no extra limit)."""
        fuse = site_fuse(self.hub.entry.options)
        self.hub.site_link.set_limit(None if fuse is None or value >= fuse else value)


def build_site_sensors(hub: CentralSystemHub) -> Iterable[Entity]:
    """The site-level sensors."""
    yield SiteAvailableSensor(hub, "site_available_current", ALLOCATION)


def build_site_numbers(hub: CentralSystemHub) -> Iterable[Entity]:
    """The site-level numbers."""
    yield SiteLimitNumber(hub, "site_limit", ALLOCATION)
