"""Buttons: restart, unlock a connector, refresh status and meter values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from homeassistant.components.button import (
    ButtonEntity,
    ButtonEntityDescription,
)
from homeassistant.components.button.const import ButtonDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .csms.commands import Reset, TriggerMessage, UnlockConnector
from .csms.station import Station
from .entity import OcppEntity, OcppEntityDescription
from .entity_manager import CONNECTION_ONLY
from .hub import CentralSystemHub, OcppCsmsConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppButtonDescription(OcppEntityDescription, ButtonEntityDescription):
    """A button of a charger or EVSE."""


RESET = OcppButtonDescription(
    key="reset",
    translation_key="reset",
    device_class=ButtonDeviceClass.RESTART,
    entity_category=EntityCategory.CONFIG,
    follows=CONNECTION_ONLY,
)
REFRESH = OcppButtonDescription(
    key="refresh",
    translation_key="refresh",
    entity_category=EntityCategory.DIAGNOSTIC,
    follows=CONNECTION_ONLY,
)
UNLOCK = OcppButtonDescription(
    key="unlock",
    translation_key="unlock",
    per_evse=True,
    entity_category=EntityCategory.CONFIG,
    follows=CONNECTION_ONLY,
)


def build_buttons(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The buttons of a charger (or EVSE)."""
    if evse_id is None:
        yield ResetButton(hub, station, None, RESET)
        yield RefreshButton(hub, station, None, REFRESH)
    else:
        yield UnlockButton(hub, station, evse_id, UNLOCK)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the buttons of every charger."""
    entry.runtime_data.entities.register_platform(build_buttons, async_add_entities)


class ResetButton(OcppEntity, ButtonEntity):
    """Restart the charger when it is idle (a soft reset)."""

    async def async_press(self) -> None:
        """Ask for a soft reset."""
        await self.run_command(Reset(hard=False))


class RefreshButton(OcppEntity, ButtonEntity):
    """Ask the charger for its status and meter values now."""

    async def async_press(self) -> None:
        """Trigger a StatusNotification and MeterValues."""
        await self.run_command(TriggerMessage("StatusNotification"))
        await self.run_command(TriggerMessage("MeterValues"))


class UnlockButton(OcppEntity, ButtonEntity):
    """Release the cable of a connector."""

    async def async_press(self) -> None:
        """Ask the charger to unlock."""
        assert self.evse_id is not None
        await self.run_command(UnlockConnector(self.evse_id))
