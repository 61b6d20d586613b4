"""Binary sensors: online, vehicle plugged in, charging, upstream connected."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.station import PLUGGED_IN, ConnectorStatus, Evse, Station
from .entity import OcppEntity, OcppEntityDescription
from .entity_manager import CONNECTION_ONLY, STATUS
from .hub import CentralSystemHub, OcppCsmsConfigEntry
from .upstream.entities import build_upstream_binary_sensors

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppBinarySensorDescription(OcppEntityDescription, BinarySensorEntityDescription):
    """A binary sensor and how to read it."""

    is_on_fn: Callable[[Station, Evse | None], bool | None]


BINARY_SENSORS: tuple[OcppBinarySensorDescription, ...] = (
    OcppBinarySensorDescription(
        key="online",
        follows=CONNECTION_ONLY,
        translation_key="online",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda station, evse: station.connected,
    ),
    OcppBinarySensorDescription(
        key="plugged_in",
        follows=STATUS,
        translation_key="plugged_in",
        per_evse=True,
        device_class=BinarySensorDeviceClass.PLUG,
        is_on_fn=lambda station, evse: (
            None
            if evse is None or evse.status is ConnectorStatus.UNKNOWN
            else evse.status in PLUGGED_IN
        ),
    ),
    OcppBinarySensorDescription(
        key="charging",
        follows=STATUS,
        translation_key="charging",
        per_evse=True,
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        is_on_fn=lambda station, evse: (
            None if evse is None else evse.status is ConnectorStatus.CHARGING
        ),
    ),
)


def build_binary_sensors(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The binary sensors of a charger (or EVSE)."""
    for description in BINARY_SENSORS:
        if description.per_evse == (evse_id is not None):
            yield OcppBinarySensor(hub, station, evse_id, description)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the binary sensors of every charger, and of every charger's upstream."""
    entry.runtime_data.entities.register_platform(build_binary_sensors, async_add_entities)
    entry.runtime_data.upstreams.register_platform(
        build_upstream_binary_sensors, async_add_entities
    )


class OcppBinarySensor(OcppEntity, BinarySensorEntity):
    """A binary sensor reading the charger model."""

    entity_description: OcppBinarySensorDescription

    @property
    def available(self) -> bool:
        """The online sensor is always available: it reports the connection."""
        return self.entity_description.key == "online" or super().available

    @property
    def is_on(self) -> bool | None:
        """The current reading."""
        return self.entity_description.is_on_fn(self.station, self.evse)
