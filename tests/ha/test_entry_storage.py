"""The entry's storage files (tags, certificate facts) written a second after a change.

A change still waiting to be written when the entry unloads is written then: a reload
reads it, and a removal, which deletes the files, is not followed by a late write that
makes them again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ocpp_csms.client_certificates.memory import storage_key as facts_key
from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.csms.certificates import CertificateFacts
from custom_components.ocpp_csms.entry_storage import EntryStore, storage_key
from custom_components.ocpp_csms.tags.store import storage_key as tags_key
from tests.chargers import wait_for
from tests.ha.conftest import SetUpEntry, charger_subentry

GUEST = "04A2B3C4"
END = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
FACTS = CertificateFacts("CN=CP-3", "1f", "AA:BB", END - dt.timedelta(days=365), END)


async def _change(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """A tag added and a charger's certificate facts learnt: both wait to be written."""
    await hass.services.async_call(DOMAIN, "add_tag", {"tag": GUEST}, blocking=True)
    entry.runtime_data.certificates.memory.keep("CP-3", FACTS)


async def _a_while_later(hass: HomeAssistant) -> None:
    """Run what was due in the next few seconds (a delayed write of one change)."""
    async_fire_time_changed(hass, dt_util.utcnow() + dt.timedelta(seconds=5))
    await hass.async_block_till_done()


async def test_a_removed_entry_leaves_no_file_behind(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_storage: dict[str, Any]
) -> None:
    entry = await setup_entry()
    await _change(hass, entry)
    await hass.config_entries.async_remove(entry.entry_id)
    await _a_while_later(hass)
    assert tags_key(entry.entry_id) not in hass_storage
    assert facts_key(entry.entry_id) not in hass_storage


async def test_a_reload_reads_the_latest_change(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_storage: dict[str, Any]
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-3")])
    await _change(hass, entry)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    hub = entry.runtime_data
    assert [tag.id_tag for tag in hub.tags.registry.tags] == [GUEST]
    assert hub.certificates.memory.facts == {"CP-3": FACTS}
    await _a_while_later(hass)
    assert hass_storage[tags_key(entry.entry_id)]["data"]["tags"][0]["id_tag"] == GUEST


async def test_entry_store_batches_and_flushes(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """Changes in a burst are one write; a flush writes what waits, once, and a flush
    with nothing waiting writes nothing."""
    written: list[int] = []
    state = {"n": 0}

    def data() -> dict[str, Any]:
        written.append(state["n"])
        return dict(state)

    store = EntryStore(hass, "central", "test", data)
    assert await store.async_load() == {}
    for n in range(1, 4):
        state["n"] = n
        store.schedule_save()
    # Real time: a write that finds later changes re-arms by the loop's own clock.
    await wait_for(lambda: written)
    assert written == [3]
    state["n"] = 4
    store.schedule_save()
    await store.async_flush()
    await store.async_flush()
    await _a_while_later(hass)
    assert written == [3, 4]
    assert hass_storage[storage_key("central", "test")]["data"] == {"n": 4}
    assert await EntryStore(hass, "central", "test", data).async_load() == {"n": 4}
