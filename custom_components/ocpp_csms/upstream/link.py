"""The upstream subentries given to the engine, and each link's status to Home Assistant.

`UpstreamLinks` is the hub's part for forwarding. At set-up and after every change of
the subentries (`async_sync`) it starts, replaces or ends each charger's link
(`CentralSystem.set_upstream`), with its queue in `<config>/ocpp_csms/`. A link's
status reaches the charger's upstream entities (scope `Scope.upstream_of`, coalesced
by `UpstreamTracker`) and the credentials repair; the commands it sends reach its event
entity and the bus (`UpstreamCommands`). The entities are on the charger's
device and, as a device belongs to one subentry, in the charger's subentry: removing the
upstream removes them here, removing the charger removes them with it. An upstream
whose charger was removed is removed with it; a removed upstream's queue file is
deleted, and so is the old one of an upstream changed to another backend (another
URL, charge point id or version: see `queue_path`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..const import CONF_CHARGER_ID
from ..csms.upstream_settings import UpstreamSettings, UpstreamState, UpstreamStatus
from ..entity_manager import EntityManager, Scope
from .commands import UpstreamCommands
from .issues import CredentialIssues
from .settings import (
    delete_queue,
    queue_path,
    settings_from,
    upstream_subentries,
    upstream_title,
    url_host,
)
from .status import UpstreamTracker

if TYPE_CHECKING:
    from ..charger_index import ChargerIndex
    from ..csms.central_system import CentralSystem

_LOGGER = logging.getLogger(__name__)

# Builds a platform's upstream entities of one charger, given the hub (`R`).
type UpstreamEntityBuilder[R] = Callable[[R, str], Iterable[Entity]]


@dataclass(frozen=True, slots=True)
class _Applied:
    """What a charger's link was started with (no password in its repr: see the settings)."""

    subentry_id: str
    settings: UpstreamSettings


