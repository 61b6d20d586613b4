"""A charger's upstream on its device: its connection, its queue, its commands.

"Upstream connected", "Upstream queued messages", and "Upstream command" (an event
entity: each command the upstream sent, and how it ended).

Built for chargers with an upstream only. They are on the charger's device and so in
the charger's subentry, not the upstream's (Home Assistant keeps a device in one
subentry): `UpstreamLinks` removes them when the upstream goes. They are told through
the one update path (`Scope.upstream_of`), at most once a second, and write their
state only when what they show changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.components.event import EventEntity
from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.const import EntityCategory
from homeassistant.helpers.entity import Entity

from ..csms.events import Event
from ..csms.upstream_policy import CommandOutcome, UpstreamCommand
from ..csms.upstream_settings import UpstreamStatus
from ..entity import CsmsEntity
from ..entity_manager import Scope
from ..identifiers import unique_id_for
from .commands import UPSTREAM_COMMAND_ENTITY, command_data

if TYPE_CHECKING:
    from ..hub import CentralSystemHub

UPSTREAM_CONNECTED = "upstream_connected"
UPSTREAM_QUEUED = "upstream_queued"


class UpstreamEntity(CsmsEntity):
    """An entity showing one charger's upstream link."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, hub: CentralSystemHub, charger_id: str, key: str) -> None:
        """Belong to the charger's device; follow its upstream."""
        self.hub = hub
        self.charger_id = charger_id
        self.scope = Scope.upstream_of(charger_id)
        self._attr_translation_key = key
        self._attr_unique_id = unique_id_for(hub.entry.entry_id, charger_id, None, key)
        self._attr_device_info = hub.entities.device_info(charger_id)
        self._shown: tuple[object, ...] | None = None

    @property
    def status(self) -> UpstreamStatus | None:
        """The link's status as last reported."""
        return self.hub.upstreams.status(self.charger_id)

    @property
    def available(self) -> bool:
        """While the charger has an upstream link."""
        return self.status is not None

    def shown(self) -> tuple[object, ...]:
        """What the entity shows now (its availability and value)."""
        return (self.available,)

    async def async_added_to_hass(self) -> None:
        """Remember what Home Assistant showed first."""
        await super().async_added_to_hass()
        self._shown = self.shown()

    def handle_update(self, event: Event | None = None) -> None:
        """Write the state only when what the entity shows changed."""
        shown = self.shown()
        if shown != self._shown:
            self._shown = shown
            self.async_write_ha_state()


class UpstreamConnectedSensor(UpstreamEntity, BinarySensorEntity):
    """Whether the upstream is connected now."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY

    @property
    def is_on(self) -> bool | None:
        """Connected (off while it connects, is unreachable or refuses us)."""
        status = self.status
        return status.connected if status is not None else None

    def shown(self) -> tuple[object, ...]:
        """Availability and connectivity."""
        return (self.available, self.is_on)


class UpstreamQueuedSensor(UpstreamEntity, SensorEntity):
    """How many messages wait for the upstream (in memory and in the queue's file)."""

    _attr_state_class = SensorStateClass.MEASUREMENT

    @property
    def native_value(self) -> int | None:
        """Messages waiting."""
        status = self.status
        return status.queued if status is not None else None

    def shown(self) -> tuple[object, ...]:
        """Availability and the count."""
        return (self.available, self.native_value)


class UpstreamCommandEvent(UpstreamEntity, EventEntity):
    """The upstream's last command: its outcome is the event type, the action its data."""

    def __init__(self, hub: CentralSystemHub, charger_id: str, key: str) -> None:
        """Every outcome is an event type."""
        super().__init__(hub, charger_id, key)
        self._attr_event_types = [outcome.value for outcome in CommandOutcome]

    @property
    def available(self) -> bool:
        """An event entity keeps showing its last event."""
        return True

    async def async_added_to_hass(self) -> None:
        """Receive the upstream's commands."""
        await super().async_added_to_hass()
        self.async_on_remove(self.hub.upstreams.commands.listen(self.charger_id, self._command))

    def handle_update(self, event: Event | None = None) -> None:
        """The link's status does not alter the last command."""

    def _command(self, command: UpstreamCommand) -> None:
        data = command_data(command)
        del data["outcome"]  # the event type
        self._trigger_event(command.outcome.value, data)
        self.async_write_ha_state()


def build_upstream_events(hub: CentralSystemHub, charger_id: str) -> Iterable[Entity]:
    """The event entity of a charger's upstream."""
    yield UpstreamCommandEvent(hub, charger_id, UPSTREAM_COMMAND_ENTITY)


def build_upstream_binary_sensors(hub: CentralSystemHub, charger_id: str) -> Iterable[Entity]:
    """The binary sensor of a charger's upstream."""
    yield UpstreamConnectedSensor(hub, charger_id, UPSTREAM_CONNECTED)


def build_upstream_sensors(hub: CentralSystemHub, charger_id: str) -> Iterable[Entity]:
    """The sensor of a charger's upstream."""
    yield UpstreamQueuedSensor(hub, charger_id, UPSTREAM_QUEUED)
