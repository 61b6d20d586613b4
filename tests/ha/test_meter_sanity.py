"""Energy registers that misbehave, and energy nobody measured, as Home Assistant shows them.

A repair names the charger; the session sensors, the session event and the export say
why a session's energy is what it is; unknown energy is unknown, never 0.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import STATE_OFF, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_csms.const import (
    CHARGER_METERING_LEAVE,
    CONF_CHARGER_METERING,
    DOMAIN,
)
from custom_components.ocpp_csms.diagnostics import async_get_config_entry_diagnostics
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage, state_of
from tests.ha.test_sessions import journal_rows

# A register as real chargers have them: years of charging, in Wh.
OLD_METER_WH = 3_456_000.0


def issue_id(entry: MockConfigEntry, charger_id: str = "CP-1") -> str:
    return f"meter_register_{entry.entry_id}_{charger_id}"


def the_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id(entry))


async def kwh_session(hass: HomeAssistant, entry: MockConfigEntry, version: str) -> Any:
    """One session of a charger that sends its register in kWh without a unit mid-session."""
    options = {"kwh_without_unit": True}
    async with charger(url_of(entry), "CP-1", version, charger_options=options) as client:
        client.energy_wh[1] = OLD_METER_WH
        assert await client.boot() == "Accepted"
        await client.start_session(1, "04A2B3")
        await client.send_meter_values(1, 600)
        await client.send_meter_values(1, 600)
        await client.stop_session(1)
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_OFF)
        return client


async def test_a_register_in_kwh_is_a_repair_naming_the_charger_and_a_note_everywhere(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    client = await kwh_session(hass, entry, "ocpp1.6")
    issue = the_issue(hass, entry)
    assert issue is not None
    assert (issue.translation_key, issue.is_fixable) == ("meter_register_in_kwh", True)
    placeholders = issue.translation_placeholders or {}
    assert placeholders["charger"] == "Garage"
    # The start, then a thousandth of it (kWh, read as Wh) came.
    assert placeholders["last"] == "3456 kWh"
    assert placeholders["read"].startswith("3457.")
    assert placeholders["read"].endswith(" Wh")

    # The session's energy is right and says why, wherever sessions are shown.
    [row] = await journal_rows(entry)
    # Readings in kWh with three decimals: right to the Wh.
    assert row.energy_wh == pytest.approx(client.energy_wh[1] - OLD_METER_WH, abs=2)
    assert row.meter_note == "register_in_kwh"
    energy = state_of(hass, "sensor.garage_last_session_energy")
    assert energy.attributes["meter_note"] == "register_in_kwh"
    assert state_of(hass, "sensor.garage_session_energy").attributes["meter_note"] == (
        "register_in_kwh"
    )
    assert state_of(hass, "event.garage_session").attributes["meter_note"] == "register_in_kwh"
    device = next(
        d
        for d in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        if d.name == "Garage"
    )
    response = await hass.services.async_call(
        DOMAIN, "export_sessions", {"device_id": [device.id]}, blocking=True, return_response=True
    )
    assert response is not None
    rows: list[dict[str, Any]] = response["sessions"]  # type: ignore[assignment]
    assert [row["meter_note"] for row in rows] == ["register_in_kwh"]
    # And the diagnostics count it among the charger's warnings.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["chargers"]["CP-1"]["warnings"]["meter_register_in_kwh"] >= 1


async def test_the_repair_explains_and_closes_and_a_later_session_raises_it_once_more(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    entry = await setup_entry(chargers=[garage()])
    await kwh_session(hass, entry, "ocpp2.0.1")
    assert the_issue(hass, entry) is not None
    assert await async_setup_component(hass, "repairs", {})
    http = await hass_client()
    started = await http.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id(entry)}
    )
    flow = await started.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"]["charger"] == "Garage"
    done = await (await http.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})).json()
    assert done["type"] == "create_entry"
    await hass.async_block_till_done()
    assert the_issue(hass, entry) is None

    await kwh_session(hass, entry, "ocpp2.0.1")
    issues = [key for key in ir.async_get(hass).issues if key[1].startswith("meter_register_")]
    assert issues == [(DOMAIN, issue_id(entry))]  # one per charger, whatever happens


async def test_a_register_that_falls_is_a_repair_and_removing_the_charger_removes_it(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        client.energy_wh[1] = OLD_METER_WH
        transaction_id = int(await client.start_session(1, "04A2B3"))
        await client.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": client.now_text(), "sampled_value": [{"value": "10"}]}],
            )
        )
        await client.stop_session(1)
        await hass.async_block_till_done()
    issue = the_issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "meter_register_fell"
    assert issue.translation_placeholders["read"] == "10 Wh"  # type: ignore[index]

    subentry_id = entry.runtime_data.index.subentry_id("CP-1")
    assert subentry_id is not None
    assert hass.config_entries.async_remove_subentry(entry, subentry_id)
    await hass.async_block_till_done()
    assert the_issue(hass, entry) is None


async def test_energy_nobody_measured_is_unknown_not_zero(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """A 2.0.1 charger that samples nothing, left so: its session's energy is unknown."""
    entry = await setup_entry(chargers=[garage(**{CONF_CHARGER_METERING: CHARGER_METERING_LEAVE})])
    options = {"sampling": "none", "autonomous_sampling": True}
    async with charger(url_of(entry), "CP-1", "ocpp2.0.1", charger_options=options) as client:
        assert await client.boot() == "Accepted"
        await client.send_status(1, "Occupied")
        await client.start_session(1, "04A2B3")
        await wait_for(lambda: entry.runtime_data.system.stations["CP-1"].evses[1].transaction)
        assert state_of(hass, "sensor.garage_session_energy").state == STATE_UNKNOWN
        client.advance(1, 600)
        await client.stop_session(1)
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_OFF)
    assert state_of(hass, "sensor.garage_session_energy").state == STATE_UNKNOWN
    assert state_of(hass, "sensor.garage_last_session_energy").state == STATE_UNKNOWN
    assert state_of(hass, "event.garage_session").attributes["energy_kwh"] is None
    [row] = await journal_rows(entry)
    assert row.energy_wh is None
    response = await hass.services.async_call(
        DOMAIN, "export_sessions", {}, blocking=True, return_response=True
    )
    assert response is not None
    assert (response["energy_kwh"], response["energy_unknown_count"]) == (0.0, 1)
    rows: list[dict[str, Any]] = response["sessions"]  # type: ignore[assignment]
    assert [row["energy_kwh"] for row in rows] == [None]
    assert the_issue(hass, entry) is None  # nothing implausible: nothing to repair