class UpstreamLinks[R]:
    """Every charger's upstream of one central system, as its subentries say."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        index: ChargerIndex,
        entities: EntityManager[Any],
    ) -> None:
        """Serve one central system; `attach` once its engine runs."""
        self._hass = hass
        self._entry = entry
        self._index = index
        self._entities = entities
        self.issues = CredentialIssues(hass, entry.entry_id)
        self.commands = UpstreamCommands(hass, entry.entry_id, index.charger_name)
        self._system: CentralSystem | None = None
        self._context: R | None = None
        self._applied: dict[str, _Applied] = {}
        self._trackers: dict[str, UpstreamTracker] = {}
        self._platforms: list[tuple[UpstreamEntityBuilder[R], AddConfigEntryEntitiesCallback]] = []
        # The unique ids of the entities added for each charger's upstream.
        self._shown: dict[str, set[str]] = {}
        self._syncing = asyncio.Lock()
        self._closed = False

    def attach(self, system: CentralSystem, context: R) -> None:
        """The engine to forward through, and what builders give the entities."""
        self._system = system
        self._context = context

    # -- what the rest asks ---------------------------------------------------------------

    def status(self, charger_id: str) -> UpstreamStatus | None:
        """A charger's upstream status as last reported (None: it has no upstream)."""
        tracker = self._trackers.get(charger_id)
        return tracker.status if tracker is not None else None

    def settings(self, charger_id: str) -> UpstreamSettings | None:
        """The settings a charger's link runs with (None: it has none)."""
        applied = self._applied.get(charger_id)
        return applied.settings if applied is not None else None

    @property
    def forwarded(self) -> frozenset[str]:
        """The chargers with an upstream link."""
        return frozenset(self._applied)

    # -- entities -------------------------------------------------------------------------

    @callback
    def register_platform(
        self, builder: UpstreamEntityBuilder[R], add_entities: AddConfigEntryEntitiesCallback
    ) -> None:
        """A platform with upstream entities: add them for every link, now and later."""
        self._platforms.append((builder, add_entities))
        for charger_id in self._shown:
            self._add(builder, add_entities, charger_id)

    def _build(self, charger_id: str) -> None:
        if charger_id in self._shown:
            return
        self._shown[charger_id] = set()
        for builder, add_entities in self._platforms:
            self._add(builder, add_entities, charger_id)

    def _add(
        self,
        builder: UpstreamEntityBuilder[R],
        add_entities: AddConfigEntryEntitiesCallback,
        charger_id: str,
    ) -> None:
        assert self._context is not None
        entities = list(builder(self._context, charger_id))
        self._shown[charger_id].update(str(entity.unique_id) for entity in entities)
        add_entities(entities, config_subentry_id=self._index.subentry_id(charger_id))

    def _remove_entities(self, charger_id: str) -> None:
        """The upstream is gone: so are its entities (from the registry, and so the states)."""
        unique_ids = self._shown.pop(charger_id, set())
        registry = er.async_get(self._hass)
        for registered in er.async_entries_for_config_entry(registry, self._entry.entry_id):
            if registered.unique_id in unique_ids:
                registry.async_remove(registered.entity_id)

    # -- following the subentries ---------------------------------------------------------

    async def async_sync(self) -> None:
        """Start, replace or end links as the upstream subentries say now."""
        async with self._syncing:
            if self._system is None or self._closed:
                return
            wanted: dict[str, _Applied] = {}
            for subentry in upstream_subentries(self._entry):
                charger_id = subentry.data[CONF_CHARGER_ID]
                if charger_id not in self._index.admitted:
                    # Its charger was removed: the upstream goes with it.
                    self._hass.config_entries.async_remove_subentry(
                        self._entry, subentry.subentry_id
                    )
                elif (settings := settings_from(subentry.data)) is not None:
                    wanted[charger_id] = _Applied(subentry.subentry_id, settings)
                    # Renaming the charger renames its upstream too.
                    title = upstream_title(self._index.charger_name(charger_id), settings.url)
                    if subentry.title != title:
                        self._hass.config_entries.async_update_subentry(
                            self._entry, subentry, title=title
                        )
            for charger_id in set(self._applied) - set(wanted):
                await self._async_end(charger_id)
            for charger_id, applied in wanted.items():
                if self._applied.get(charger_id) != applied:
                    try:
                        await self._async_start(charger_id, applied)
                    except Exception:
                        # Its queue's folder or file cannot be used: that costs this
                        # charger's forwarding only, never the central system's start.
                        _LOGGER.exception("The upstream of charger %s cannot start", charger_id)

    async def _async_start(self, charger_id: str, applied: _Applied) -> None:
        assert self._system is not None
        path = queue_path(self._hass, self._entry.entry_id, charger_id, applied.settings)
        await self._hass.async_add_executor_job(
            partial(path.parent.mkdir, parents=True, exist_ok=True)
        )
        before = self._applied.get(charger_id)
        tracker = self._trackers.get(charger_id)
        if tracker is None:
            tracker = self._trackers[charger_id] = UpstreamTracker(
                show=partial(self._entities.notify, Scope.upstream_of(charger_id)),
                state_changed=partial(self._state_changed, charger_id),
            )
        # New settings: a refusal of the old ones says nothing of these.
        self.issues.clear(charger_id)
        await self._system.set_upstream(
            charger_id,
            applied.settings,
            queue_path=path,
            on_status=tracker.on_status,
            on_command=partial(self.commands.report, charger_id),
        )
        self._applied[charger_id] = applied
        self._build(charger_id)
        if before is not None:
            # The old link is stopped (its queue closed): what it still held was owed to
            # the old backend, not to this one.
            old = queue_path(self._hass, self._entry.entry_id, charger_id, before.settings)
            if old != path:
                await self._hass.async_add_executor_job(delete_queue, old)

    async def _async_end(self, charger_id: str) -> None:
        assert self._system is not None
        applied = self._applied.pop(charger_id)
        self._remove_entities(charger_id)
        if (tracker := self._trackers.pop(charger_id, None)) is not None:
            tracker.close()
        self.issues.clear(charger_id)
        await self._system.set_upstream(charger_id, None)
        self.commands.forget(charger_id)
        path = queue_path(self._hass, self._entry.entry_id, charger_id, applied.settings)
        await self._hass.async_add_executor_job(delete_queue, path)
        _LOGGER.debug("Upstream of charger %s removed, with its queue %s", charger_id, path)

    def _state_changed(self, charger_id: str, state: UpstreamState) -> None:
        if state is UpstreamState.CONNECTED:
            self.issues.clear(charger_id)
        elif state is UpstreamState.CREDENTIALS_REFUSED and (settings := self.settings(charger_id)):
            self.issues.refused(
                charger_id, self._index.charger_name(charger_id), url_host(settings.url)
            )

    async def async_close(self) -> None:
        """Home Assistant stops or unloads the entry: start nothing, report nothing more.

        A sync under way finishes first, so that every link it starts is one the engine
        ends when it stops (their queues stay in their files).
        """
        self._closed = True
        async with self._syncing:
            for tracker in self._trackers.values():
                tracker.close()
