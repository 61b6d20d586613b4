"""A config entry's storage file of one kind, written a moment after a change.

`.storage/ocpp_csms.<entry>.<kind>`, through Home Assistant's `Store`. A burst of
changes (an automation adding ten tags) is one write a second later (`schedule_save`);
`async_flush` writes a change still waiting at once. The hub flushes when the entry
unloads: a reload then reads the latest data, and a removal, which deletes the file
after the unload, is not followed by a late write that makes it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .const import DOMAIN

STORAGE_VERSION = 1
SAVE_DELAY_S = 1.0


def storage_key(entry_id: str, kind: str) -> str:
    """The storage file of a config entry's data of one kind."""
    return f"{DOMAIN}.{entry_id}.{kind}"


async def async_remove_storage(hass: HomeAssistant, entry_id: str, kind: str) -> None:
    """Delete a removed entry's file of that kind."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, storage_key(entry_id, kind)).async_remove()


class EntryStore:
    """One file, written from `data()` a second after each change (and when flushed)."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, kind: str, data: Callable[[], dict[str, Any]]
    ) -> None:
        """Keep what `data` returns in the entry's file of `kind`."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, storage_key(entry_id, kind)
        )
        self._data = data
        self._waiting = False

    async def async_load(self) -> dict[str, Any]:
        """What was kept; {} when nothing was."""
        return await self._store.async_load() or {}

    @callback
    def schedule_save(self) -> None:
        """Write soon (and at the latest when flushed, or when Home Assistant stops)."""
        self._waiting = True
        self._store.async_delay_save(self._take, SAVE_DELAY_S)

    def _take(self) -> dict[str, Any]:
        self._waiting = False
        return self._data()

    async def async_flush(self) -> None:
        """Write a change still waiting, now (the delayed write is then dropped)."""
        if self._waiting:
            await self._store.async_save(self._take())
