"""Weekly schedules in Home Assistant: the options flow, the action, what chargers get."""

from __future__ import annotations

from typing import Any

import probatio
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr

from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.identifiers import charger_device_identifier
from tests.chargers import wait_for
from tests.ha.conftest import SetUpEntry
from tests.ha.test_entities import garage, online, state_of

H = 3600
NIGHTS = {
    "rules": [
        {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "22:00",
            "end": "06:00",
            "limit": 16.0,
        }
    ],
    "default_limit": 6.0,
}


def weekly_profiles(client: Any) -> list[dict[str, Any]]:
    return [p for p in client.profiles if p.get("charging_profile_kind") == "Recurring"]


def periods(profile: dict[str, Any]) -> list[tuple[int, float]]:
    schedule = profile["charging_schedule"]
    return [(p["start_period"], float(p["limit"])) for p in schedule["charging_schedule_period"]]


async def test_a_schedule_is_edited_in_the_options_and_reaches_the_charger(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()], options={"currency": "SEK"})
    options = hass.config_entries.options
    async with online(hass, entry) as client:
        flow = await options.async_init(entry.entry_id)
        assert "schedules" in flow["menu_options"]
        form = await options.async_configure(flow["flow_id"], {"next_step_id": "schedules"})
        form = await options.async_configure(form["flow_id"], {"charger": "CP-1"})
        assert form["step_id"] == "schedule"
        assert form["description_placeholders"] == {"charger": "Garage"}
        refused = await options.async_configure(
            form["flow_id"], {"rule_1_days": ["mon"], "rule_1_start": "17:00:00"}
        )
        assert refused["errors"] == {"rule_1_days": "rule_incomplete"}
        done = await options.async_configure(
            form["flow_id"],
            {
                "rule_1_days": ["fri", "mon", "tue", "wed", "thu"],
                "rule_1_start": "22:00:00",
                "rule_1_end": "06:00:00",
                "rule_1_limit": 16,
                "default_limit": 6,
            },
        )
        assert done["type"] is FlowResultType.CREATE_ENTRY
        assert entry.options["schedules"] == {"CP-1": NIGHTS}
        assert entry.options["currency"] == "SEK"  # the other options are kept
        await wait_for(lambda: weekly_profiles(client))
        # The charger holds the profile before our side has its answer, and only a
        # profile our side knows it sent is cleared when the schedule goes: wait for that.
        upkeep = entry.runtime_data.system.upkeep
        await wait_for(lambda: "CP-1" in upkeep._sent_offsets)
        profile = weekly_profiles(client)[-1]
        assert profile["charging_profile_purpose"] == "TxDefaultProfile"
        assert profile["recurrency_kind"] == "Weekly"
        # Monday starts at 6 A (Sunday night has no rule), 16 A from 22:00 to Tuesday 06:00.
        assert periods(profile)[:3] == [(0, 6.0), (22 * H, 16.0), (24 * H + 6 * H, 6.0)]

        # The form shows the schedule again; emptying it removes the schedule.
        flow = await options.async_init(entry.entry_id)
        form = await options.async_configure(flow["flow_id"], {"next_step_id": "schedules"})
        form = await options.async_configure(form["flow_id"], {"charger": "CP-1"})
        assert form["data_schema"] is not None
        suggested = {
            str(key): key.description["suggested_value"]
            for key in form["data_schema"].schema
            if key.description and "suggested_value" in key.description
        }
        assert suggested["rule_1_start"] == "22:00"
        assert suggested["default_limit"] == 6.0
        await options.async_configure(form["flow_id"], {})
        assert entry.options["schedules"] == {}
        await wait_for(
            lambda: any(action == "ClearChargingProfile" for action, _ in client.received)
        )


async def test_the_set_schedule_action(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    entry = await setup_entry(chargers=[garage()])
    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-1"), entry.entry_id
    )
    assert device is not None
    # Set while the charger is away: it gets the schedule when it connects.
    rules = [{"days": ["sat", "sun"], "start": "17:00", "end": "20:00", "limit": 0}]
    await hass.services.async_call(
        DOMAIN, "set_schedule", {"device_id": device.id, "rules": rules}, blocking=True
    )
    await hass.async_block_till_done()
    assert entry.options["schedules"]["CP-1"]["rules"][0]["limit"] == 0.0
    assert "default_limit" not in entry.options["schedules"]["CP-1"]
    async with online(hass, entry) as client:
        await wait_for(lambda: weekly_profiles(client))
        saturday = 5 * 24 * H
        assert periods(weekly_profiles(client)[-1]) == [
            (0, 32.0),  # no limit outside the rules: the charger's maximum
            (saturday + 17 * H, 0.0),
            (saturday + 20 * H, 32.0),
            (saturday + 24 * H + 17 * H, 0.0),
            (saturday + 24 * H + 20 * H, 32.0),
        ]
    with pytest.raises(probatio.Invalid):
        await hass.services.async_call(
            DOMAIN,
            "set_schedule",
            {"device_id": device.id, "rules": [{"days": ["someday"], "start": "1", "end": "2"}]},
            blocking=True,
        )
    await hass.services.async_call(
        DOMAIN, "set_schedule", {"device_id": device.id, "rules": []}, blocking=True
    )
    await hass.async_block_till_done()
    assert entry.options["schedules"] == {}


async def test_a_current_limit_refused_as_a_station_maximum_goes_in_the_default_profile(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()], options={"schedules": {"CP-1": NIGHTS}})
    async with online(hass, entry) as client:
        await wait_for(lambda: weekly_profiles(client))
        client.answers["SetChargingProfile/ChargePointMaxProfile"] = "NotSupported"
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.garage_current_limit", "value": 10},
            blocking=True,
        )
        limit = state_of(hass, "number.garage_current_limit")
        assert (limit.state, limit.attributes["applied_as"]) == ("10.0", "default_profile")
        # The schedule is kept, held to 10 A: nights of 16 A become 10 A.
        assert periods(weekly_profiles(client)[-1])[:2] == [(0, 6.0), (22 * H, 10.0)]

    # After a reload the limit still holds the schedule down.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.system.upkeep.default_caps == {"CP-1": 10.0}
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.garage_current_limit", "value": 12},
            blocking=True,
        )  # the charger is away


async def test_a_damaged_stored_schedule_is_ignored(
    hass: HomeAssistant, setup_entry: SetUpEntry, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = {"CP-1": {"rules": [{"days": ["mon"]}]}, "CP-2": NIGHTS}
    entry = await setup_entry(chargers=[garage()], options={"schedules": damaged})
    assert set(entry.runtime_data.system.upkeep.schedules) == {"CP-2"}
    assert "Ignoring a damaged charging schedule" in caplog.text
