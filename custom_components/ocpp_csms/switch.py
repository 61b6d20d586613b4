"""Switches: charging (remote start / stop) and availability."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.commands import ChangeAvailability, RemoteStart, RemoteStop
from .csms.station import ConnectorStatus, Station
from .entity import OcppEntity, OcppEntityDescription
from .entity_manager import EVSE_STATUS, STATUS, TRANSACTION
from .hub import CentralSystemHub, OcppCsmsConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppSwitchDescription(OcppEntityDescription, SwitchEntityDescription):
    """A switch of a charger or EVSE."""


CHARGING = OcppSwitchDescription(
    key="charging_control", translation_key="charging_control", per_evse=True, follows=TRANSACTION
)
AVAILABLE = OcppSwitchDescription(
    key="available",
    translation_key="available",
    entity_category=EntityCategory.CONFIG,
    follows=STATUS | EVSE_STATUS,  # the charger's status, or all its EVSEs'
)


def build_switches(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The switches of a charger (or EVSE)."""
    if evse_id is None:
        yield AvailabilitySwitch(hub, station, None, AVAILABLE)
    else:
        yield ChargingSwitch(hub, station, evse_id, CHARGING)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the switches of every charger."""
    entry.runtime_data.entities.register_platform(build_switches, async_add_entities)


class ChargingSwitch(OcppEntity, SwitchEntity):
    """On: start a session; off: stop it. The state is the charger's real transaction.

    No entity category, so Assist exposes it ("start charging the car").
    """

    @property
    def is_on(self) -> bool:
        """Whether a transaction runs on this connector."""
        evse = self.evse
        return evse is not None and evse.transaction is not None

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Ask the charger to start a transaction (the state follows when it does)."""
        if self.is_on:
            return
        tag = self.hub.index.default_tag(self.station.id)
        await self.run_command(RemoteStart(tag, evse_id=self.evse_id))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Ask the charger to stop the running transaction."""
        evse = self.evse
        if evse is None or evse.transaction is None:
            return
        await self.run_command(RemoteStop(evse.transaction.id))


class AvailabilitySwitch(OcppEntity, SwitchEntity):
    """On: the charger is operative; off: inoperative (no new sessions)."""

    @property
    def is_on(self) -> bool:
        """Whether the charger reports itself usable."""
        statuses = [evse.status for evse in self.station.evses.values() if evse.id > 0]
        if self.station.status is ConnectorStatus.UNAVAILABLE:
            return False
        return not statuses or any(status is not ConnectorStatus.UNAVAILABLE for status in statuses)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Make the charger operative."""
        await self.run_command(ChangeAvailability(0, operative=True))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Make the charger inoperative."""
        await self.run_command(ChangeAvailability(0, operative=False))
