"""Tags in Home Assistant: options flow, repair, actions, local lists, restart, limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.csms.authorization import AuthorizationMode, Tag
from custom_components.ocpp_csms.csms.local_list import LocalListStatus
from custom_components.ocpp_csms.identifiers import charger_device_identifier
from custom_components.ocpp_csms.tags.store import storage_key
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, restarted, url_of
from tests.ha.test_entities import garage

GUEST = "04A2B3C4"


def registry_of(entry: MockConfigEntry) -> Any:
    return entry.runtime_data.tags.registry


def device_of(hass: HomeAssistant, entry: MockConfigEntry, charger_id: str = "CP-1") -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, charger_id), entry.entry_id
    )
    assert device is not None
    return device.id


async def tag_menu(hass: HomeAssistant, entry: MockConfigEntry, step: str) -> Any:
    """Open the options flow's tag menu and choose `step`."""
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    assert flow["type"] is FlowResultType.MENU
    menu = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"next_step_id": "tags"}
    )
    assert menu["type"] is FlowResultType.MENU
    assert step in menu["menu_options"]
    return await hass.config_entries.options.async_configure(
        flow["flow_id"], {"next_step_id": step}
    )


async def test_options_flow_adds_edits_lists_and_removes_tags(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()], options={"currency": "SEK"})
    options = hass.config_entries.options
    form = await tag_menu(hass, entry, "add_tag")
    assert form["step_id"] == "add_tag"
    new_tag = {
        "id_tag": f" {GUEST} ",
        "name": "Guest",
        "enabled": True,
        "valid_until": "2027-01-31",
        "parent_id": "HOUSE",
        "chargers": ["CP-1"],
        "max_current": 10,
    }
    done = await options.async_configure(form["flow_id"], new_tag)
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"currency": "SEK"}  # tags are kept apart from the options
    tag = registry_of(entry).get(GUEST.lower())
    assert (tag.id_tag, tag.name, tag.chargers, tag.max_current_a) == (
        GUEST,
        "Guest",
        frozenset({"CP-1"}),
        10.0,
    )
    # Valid through the 31st, local time.
    local_midnight = datetime(2027, 2, 1, tzinfo=dt_util.get_default_time_zone())
    assert tag.expiry == local_midnight.astimezone(UTC)

    again = await tag_menu(hass, entry, "add_tag")
    refused = await options.async_configure(again["flow_id"], {**new_tag, "id_tag": "04a2b3c4"})
    assert refused["errors"] == {"id_tag": "tag_exists"}

    listing = await tag_menu(hass, entry, "list_tags")
    placeholders = listing["description_placeholders"]
    assert GUEST in placeholders["tags"]
    assert "2027-01-31" in placeholders["tags"]
    assert "Garage" in placeholders["tags"]
    assert "HOUSE" in placeholders["tags"]
    back = await options.async_configure(listing["flow_id"], {})
    assert back["type"] is FlowResultType.MENU

    choose = await tag_menu(hass, entry, "edit_tag")
    details = await options.async_configure(choose["flow_id"], {"id_tag": GUEST.lower()})
    assert details["step_id"] == "edit_tag_details"
    # Cleared fields are left out of the submitted form: they clear the tag's values.
    await options.async_configure(details["flow_id"], {"name": "Anna", "enabled": False})
    tag = registry_of(entry).get(GUEST)
    assert (tag.name, tag.enabled, tag.expiry, tag.chargers, tag.max_current_a) == (
        "Anna",
        False,
        None,
        frozenset(),
        None,
    )

    mode = await tag_menu(hass, entry, "authorization")
    await options.async_configure(mode["flow_id"], {"mode": "accept_all"})
    assert registry_of(entry).mode is AuthorizationMode.ACCEPT_ALL

    remove = await tag_menu(hass, entry, "remove_tag")
    await options.async_configure(remove["flow_id"], {"tags": [GUEST.lower()]})
    assert registry_of(entry).tags == []


