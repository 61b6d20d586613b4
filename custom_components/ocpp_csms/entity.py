"""The one entity base: an entity belongs to a scope and follows some of its changes.

Entities are pushed to, through one path (`EntityManager.notify`): a change in a scope
(a charger, one of its EVSEs, its sessions, or the site) calls `handle_update` of the
entities of that scope, and nothing else. An entity that names what it `follows` is
left alone by changes that cannot alter what it shows: a meter reading rewrites the
measurement sensors of its EVSE, not its status or its buttons.

`OcppEntity` belongs to a charger or one EVSE (1.6: connector) of it; `SiteEntity` to
the central system's own device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .csms.commands import Command, CommandResult
from .csms.events import Change, Event
from .csms.station import Evse, Station
from .entity_manager import SITE, Scope
from .identifiers import unique_id_for

if TYPE_CHECKING:
    from .hub import CentralSystemHub


@dataclass(frozen=True, kw_only=True)
class OcppEntityDescription(EntityDescription):
    """What every entity description of this integration adds."""

    # True: one entity per EVSE; False: one per charger.
    per_evse: bool = False
    # The changes of its scope (`Change`) that can alter what the entity shows; None:
    # every change. Connecting and disconnecting reach every entity whatever this says.
    follows: frozenset[Change] | None = None


class CsmsEntity(Entity):
    """An entity of this integration: pushed to when its scope changes."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # Set by the subclasses' constructors.
    hub: CentralSystemHub
    scope: Scope
    _follows: frozenset[Change] | None = None

    async def async_added_to_hass(self) -> None:
        """Receive the changes of its scope."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.hub.entities.subscribe(self.scope, self.handle_update, self._follows)
        )

    def handle_update(self, event: Event | None = None) -> None:
        """Its scope changed: write the new state (`event`: see `EntityManager.notify`)."""
        self.async_write_ha_state()


class SiteEntity(CsmsEntity):
    """An entity of the central system's own device, following the site."""

    scope = SITE

    def __init__(
        self, hub: CentralSystemHub, key: str, follows: frozenset[Change] | None = None
    ) -> None:
        """Belong to the central system of `hub`."""
        self.hub = hub
        self._follows = follows
        self._attr_translation_key = key
        self._attr_unique_id = f"{hub.entry.entry_id}-site-{key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, hub.entry.entry_id)})

    @property
    def available(self) -> bool:
        """While balancing is on."""
        return self.hub.site_link.site is not None


class OcppEntity(CsmsEntity):
    """An entity of one charger (or one EVSE of it)."""

    def __init__(
        self,
        hub: CentralSystemHub,
        station: Station,
        evse_id: int | None,
        description: OcppEntityDescription,
    ) -> None:
        """Bind to a charger, and to one of its EVSEs for EVSE-level descriptions."""
        self.hub = hub
        self.station = station
        self.evse_id = evse_id
        self.entity_description = description
        # Kept apart: each platform's base class types `entity_description` as its own
        # description class, so OcppEntity cannot narrow it to OcppEntityDescription.
        self._follows = description.follows
        self.scope = (
            Scope.charger(station.id) if evse_id is None else Scope.evse(station.id, evse_id)
        )
        entry_id = hub.entry.entry_id
        self._attr_unique_id = unique_id_for(entry_id, station.id, evse_id, description.key)
        self._attr_device_info = hub.entities.device_info(station.id)
        if evse_id is not None and evse_id > 1:
            # Connector 1 carries the plain names; others say which connector they are.
            self._attr_translation_key = f"{description.translation_key}_connector"
            self._attr_translation_placeholders = {"connector": str(evse_id)}

    @property
    def evse(self) -> Evse | None:
        """The EVSE this entity belongs to (None for charger-level entities)."""
        if self.evse_id is None:
            return None
        return self.station.evses.get(self.evse_id)

    @property
    def available(self) -> bool:
        """Available while the charger is connected."""
        return self.station.connected

    async def run_command(self, command: Command) -> CommandResult:
        """Send a command to the charger; anything but accepted raises a translated error."""
        result = await self.hub.execute(self.station.id, command)
        self.raise_unless_accepted(result)
        return result

    def raise_unless_accepted(self, result: CommandResult) -> None:
        """Turn a result other than accepted into a translated error naming the charger."""
        if not result.accepted:
            raise self.hub.command_error(self.station.id, result)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The connector an EVSE-level entity belongs to."""
        if self.evse_id is None:
            return None
        return {"connector": self.evse_id}
