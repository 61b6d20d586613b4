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
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .csms.events import Change, Event
from .csms.log_budget import LogBudget
from .csms.station import Station
from .identifiers import charger_device_identifier, parse_unique_id, unique_id_for

if TYPE_CHECKING:
    from .charger_index import ChargerIndex
    from .csms.central_system import CentralSystem

# Builds a platform's entities for a charger (evse_id None) or one of its EVSEs, given
# the runtime data the entities use (`R`); the manager adds those it has not added.
type EntityBuilder[R] = Callable[[R, Station, int | None], Iterable[Entity]]
# An entity's update: the change reached it; `event` is the engine event that carried
# it, for entities that show events (None for a state change or a new connection).
type Update = Callable[[Event | None], None]


@dataclass(frozen=True, slots=True)
class Scope:
    """What an entity belongs to, and so which changes can reach it.

    A charger (`evse_id` None), one EVSE of it, every session of it (its totals), its
    link to an upstream central system, or the central system itself (`charger_id`
    None: the site).
    """

    charger_id: str | None
    evse_id: int | None = None
    sessions: bool = False
    upstream: bool = False

    @classmethod
    def charger(cls, charger_id: str) -> Scope:
        """A charger's own entities."""
        return cls(charger_id)

    @classmethod
    def evse(cls, charger_id: str, evse_id: int) -> Scope:
        """The entities of one EVSE (1.6: connector)."""
        return cls(charger_id, evse_id)

    @classmethod
    def sessions_of(cls, charger_id: str) -> Scope:
        """Entities that follow every session of a charger (totals)."""
        return cls(charger_id, sessions=True)

    @classmethod
    def upstream_of(cls, charger_id: str) -> Scope:
        """Entities that show a charger's upstream link (told by `upstream.link`)."""
        return cls(charger_id, upstream=True)


# The central system's own entities (the site's).
SITE = Scope(None)

# What changed, as entities follow it (`OcppEntityDescription.follows`).
STATUS = frozenset({Change.STATUS})
MEASUREMENTS = frozenset({Change.MEASUREMENTS})
TRANSACTION = frozenset({Change.TRANSACTION})
SESSION_PROGRESS = frozenset({Change.SESSION_PROGRESS})
ALLOCATION = frozenset({Change.ALLOCATION})
REPORTED = frozenset({Change.REPORTED})
RESERVATIONS = frozenset({Change.RESERVATIONS})
SCHEDULES = frozenset({Change.SCHEDULES})
EVSE_STATUS = frozenset({Change.EVSE_STATUS})  # charger level: one of its EVSEs' status
# Station-level changes its EVSEs show too: a reservation may hold any of them.
_SHOWN_BY_EVSES = RESERVATIONS
CONNECTION_ONLY: frozenset[Change] = frozenset()

_LOGGER = logging.getLogger(__name__)


class _Subscribers:
    """The entities of one scope, and which of them each change reaches.

    The handful of distinct `changed` sets are routed once and remembered until the
    subscriptions change: a meter message then costs a dictionary lookup, not a test
    per entity.
    """

    __slots__ = ("_follows", "_routes")

    def __init__(self) -> None:
        self._follows: dict[Update, frozenset[Change] | None] = {}
        self._routes: dict[frozenset[Change] | None, tuple[Update, ...]] = {}

    def add(self, update: Update, follows: frozenset[Change] | None) -> None:
        self._follows[update] = follows
        self._routes.clear()

    def remove(self, update: Update) -> None:
        self._follows.pop(update, None)
        self._routes.clear()

    def reached_by(self, changed: frozenset[Change] | None) -> tuple[Update, ...]:
        """The updates `changed` calls; None (a new connection) calls every one."""
        route = self._routes.get(changed)
        if route is None:
            route = self._routes[changed] = tuple(
                update
                for update, follows in self._follows.items()
                if changed is None or follows is None or not follows.isdisjoint(changed)
            )
        return route


