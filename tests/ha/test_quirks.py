"""Quirk profiles through Home Assistant: the current limit, the setting, diagnostics.

The engine's tests (tests/engine/test_quirks.py) prove each twin is coped with; these
show what a user sees: the limit reaching a charger that ignores the usual way, the
profile chosen in the charger's settings, and both in diagnostics.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ocpp_csms.const import CONF_QUIRKS
from tests.chargers import wait_for
from tests.ha.conftest import SetUpEntry
from tests.ha.test_entities import garage, online, state_of

STATION_MAX = ("ChargePointMaxProfile", "ChargingStationMaxProfile")


async def _set_limit(hass: HomeAssistant, value: float) -> None:
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: "number.garage_current_limit", "value": value},
        blocking=True,
    )


def _purposes(client: Any) -> list[str]:
    return [
        (payload.get("cs_charging_profiles") or payload["charging_profile"])[
            "charging_profile_purpose"
        ]
        for action, payload in client.received
        if action == "SetChargingProfile"
    ]


@pytest.mark.parametrize("twin", ["abb_terra_ac", "grizzl_e_firmware_3"])
@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_the_limit_reaches_a_charger_that_ignores_station_maximums(
    hass: HomeAssistant, setup_entry: SetUpEntry, twin: str, version: str
) -> None:
    """It would accept a station maximum and go on at full current: the limit goes
    in its default profile, and the charger really applies it."""
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, version, twin=twin) as client:
        await _set_limit(hass, 10)
        limit = state_of(hass, "number.garage_current_limit")
        assert limit.state == "10.0"
        assert limit.attributes["applied_as"] == "default_profile"
        assert client.limit_a == 10.0
        assert not set(_purposes(client)) & set(STATION_MAX)


async def test_without_its_profile_the_limit_would_be_lost(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """The same twin with the standard behaviour chosen: accepted, and not applied."""
    entry = await setup_entry(chargers=[garage(quirks="standard")])
    async with online(hass, entry, twin="grizzl_e_firmware_3") as client:
        await _set_limit(hass, 10)
        assert state_of(hass, "number.garage_current_limit").attributes["applied_as"] == (
            "station_maximum"
        )
        assert client.limit_a is None  # still at its full current


async def test_a_48_a_charger_can_be_set_above_32_a(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Autel-like: other central systems cap the slider at 32 A. Here the charger's own
    setting is the cap."""
    entry = await setup_entry(chargers=[garage(max_current=48)])
    async with online(hass, entry, twin="autel") as client:
        assert state_of(hass, "number.garage_current_limit").attributes["max"] == 48
        await _set_limit(hass, 40)
        assert client.limit_a == 40.0
        assert client.offered_a() == 40.0


async def test_the_profile_is_chosen_in_the_settings_and_shown_in_diagnostics(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, twin="huawei_scharger"):
        station = entry.runtime_data.system.stations["CP-1"]
        found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert found["chargers"]["CP-1"]["quirks"] == {
            "profile": "huawei_scharger",
            "rate_units": ["W"],
        }
        # The user names another profile in the charger's settings.
        subentry = next(iter(entry.subentries.values()))
        result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
        schema = result["data_schema"].schema
        [field] = [key for key in schema if key == CONF_QUIRKS]
        assert field.default() == "automatic"
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_QUIRKS: "standard"}
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert station.quirks.key == "standard"
        await wait_for(
            lambda: (
                station.capabilities is not None
                and station.capabilities.charging_rate_units == {"A", "W"}
            )
        )
        found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
        assert found["chargers"]["CP-1"]["quirks"] == {"profile": "standard"}
