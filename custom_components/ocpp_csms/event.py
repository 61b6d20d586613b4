"""Event entities: tags presented, sessions started and ended, an upstream's commands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .charger_activity import SESSION_ENTITY, TAG_ENTITY, session_data, tag_decision
from .csms.events import Event, TagPresented, TransactionEnded, TransactionStarted
from .csms.station import Station
from .entity import OcppEntity, OcppEntityDescription
from .entity_manager import REPORTED
from .hub import CentralSystemHub, OcppCsmsConfigEntry
from .upstream.entities import build_upstream_events

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppEventDescription(OcppEntityDescription, EventEntityDescription):
    """An event entity of a charger."""


# Event entities show their last event, fed by the engine's events: no charger change
# alters them.
TAG = OcppEventDescription(
    key=TAG_ENTITY,
    translation_key="tag",
    event_types=["accepted", "rejected", "unknown"],
    follows=REPORTED,
)
SESSION = OcppEventDescription(
    key=SESSION_ENTITY,
    translation_key="session",
    event_types=["started", "ended"],
    follows=REPORTED,
)


def build_events(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The event entities of a charger."""
    if evse_id is None:
        yield TagEvent(hub, station, None, TAG)
        yield SessionEvent(hub, station, None, SESSION)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the event entities of every charger."""
    entry.runtime_data.entities.register_platform(build_events, async_add_entities)
    entry.runtime_data.upstreams.register_platform(build_upstream_events, async_add_entities)


class _ChargerEvent(OcppEntity, EventEntity):
    """An event entity fed by the charger's engine events."""

    @property
    def available(self) -> bool:
        """An event entity keeps showing its last event."""
        return True

    def handle_update(self, event: Event | None = None) -> None:
        """Show what the charger reported; its other changes do not alter an event entity."""
        if event is not None:
            self._receive(event)

    def _receive(self, event: Event) -> None:
        raise NotImplementedError


class TagEvent(_ChargerEvent):
    """A tag was presented: accepted, rejected or unknown."""

    def _receive(self, event: Event) -> None:
        if not isinstance(event, TagPresented):
            return
        decision = event.decision
        self._trigger_event(
            tag_decision(decision),
            {
                "tag": event.id_tag,
                "name": decision.name,
                "status": decision.status.value,
                "known": decision.known,
                "connector": event.evse_id,
            },
        )
        self.async_write_ha_state()


class SessionEvent(_ChargerEvent):
    """A charging session started or ended."""

    def _receive(self, event: Event) -> None:
        if isinstance(event, TransactionStarted):
            kind = "started"
        elif isinstance(event, TransactionEnded):
            kind = "ended"
        else:
            return
        transaction = event.transaction
        tag_name = self.hub.activity.name_of(transaction.id_tag, transaction.tag_name)
        self._trigger_event(kind, session_data(transaction, tag_name))
        self.async_write_ha_state()
