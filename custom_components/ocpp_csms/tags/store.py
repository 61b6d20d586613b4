"""Where a central system's tags, authorization mode and pushed local lists are kept.

One Home Assistant storage file per config entry (`.storage/ocpp_csms.<entry>.tags`).
Every change of the registry, and every list pushed to a charger, schedules a write a
second later; a write still waiting is done when the entry unloads (`entry_storage`).
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.core import HomeAssistant, callback

from ..csms.authorization import AuthorizationMode, Tag, TagChange, TagRegistry
from ..csms.local_list import LocalListSync, PushedList
from ..entry_storage import EntryStore, async_remove_storage
from ..entry_storage import storage_key as entry_storage_key

_LOGGER = logging.getLogger(__name__)

_KIND = "tags"


def storage_key(entry_id: str) -> str:
    """The storage file of a config entry's tags."""
    return entry_storage_key(entry_id, _KIND)


async def async_remove_tag_storage(hass: HomeAssistant, entry_id: str) -> None:
    """Delete a removed entry's tags file."""
    await async_remove_storage(hass, entry_id, _KIND)


class TagStore:
    """Loads the registry at start and saves it after every change."""

    def __init__(self, hass: HomeAssistant, entry_id: str, registry: TagRegistry) -> None:
        """Keep `registry` in the entry's storage file."""
        self.registry = registry
        self._store = EntryStore(hass, entry_id, _KIND, self._data)
        self._pushed: dict[str, PushedList] = {}
        self._local_lists: LocalListSync | None = None
        self._unsubscribe = registry.subscribe(self._registry_changed)

    async def async_load(self) -> None:
        """Read the stored tags into the registry; a damaged entry is skipped, not fatal."""
        data = await self._store.async_load()
        tags = []
        for stored in data.get("tags", []):
            try:
                tags.append(Tag.from_dict(stored))
            except KeyError, TypeError, ValueError:
                _LOGGER.warning("Skipping a stored tag that cannot be read: %s", stored)
        try:
            mode = AuthorizationMode(data.get("mode", AuthorizationMode.AUTOMATIC))
        except ValueError:
            mode = AuthorizationMode.AUTOMATIC
        self.registry.load(tags, mode)
        for charger_id, stored in data.get("pushed", {}).items():
            try:
                self._pushed[charger_id] = PushedList.from_dict(stored)
            except KeyError, TypeError, ValueError:
                # Unreadable: the charger gets a full list at its next sync.
                _LOGGER.debug("Dropping the stored local list of %s", charger_id)

    def attach(self, local_lists: LocalListSync | None) -> None:
        """Give the engine's local-list sync what was pushed before, and save its pushes."""
        self._local_lists = local_lists
        if local_lists is not None:
            local_lists.pushed.update(self._pushed)
            local_lists.on_pushed = self.schedule_save

    def close(self) -> None:
        """Stop following the registry (the entry unloads)."""
        self._unsubscribe()

    @callback
    def _registry_changed(self, _change: TagChange) -> None:
        self.schedule_save()

    @callback
    def schedule_save(self) -> None:
        """Write soon (and at the latest when the entry unloads)."""
        self._store.schedule_save()

    async def async_flush(self) -> None:
        """Write a change still waiting now (the entry unloads)."""
        await self._store.async_flush()

    def _data(self) -> dict[str, Any]:
        pushed = self._local_lists.pushed if self._local_lists is not None else self._pushed
        return {
            "mode": self.registry.mode.value,
            "tags": [tag.to_dict() for tag in self.registry.tags],
            "pushed": {charger_id: lst.to_dict() for charger_id, lst in pushed.items()},
        }
