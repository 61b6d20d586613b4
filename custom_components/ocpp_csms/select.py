"""The charging mode of a charger: fast, solar only, solar + minimum, or off."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .csms.events import Event
from .csms.solar import ChargingMode
from .csms.station import Station
from .entity import OcppEntity, OcppEntityDescription
from .entity_manager import ALLOCATION, SITE
from .hub import CentralSystemHub, OcppCsmsConfigEntry

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppSelectDescription(OcppEntityDescription, SelectEntityDescription):
    """A select of a charger."""


CHARGING_MODE = OcppSelectDescription(
    key="charging_mode",
    translation_key="charging_mode",
    options=[mode.value for mode in ChargingMode],
)
MODES = frozenset(mode.value for mode in ChargingMode)


def build_selects(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The charging mode, while load balancing is on (the balancer applies it)."""
    if evse_id is None and hub.site_link.site is not None:
        yield ChargingModeSelect(hub, station, None, CHARGING_MODE)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the charging mode of every charger."""
    entry.runtime_data.entities.register_platform(build_selects, async_add_entities)


class ChargingModeSelect(OcppEntity, SelectEntity, RestoreEntity):
    """Where the charger's sessions take their current from; kept across restarts.

    Applied by the site balancer, so it works while Home Assistant runs; without Home
    Assistant the charger falls back to the site's failsafe current.
    """

    _shown: tuple[bool, str] | None = None

    @property
    def available(self) -> bool:
        """A mode can be chosen while balancing is on, even with the charger away."""
        return self.hub.site_link.site is not None

    @property
    def current_option(self) -> str:
        """The charger's mode."""
        return self.hub.site_link.mode(self.station.id).value

    async def async_added_to_hass(self) -> None:
        """Go on in the mode chosen before a restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state in MODES:
            self.hub.site_link.set_mode(self.station.id, ChargingMode(last.state))
        self.async_on_remove(self.hub.entities.subscribe(SITE, self._site_changed, ALLOCATION))
        # Home Assistant writes the first state once this returns: it shows this.
        self._shown = (self.available, self.current_option)

    def _site_changed(self, event: Event | None = None) -> None:
        """Balancing rounds come every few seconds; write only when this select changed."""
        shown = (self.available, self.current_option)
        if shown != self._shown:
            self._write_state()

    def handle_update(self, event: Event | None = None) -> None:
        """The charger changed (connected, went away): write, remembering what it showed."""
        self._write_state()

    def _write_state(self) -> None:
        """Write the state, remembering what it showed."""
        self._shown = (self.available, self.current_option)
        self.async_write_ha_state()

    async def async_select_option(self, option: str) -> None:
        """Charge in `option` from now on."""
        self.hub.site_link.set_mode(self.station.id, ChargingMode(option))
        self._write_state()
