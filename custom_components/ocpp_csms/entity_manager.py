"""The entities of one central system: building them, and pushing updates to them.

Platforms register a builder; the manager builds entities for every admitted charger,
and more as a charger reveals EVSEs and kinds of measurement. An engine event names
its charger (and EVSE) and what changed, and only the entities subscribed to that pair
that follow one of those changes are updated: with hundreds of chargers reporting,
every state write saved is Home Assistant time saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING

from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .csms.events import Event
from .csms.log_budget import LogBudget
from .csms.station import Station
from .identifiers import charger_device_identifier, parse_unique_id, unique_id_for

if TYPE_CHECKING:
    from .entity import OcppEntity
    from .hub import CentralSystemHub

# Builds a platform's entities for a charger (evse_id None) or one of its EVSEs; the
# manager adds those it has not added before.
type EntityBuilder = Callable[[CentralSystemHub, Station, int | None], Iterable[OcppEntity]]
# Receives the engine events of one charger (event entities).
type EventCallback = Callable[[Event], None]
# The subscription key of entities that follow every session of a charger (totals).
SESSIONS = -1

# What changed, as entities follow it (`OcppEntityDescription.follows`): the names of
# the engine's EvseUpdated and StationUpdated `changed`, and three of our own.
STATUS = frozenset({"status"})
MEASUREMENTS = frozenset({"measurements"})
TRANSACTION = frozenset({"transaction"})
# A running session of the EVSE got new readings or a new charging state.
SESSION_PROGRESS = frozenset({"session_progress"})
ALLOCATION = frozenset({"allocation"})  # load balancing gave an EVSE another share
# A station-level change that its EVSEs show too: a reservation may hold any of them.
RESERVATIONS = frozenset({"reservations"})
EVSE_STATUS = frozenset({"evse_status"})  # charger level: one of its EVSEs' status
CONNECTION_ONLY: frozenset[str] = frozenset()

type Update = Callable[[], None]

_LOGGER = logging.getLogger(__name__)


class _Subscribers:
    """The entities of one (charger, EVSE) pair, and which of them each change reaches.

    The handful of distinct `changed` sets are routed once and remembered until the
    subscriptions change: a meter message then costs a dictionary lookup, not a test
    per entity.
    """

    __slots__ = ("_follows", "_routes")

    def __init__(self) -> None:
        self._follows: dict[Update, frozenset[str] | None] = {}
        self._routes: dict[frozenset[str] | None, tuple[Update, ...]] = {}

    def add(self, update: Update, follows: frozenset[str] | None) -> None:
        self._follows[update] = follows
        self._routes.clear()

    def remove(self, update: Update) -> None:
        self._follows.pop(update, None)
        self._routes.clear()

    def reached_by(self, changed: frozenset[str] | None) -> tuple[Update, ...]:
        """The updates `changed` calls; None (a new connection) calls every one."""
        route = self._routes.get(changed)
        if route is None:
            route = self._routes[changed] = tuple(
                update
                for update, follows in self._follows.items()
                if changed is None or follows is None or not follows.isdisjoint(changed)
            )
        return route


class EntityManager:
    """Builds the entities of one central system and routes updates to them."""

    def __init__(self, hub: CentralSystemHub) -> None:
        """Serve the hub's chargers."""
        self._hub = hub
        self._builders: list[tuple[EntityBuilder, AddConfigEntryEntitiesCallback]] = []
        self._entity_ids: set[str] = set()
        # (charger id, EVSE id or None) -> its entities' update callbacks
        self._subscribers: dict[tuple[str, int | None], _Subscribers] = {}
        self._event_subscribers: dict[str, set[EventCallback]] = {}
        # How many measurement kinds each EVSE had when its entities were last built.
        self._known_measurements: dict[tuple[str, int], int] = {}
        # One DeviceInfo per charger, shared by its entities (about 14 KB per charger
        # when each of its 26 entities holds its own).
        self._device_infos: dict[str, DeviceInfo] = {}
        # Updates that raised, logged within bounds per charger.
        self._failures = LogBudget(per_source=3, overall=30, period_s=600.0)

    def register_platform(
        self, builder: EntityBuilder, add_entities: AddConfigEntryEntitiesCallback
    ) -> None:
        """A platform is set up: build its entities for every charger known so far.

        Charger-level entities exist for every admitted charger; EVSE-level ones for
        every EVSE seen in this run or registered before (so their last values restore
        before the charger reports again).
        """
        self._builders.append((builder, add_entities))
        assert self._hub.system is not None
        registered = self._registered_evses()
        for charger_id in self._hub.admitted:
            station = self._hub.system.ensure_station(charger_id)
            self._build_with(builder, add_entities, station, None)
            for evse_id in sorted(set(station.evses) | registered.get(charger_id, set())):
                if evse_id > 0:
                    self._build_with(builder, add_entities, station, evse_id)

    def _registered_evses(self) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        registry = er.async_get(self._hub.hass)
        for entry in er.async_entries_for_config_entry(registry, self._hub.entry.entry_id):
            parsed = parse_unique_id(self._hub.entry.entry_id, entry.unique_id)
            if parsed is not None and parsed[1] is not None:
                found.setdefault(parsed[0], set()).add(parsed[1])
        return found

    def is_registered(self, domain: str, charger_id: str, evse_id: int | None, key: str) -> bool:
        """Whether the entity registry has this entity from before (it is restored)."""
        unique_id = unique_id_for(self._hub.entry.entry_id, charger_id, evse_id, key)
        registry = er.async_get(self._hub.hass)
        return registry.async_get_entity_id(domain, DOMAIN, unique_id) is not None

    def build(self, station: Station, evse_id: int | None) -> None:
        """Add the entities a charger (or EVSE) has now and did not have before."""
        if station.id not in self._hub.admitted:
            return  # not admitted: no device, no entities
        for builder, add_entities in self._builders:
            self._build_with(builder, add_entities, station, evse_id)

    def _build_with(
        self,
        builder: EntityBuilder,
        add_entities: AddConfigEntryEntitiesCallback,
        station: Station,
        evse_id: int | None,
    ) -> None:
        new = [
            entity
            for entity in builder(self._hub, station, evse_id)
            if entity.unique_id not in self._entity_ids
        ]
        if new:
            self._entity_ids.update(str(entity.unique_id) for entity in new)
            # Entities belong to their charger's subentry: removing it removes them.
            add_entities(new, config_subentry_id=self._hub.subentry_id(station.id))

    def device_info(self, charger_id: str) -> DeviceInfo:
        """The device a charger's entities belong to (read-only: it is shared)."""
        info = self._device_infos.get(charger_id)
        if info is None:
            identifier = charger_device_identifier(self._hub.entry.entry_id, charger_id)
            info = self._device_infos[charger_id] = DeviceInfo(identifiers={identifier})
        return info

    def subscribe(
        self,
        charger_id: str,
        evse_id: int | None,
        update: Update,
        follows: frozenset[str] | None = None,
    ) -> Callable[[], None]:
        """Call `update` when this charger (evse_id None) or EVSE changes; returns undo.

        With `follows`, only changes named in it (and connection changes) call it.
        """
        subscribers = self._subscribers.get((charger_id, evse_id))
        if subscribers is None:
            subscribers = self._subscribers[(charger_id, evse_id)] = _Subscribers()
        subscribers.add(update, follows)
        return partial(subscribers.remove, update)

    def subscribe_events(self, charger_id: str, receive: EventCallback) -> Callable[[], None]:
        """Pass this charger's engine events to `receive`; returns undo."""
        subscribers = self._event_subscribers.setdefault(charger_id, set())
        subscribers.add(receive)
        return lambda: subscribers.discard(receive)

    def notify(
        self, charger_id: str, evse_id: int | None, changed: frozenset[str] | None = None
    ) -> None:
        """Tell the entities of one charger (evse_id None) or one EVSE to update.

        `changed` names what changed; None reaches every entity (a new connection).
        """
        subscribers = self._subscribers.get((charger_id, evse_id))
        if subscribers is not None:
            for update in subscribers.reached_by(changed):
                self._isolated(charger_id, update)

    def notify_sessions(self, charger_id: str) -> None:
        """A session of this charger started, progressed or ended: update its totals."""
        self.notify(charger_id, SESSIONS)

    def session_progressed(self, charger_id: str, evse_id: int) -> None:
        """A running session got readings: its EVSE's session entities and the totals."""
        self.notify(charger_id, evse_id, SESSION_PROGRESS)
        self.notify(charger_id, SESSIONS)

    def notify_station(self, station: Station) -> None:
        """Everything of one charger changed (its connection): all its entities."""
        self.notify(station.id, None)
        for evse_id in station.evses:
            self.notify(station.id, evse_id)

    def station_changed(self, station: Station, changed: frozenset[str]) -> None:
        """Station-level fields changed: its entities, and its EVSEs' if they show them."""
        self.notify(station.id, None, changed)
        if evse_changes := changed & RESERVATIONS:
            for evse_id in station.evses:
                self.notify(station.id, evse_id, evse_changes)

    def evse_changed(self, station: Station, evse_id: int, changed: frozenset[str]) -> None:
        """An EVSE changed: add entities it now reveals, then update its entities."""
        if evse_id > 0:
            key = (station.id, evse_id)
            evse = station.evses[evse_id]
            # New EVSE or new kinds of measurement: entities may be due.
            if self._known_measurements.get(key) != len(evse.measurements):
                self._known_measurements[key] = len(evse.measurements)
                # A builder that fails must not cost the updates below.
                self._isolated(station.id, partial(self.build, station, evse_id))
        self.notify(station.id, evse_id, changed)
        if "status" in changed:
            self.notify(station.id, None, EVSE_STATUS)

    def forget(self, charger_id: str) -> None:
        """A removed charger's entities are gone: build them anew if it is added again."""
        entry_id = self._hub.entry.entry_id
        self._entity_ids = {
            unique_id
            for unique_id in self._entity_ids
            if (parsed := parse_unique_id(entry_id, unique_id)) is None or parsed[0] != charger_id
        }
        self._known_measurements = {
            key: count for key, count in self._known_measurements.items() if key[0] != charger_id
        }
        self._device_infos.pop(charger_id, None)

    def pass_event(self, charger_id: str, event: Event) -> None:
        """Hand an engine event to the event entities of its charger."""
        for receive in tuple(self._event_subscribers.get(charger_id, ())):
            self._isolated(charger_id, partial(receive, event))

    def _isolated(self, charger_id: str, update: Update) -> None:
        """Run one entity's update; if it fails, the others still run.

        An entity that cannot take a charger's value (Home Assistant refused its
        state) must not keep the rest of that charger, or the engine event that
        carried it, from being handled.
        """
        try:
            update()
        except Exception:
            if (left_out := self._failures.take(charger_id)) is not None:
                more = f" ({left_out} similar failures not logged)" if left_out else ""
                _LOGGER.exception("Updating an entity of charger %s failed%s", charger_id, more)
