"""A charger's ready-by time, for the cheapest charging mode (see `prices.entities`)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .hub import OcppCsmsConfigEntry
from .prices.entities import build_goal_times

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the ready-by time of every charger (while balancing is on)."""
    entry.runtime_data.entities.register_platform(build_goal_times, async_add_entities)