async def test_unknown_tag_is_offered_as_a_repair_that_adds_it(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    entry = await setup_entry(chargers=[garage()])
    registry_of(entry).add(Tag("MINE"))  # known tags only from now on
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        assert await client.authorize("deadbeef") == "Invalid"
        await hass.async_block_till_done()
        issue_id = f"unknown_tag_{entry.entry_id}_deadbeef"
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.is_fixable
        assert issue.translation_placeholders == {"tag": "deadbeef", "charger": "Garage"}
        event = hass.states.get("event.garage_tag")
        assert event is not None
        assert (event.attributes["event_type"], event.attributes["known"]) == ("unknown", False)

        assert await async_setup_component(hass, "repairs", {})
        http = await hass_client()
        started = await http.post(
            "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
        )
        flow = await started.json()
        assert flow["step_id"] == "confirm"
        assert flow["description_placeholders"] == {"tag": "deadbeef", "charger": "Garage"}
        done = await (
            await http.post(
                f"/api/repairs/issues/fix/{flow['flow_id']}",
                json={"name": "Neighbour", "max_current": 8},
            )
        ).json()
        assert done["type"] == "create_entry"
        await hass.async_block_till_done()
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
        added = registry_of(entry).get("DEADBEEF")
        assert (added.name, added.max_current_a, added.token_type) == ("Neighbour", 8.0, "ISO14443")
        assert await client.authorize("DEADBEEF") == "Accepted"
        # The charger's local list follows: it admits the tag while offline too.
        await wait_for(lambda: "deadbeef" in client.local_list)
        assert client.local_list == {"MINE": "Accepted", "deadbeef": "Accepted"}


async def test_a_tag_added_elsewhere_closes_its_repair(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    registry_of(entry).add(Tag("MINE"))
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.authorize("CAFE01")
        await hass.async_block_till_done()
    issue_id = f"unknown_tag_{entry.entry_id}_cafe01"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await hass.services.async_call(DOMAIN, "add_tag", {"tag": "Cafe01"}, blocking=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_tag_actions(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_read_only_user: Any
) -> None:
    entry = await setup_entry(chargers=[garage()])
    await hass.services.async_call(
        DOMAIN,
        "add_tag",
        {
            "tag": GUEST,
            "name": "Guest",
            "expiry": "2027-01-01T00:00:00+00:00",
            "chargers": [device_of(hass, entry)],
            "max_current": 10,
        },
        blocking=True,
    )
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(DOMAIN, "add_tag", {"tag": GUEST.lower()}, blocking=True)
    assert error.value.translation_key == "tag_exists"
    await hass.services.async_call(
        DOMAIN, "update_tag", {"tag": GUEST, "group": "HOUSE", "max_current": None}, blocking=True
    )
    listed = await hass.services.async_call(
        DOMAIN, "list_tags", {}, blocking=True, return_response=True
    )
    assert listed == {
        "mode": "automatic",
        "effective_mode": "known_tags",
        "tags": [
            {
                "tag": GUEST,
                "name": "Guest",
                "enabled": True,
                "expiry": "2027-01-01T00:00:00+00:00",
                "group": "HOUSE",
                "chargers": ["Garage"],
                "max_current": None,
            }
        ],
        "local_lists": {"Garage": {"status": "pending", "version": None, "entries": None}},
    }
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(DOMAIN, "update_tag", {"tag": "NOPE"}, blocking=True)
    assert error.value.translation_key == "tag_not_found"
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(
            DOMAIN, "add_tag", {"tag": "X1", "chargers": ["not-a-device"]}, blocking=True
        )
    assert error.value.translation_key == "not_a_charger"
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "remove_tag",
            {"tag": GUEST},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    await hass.services.async_call(DOMAIN, "remove_tag", {"tag": GUEST}, blocking=True)
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(DOMAIN, "remove_tag", {"tag": GUEST}, blocking=True)
    assert error.value.translation_key == "tag_not_found"


async def test_tag_actions_need_a_central_system_when_there_are_several(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    first = await setup_entry()
    await setup_entry()
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(DOMAIN, "add_tag", {"tag": "T1"}, blocking=True)
    assert error.value.translation_key == "central_system_required"
    await hass.services.async_call(
        DOMAIN, "add_tag", {"tag": "T1", "config_entry_id": first.entry_id}, blocking=True
    )
    assert registry_of(first).get("T1") is not None
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(
            DOMAIN, "list_tags", {"config_entry_id": "nope"}, blocking=True, return_response=True
        )
    assert error.value.translation_key == "no_central_system"


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_tag_limit_applies_at_session_start(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    entry = await setup_entry(chargers=[garage()])
    registry_of(entry).add(Tag(GUEST, max_current_a=10))
    async with charger(url_of(entry), "CP-1", version) as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, GUEST)
        await wait_for(lambda: client.limit_a == 10)
        [(_, payload)] = [item for item in client.received if item[0] == "SetChargingProfile"]
        profile = payload.get("cs_charging_profiles") or payload["charging_profile"]
        assert profile["charging_profile_purpose"] == "TxProfile"


async def test_tags_and_pushed_lists_survive_a_restart(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    await hass.services.async_call(
        DOMAIN, "add_tag", {"tag": GUEST, "name": "Guest", "group": "HOUSE"}, blocking=True
    )
    registry_of(entry).set_mode(AuthorizationMode.KNOWN_TAGS)
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: client.local_list_version == 1)
        # The charger holds the list before our side has its answer: wait for that too.
        local_lists = entry.runtime_data.system.local_lists
        await wait_for(lambda: "CP-1" in local_lists.pushed)
        await hass.async_block_till_done()
    async with restarted(hass, entry) as (restarted_hass, again):
        registry = registry_of(again)
        assert registry.mode is AuthorizationMode.KNOWN_TAGS
        [tag] = registry.tags
        assert (tag.id_tag, tag.name, tag.parent_id) == (GUEST, "Guest", "HOUSE")
        # What the charger holds is remembered: a change goes as a differential update.
        lists = again.runtime_data.system.local_lists
        assert lists.pushed["CP-1"].version == 1
        async with charger(url_of(again), "CP-1") as client:
            client.local_list_version = 1
            client.local_list = {GUEST: "Accepted"}
            assert await client.boot() == "Accepted"
            registry.add(Tag("SECOND"))
            await wait_for(lambda: client.local_list_version == 2)
            updates = [p for action, p in client.received if action == "SendLocalList"]
            assert updates[-1]["update_type"] == "Differential"
            assert client.local_list == {GUEST: "Accepted", "SECOND": "Accepted"}
        await restarted_hass.async_stop(force=True)


async def test_diagnostics_show_each_chargers_local_list(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_entry(chargers=[garage(), garage("CP-2", "Street")])
    registry_of(entry).add(Tag(GUEST))
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: client.local_list_version == 1)
        await wait_for(lambda: "CP-1" in entry.runtime_data.system.local_lists.pushed)
        await hass.async_block_till_done()
        found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert found["tags"] == {
        "count": 1,
        "mode": "automatic",
        "effective_mode": "known_tags",
        "with_limit": 0,
    }
    assert found["chargers"]["CP-1"]["local_list"] == {
        "status": LocalListStatus.IN_SYNC.value,
        "version": 1,
        "entries": 1,
        "detail": None,
    }
    assert found["chargers"]["CP-2"]["local_list"]["status"] == "pending"
    assert GUEST not in str(found)


async def test_removing_the_central_system_removes_its_tags(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_storage: dict[str, Any]
) -> None:
    entry = await setup_entry()
    await hass.services.async_call(DOMAIN, "add_tag", {"tag": GUEST}, blocking=True)
    await hass.async_block_till_done()
    key = storage_key(entry.entry_id)
    await wait_for(lambda: key in hass_storage)
    await hass.config_entries.async_remove(entry.entry_id)
    assert key not in hass_storage


async def test_a_damaged_stored_tag_is_skipped_not_fatal(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_storage: dict[str, Any]
) -> None:
    hass_storage[storage_key("central")] = {
        "version": 1,
        "key": storage_key("central"),
        "data": {
            "mode": "no-such-mode",
            "tags": [{"id_tag": "KEPT", "expiry": "2027-01-01T00:00:00+00:00"}, {"name": "no id"}],
            "pushed": {"CP-1": {"version": "one"}},
        },
    }
    entry = await setup_entry(entry_id="central", chargers=[garage()])
    registry = registry_of(entry)
    assert [tag.id_tag for tag in registry.tags] == ["KEPT"]
    assert registry.mode is AuthorizationMode.AUTOMATIC
    assert "CP-1" not in entry.runtime_data.system.local_lists.pushed
