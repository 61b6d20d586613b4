"""Sensors: status, metering, the running session, charger diagnostics, upstream queue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorEntity,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .client_certificates.sensor import build_certificate_sensors
from .csms.station import Station
from .energy_register import EnergyRegisterSensor
from .entity import OcppEntity
from .entity_manager import Scope
from .hub import CentralSystemHub, OcppCsmsConfigEntry
from .prices.entities import build_plan_sensors
from .reservations.sensor import ReservationSensor
from .sensor_descriptions import (
    ALLOCATED_CURRENT,
    ENERGY,
    LAST_SESSION_COST,
    LAST_SESSION_ENERGY,
    MONTH_ENERGY,
    RESERVATION,
    RESERVATION_ANY_CONNECTOR,
    SENSORS,
    OcppSensorDescription,
)
from .site.entities import AllocatedCurrentSensor, build_site_sensors
from .upstream.entities import build_upstream_sensors

PARALLEL_UPDATES = 0


def build_sensors(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The sensors a charger (or EVSE) has now, or had before a restart."""
    evse = station.evses.get(evse_id) if evse_id is not None else None
    for description in SENSORS:
        if description.per_evse != (evse_id is not None):
            continue
        if description.has_fn(station, evse) or hub.entities.is_registered(
            "sensor", station.id, evse_id, description.key
        ):
            sensor_class = JournalSensor if description.from_journal else OcppSensor
            yield sensor_class(hub, station, evse_id, description)
    if evse_id is not None and hub.site_link.site is not None:
        yield AllocatedCurrentSensor(hub, station, evse_id, ALLOCATED_CURRENT)
    if evse_id is None:
        yield MonthEnergySensor(hub, station, None, MONTH_ENERGY)
        yield ReservationSensor(hub, station, None, RESERVATION_ANY_CONNECTOR)
    else:
        yield EnergyRegisterSensor(hub, station, evse_id, ENERGY)
        yield ReservationSensor(hub, station, evse_id, RESERVATION)
        yield JournalSensor(hub, station, evse_id, LAST_SESSION_ENERGY)
        if hub.sessions.pricing is not None:
            yield SessionCostSensor(hub, station, evse_id, LAST_SESSION_COST)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the sensors of every charger, now and as they reveal more, and the site's."""
    entry.runtime_data.entities.register_platform(build_sensors, async_add_entities)
    entry.runtime_data.entities.register_platform(build_plan_sensors, async_add_entities)
    entry.runtime_data.entities.register_platform(build_certificate_sensors, async_add_entities)
    entry.runtime_data.site_link.register_site_platform(build_site_sensors, async_add_entities)
    entry.runtime_data.upstreams.register_platform(build_upstream_sensors, async_add_entities)


class OcppSensor(OcppEntity, SensorEntity):
    """A sensor reading the charger model."""

    entity_description: OcppSensorDescription

    def __init__(
        self,
        hub: CentralSystemHub,
        station: Station,
        evse_id: int | None,
        description: OcppSensorDescription,
    ) -> None:
        """Bind the sensor; some start disabled or not by what the charger measures."""
        super().__init__(hub, station, evse_id, description)
        if description.enabled_fn is not None:
            self._attr_entity_registry_enabled_default = description.enabled_fn(station, self.evse)

    @property
    def native_value(self) -> Any:
        """The current reading."""
        return self.entity_description.value_fn(self.station, self.evse)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The connector, and what the description adds."""
        attributes = super().extra_state_attributes
        attributes_fn = self.entity_description.attributes_fn
        if attributes_fn is None:
            return attributes
        return {**(attributes or {}), **attributes_fn(self.station, self.evse)} or None


class JournalSensor(OcppSensor):
    """A reading from the session journal: worth showing while the charger is offline."""

    @property
    def available(self) -> bool:
        """Sessions are history: they do not go away with the connection."""
        return True


class SessionCostSensor(JournalSensor):
    """What the last session cost at the configured price per kWh."""

    @property
    def native_unit_of_measurement(self) -> str | None:
        """The configured currency."""
        pricing = self.hub.sessions.pricing
        return pricing.currency if pricing else None

    @property
    def native_value(self) -> float | None:
        """The last session's energy at the configured price."""
        pricing = self.hub.sessions.pricing
        energy_kwh = self.entity_description.value_fn(self.station, self.evse)
        if pricing is None or not isinstance(energy_kwh, float):
            return None
        return pricing.cost(energy_kwh * 1000)


class MonthEnergySensor(JournalSensor):
    """Energy this calendar month: ended sessions and the running ones so far.

    Sessions count in the month they started in, as in the session export.
    """

    async def async_added_to_hass(self) -> None:
        """Also follow every session of the charger."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.hub.entities.subscribe(Scope.sessions_of(self.station.id), self.handle_update)
        )

    @property
    def native_value(self) -> float:
        """Energy since the month began, in kWh."""
        return self.hub.sessions.month_energy_kwh(self.station)

    @property
    def last_reset(self) -> datetime:
        """The start of the month (local time)."""
        return self.hub.sessions.month_began