class EntityManager[R]:
    """Builds the entities of one central system and routes updates to them.

    `R` is the runtime data builders give the entities they build.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str, index: ChargerIndex) -> None:
        """Serve one central system's admitted chargers; `attach` once its engine runs."""
        self._hass = hass
        self._entry_id = entry_id
        self._index = index
        self._system: CentralSystem | None = None
        self._context: R | None = None
        self._builders: list[tuple[EntityBuilder[R], AddConfigEntryEntitiesCallback]] = []
        self._entity_ids: set[str] = set()
        # Each scope's entities' update callbacks.
        self._subscribers: dict[Scope, _Subscribers] = {}
        # How many measurement kinds each EVSE had when its entities were last built.
        self._known_measurements: dict[tuple[str, int], int] = {}
        # One DeviceInfo per charger, shared by its entities (about 14 KB per charger
        # when each of its 26 entities holds its own).
        self._device_infos: dict[str, DeviceInfo] = {}
        # Updates that raised, logged within bounds per charger.
        self._failures = LogBudget(per_source=3, overall=30, period_s=600.0)

    def attach(self, system: CentralSystem, context: R) -> None:
        """The engine whose stations the entities show, and what builders give them."""
        self._system = system
        self._context = context

    def register_platform(
        self, builder: EntityBuilder[R], add_entities: AddConfigEntryEntitiesCallback
    ) -> None:
        """A platform is set up: build its entities for every charger known so far.

        Charger-level entities exist for every admitted charger; EVSE-level ones for
        every EVSE seen in this run or registered before (so their last values restore
        before the charger reports again).
        """
        self._builders.append((builder, add_entities))
        assert self._system is not None
        registered = self._registered_evses()
        for charger_id in self._index.admitted:
            station = self._system.ensure_station(charger_id)
            self._build_with(builder, add_entities, station, None)
            for evse_id in sorted(set(station.evses) | registered.get(charger_id, set())):
                if evse_id > 0:
                    self._build_with(builder, add_entities, station, evse_id)

    def _registered_evses(self) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        registry = er.async_get(self._hass)
        for entry in er.async_entries_for_config_entry(registry, self._entry_id):
            parsed = parse_unique_id(self._entry_id, entry.unique_id)
            if parsed is not None and parsed[1] is not None:
                found.setdefault(parsed[0], set()).add(parsed[1])
        return found

    def is_registered(self, domain: str, charger_id: str, evse_id: int | None, key: str) -> bool:
        """Whether the entity registry has this entity from before (it is restored)."""
        unique_id = unique_id_for(self._entry_id, charger_id, evse_id, key)
        registry = er.async_get(self._hass)
        return registry.async_get_entity_id(domain, DOMAIN, unique_id) is not None

    def build(self, station: Station, evse_id: int | None) -> None:
        """Add the entities a charger (or EVSE) has now and did not have before."""
        if station.id not in self._index.admitted:
            return  # not admitted: no device, no entities
        for builder, add_entities in self._builders:
            self._build_with(builder, add_entities, station, evse_id)

    def _build_with(
        self,
        builder: EntityBuilder[R],
        add_entities: AddConfigEntryEntitiesCallback,
        station: Station,
        evse_id: int | None,
    ) -> None:
        assert self._context is not None  # attached before any platform is set up
        new = [
            entity
            for entity in builder(self._context, station, evse_id)
            if entity.unique_id not in self._entity_ids
        ]
        if new:
            self._entity_ids.update(str(entity.unique_id) for entity in new)
            # Entities belong to their charger's subentry: removing it removes them.
            add_entities(new, config_subentry_id=self._index.subentry_id(station.id))

    def device_info(self, charger_id: str) -> DeviceInfo:
        """The device a charger's entities belong to (read-only: it is shared)."""
        info = self._device_infos.get(charger_id)
        if info is None:
            identifier = charger_device_identifier(self._entry_id, charger_id)
            info = self._device_infos[charger_id] = DeviceInfo(identifiers={identifier})
        return info

    def subscribe(
        self, scope: Scope, update: Update, follows: frozenset[Change] | None = None
    ) -> Callable[[], None]:
        """Call `update` when something in `scope` changes; returns undo.

        With `follows`, only changes named in it (and connection changes) call it.
        """
        subscribers = self._subscribers.get(scope)
        if subscribers is None:
            subscribers = self._subscribers[scope] = _Subscribers()
        subscribers.add(update, follows)
        return partial(subscribers.remove, update)

    def notify(
        self,
        scope: Scope,
        changed: frozenset[Change] | None = None,
        event: Event | None = None,
    ) -> None:
        """Tell the entities of `scope` that follow `changed` (None: all of them).

        `event` is the engine event the change came with, for entities showing events.
        """
        subscribers = self._subscribers.get(scope)
        if subscribers is not None:
            for update in subscribers.reached_by(changed):
                self._isolated(scope.charger_id, update, event)

    def notify_station(self, station: Station) -> None:
        """Everything of one charger changed (its connection): all its entities."""
        self.notify(Scope.charger(station.id))
        for evse_id in station.evses:
            self.notify(Scope.evse(station.id, evse_id))

    def station_changed(self, station: Station, changed: frozenset[Change]) -> None:
        """Station-level fields changed: its entities, and its EVSEs' if they show them."""
        self.notify(Scope.charger(station.id), changed)
        if evse_changes := changed & _SHOWN_BY_EVSES:
            for evse_id in station.evses:
                self.notify(Scope.evse(station.id, evse_id), evse_changes)

    def evse_changed(self, station: Station, evse_id: int, changed: frozenset[Change]) -> None:
        """An EVSE changed: add entities it now reveals, then update its entities."""
        if evse_id > 0:
            key = (station.id, evse_id)
            evse = station.evses[evse_id]
            # New EVSE or new kinds of measurement: entities may be due.
            if self._known_measurements.get(key) != len(evse.measurements):
                self._known_measurements[key] = len(evse.measurements)
                # A builder that fails must not cost the updates below.
                self._isolated(station.id, self.build, station, evse_id)
        self.notify(Scope.evse(station.id, evse_id), changed)
        if Change.STATUS in changed:
            self.notify(Scope.charger(station.id), EVSE_STATUS)

    def session_reported(self, event: Event) -> None:
        """A session started or ended: the charger's event entities, its totals, the site's.

        The central system's calendar (`SITE`) shows every charger's sessions.
        """
        self.notify(Scope.charger(event.station.id), REPORTED, event)
        self.notify(Scope.sessions_of(event.station.id))
        self.notify(SITE, REPORTED, event)

    def session_progressed(self, charger_id: str) -> None:
        """A running session got readings: the charger's totals.

        Its EVSE's session entities were told by the same message's EvseUpdated.
        """
        self.notify(Scope.sessions_of(charger_id))

    def forget(self, charger_id: str) -> None:
        """A removed charger's entities are gone: build them anew if it is added again."""
        entry_id = self._entry_id
        self._entity_ids = {
            unique_id
            for unique_id in self._entity_ids
            if (parsed := parse_unique_id(entry_id, unique_id)) is None or parsed[0] != charger_id
        }
        self._known_measurements = {
            key: count for key, count in self._known_measurements.items() if key[0] != charger_id
        }
        self._device_infos.pop(charger_id, None)

    def _isolated[*A](
        self, charger_id: str | None, update: Callable[[*A], None], *args: *A
    ) -> None:
        """Run one entity's update; if it fails, the others still run.

        An entity that cannot take a charger's value (Home Assistant refused its
        state) must not keep the rest of that charger, or the engine event that
        carried it, from being handled.
        """
        try:
            update(*args)
        except Exception:
            if (left_out := self._failures.take(charger_id or "")) is not None:
                more = f" ({left_out} similar failures not logged)" if left_out else ""
                owner = f"charger {charger_id}" if charger_id else "the central system"
                _LOGGER.exception("Updating an entity of %s failed%s", owner, more)
