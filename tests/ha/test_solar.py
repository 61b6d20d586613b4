"""Charging modes in Home Assistant: the select, the export sensor, phase switching."""

from __future__ import annotations

from typing import Any

from homeassistant.const import EVENT_STATE_REPORTED
from homeassistant.core import HomeAssistant, callback
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ocpp_csms.csms.solar import ChargingMode
from tests.chargers import wait_for
from tests.ha.conftest import SetUpEntry
from tests.ha.test_entities import state_of
from tests.ha.test_site import CHARGERS, SITE, charging_clients, set_grid, site_step

NET = "sensor.grid_net_power"
SELECT = "select.garage_charging_mode"
SOLAR_SITE = {**SITE, "export_power": NET, "export_negative": True}


def set_net_power(hass: HomeAssistant, watts: float | str) -> None:
    """The net grid power: negative while the house exports."""
    hass.states.async_set(NET, str(watts), {"unit_of_measurement": "W"})


async def select_mode(hass: HomeAssistant, entity_id: str, mode: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {"entity_id": entity_id, "option": mode}, blocking=True
    )


async def test_modes_share_the_surplus_and_the_fuse_among_live_chargers(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    set_grid(hass, 3, 3, 3)
    set_net_power(hass, -5000)  # exporting 5 kW
    entry = await setup_entry(chargers=CHARGERS[:2], options=SOLAR_SITE)
    site = entry.runtime_data.system.site
    assert site.settings.export_meter
    assert site.export_w == 5000
    garage, drive = "select.garage_charging_mode", "select.drive_charging_mode"
    assert state_of(hass, garage).state == "fast"
    assert state_of(hass, garage).attributes["options"] == [mode.value for mode in ChargingMode]
    await select_mode(hass, garage, "solar_minimum")
    async with charging_clients(entry, 2) as clients:
        # The garage follows the surplus (5,000 W / 690 W/A); the drive has the rest of
        # the fuse: 25 - 1 margin - 3 house - 7.2 = 13.8 A.
        await wait_for(lambda: [c.limit_a for c in clients] == [7.2, 13.8])

        await select_mode(hass, drive, "off")
        await wait_for(lambda: clients[1].limit_a == 0)

        # Solar only from now on: it was charging, so it goes on while the sun lasts.
        await select_mode(hass, garage, "solar_only")
        set_net_power(hass, -1000)  # 1 kW more to spare
        await wait_for(lambda: site.export_w == 1000)
        # The reading is taken at once; the balancer shares it out in its own task, after
        # any round still sending profiles (which block_till_done does not wait for).
        await wait_for(lambda: site.allocated.get("CP-1/1") == 6.0)
        assert site.allocated["CP-1/1"] == 6.0  # 1,000 W: short of the minimum, waits
        assert state_of(hass, "sensor.garage_allocated_current").state == "6.0"

        set_net_power(hass, "unavailable")
        await wait_for(lambda: site.export_w is None)


async def test_the_mode_is_restored_after_a_reload(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    set_grid(hass, 0, 0, 0)
    entry = await setup_entry(chargers=CHARGERS[:1], options=SOLAR_SITE)
    await select_mode(hass, "select.garage_charging_mode", "solar_only")
    assert entry.runtime_data.index.mode("CP-1") is ChargingMode.SOLAR_ONLY
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.index.mode("CP-1") is ChargingMode.SOLAR_ONLY
    assert state_of(hass, "select.garage_charging_mode").state == "solar_only"


async def test_without_a_site_there_is_no_mode_to_choose(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    await setup_entry(chargers=CHARGERS[:1])
    assert hass.states.get("select.garage_charging_mode") is None


async def test_the_export_sensor_is_set_in_the_site_options(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    hass.states.async_set("sensor.export", "2.5", {"unit_of_measurement": "kW"})
    entry = await setup_entry(chargers=CHARGERS[:1])
    form = await site_step(hass, entry.entry_id)
    await hass.config_entries.options.async_configure(
        form["flow_id"],
        {
            "site_fuse_a": 20,
            "export_power": "sensor.export",
            "solar_start_delay_min": 0,
            "solar_stop_delay_min": 10,
        },
    )
    await hass.async_block_till_done()
    assert entry.options["export_power"] == "sensor.export"
    site = entry.runtime_data.system.site
    assert site.export_w == 2500  # positive: exporting
    assert (site.settings.solar.start_delay_s, site.settings.solar.stop_delay_s) == (0, 600)
    assert hass.states.get("select.garage_charging_mode") is not None


async def test_phase_switching_is_a_charger_setting(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=CHARGERS[:1])
    hub = entry.runtime_data
    assert not hub.index.switches_phases("CP-1")
    subentry = next(iter(entry.subentries.values()))
    flow = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    await hass.config_entries.subentries.async_configure(flow["flow_id"], {"phase_switching": True})
    await hass.async_block_till_done()
    assert hub.index.switches_phases("CP-1")


async def test_diagnostics_show_the_site_and_each_chargers_mode(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    set_grid(hass, 2, 2, 2)
    set_net_power(hass, -1500)
    entry = await setup_entry(chargers=CHARGERS[:1], options=SOLAR_SITE)
    await select_mode(hass, "select.garage_charging_mode", "solar_minimum")
    found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert found["chargers"]["CP-1"]["charging_mode"] == "solar_minimum"
    assert found["chargers"]["CP-1"]["schedule_limit_now"] is None
    site = found["site"]
    assert site["settings"]["fuse_a"] == 25
    assert (site["grid_a"], site["export_w"]) == ([2.0, 2.0, 2.0], 1500.0)


async def test_the_mode_select_is_not_rewritten_on_every_balancing_round(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    set_grid(hass, 0, 0, 0)
    entry = await setup_entry(chargers=CHARGERS[:1], options=SOLAR_SITE)
    reported: list[Any] = []

    @callback
    def ours(data: Any) -> bool:
        return bool(data["entity_id"] == SELECT)

    @callback
    def report(event: Any) -> None:  # in the loop, not the executor
        reported.append(event)

    hass.bus.async_listen(EVENT_STATE_REPORTED, report, event_filter=ours)
    for _ in range(3):
        await entry.runtime_data.system.site.rebalance([])
    await hass.async_block_till_done()
    assert reported == []  # the same state was not written again
    await select_mode(hass, SELECT, "off")
    assert state_of(hass, SELECT).state == "off"
    options = {key: value for key, value in entry.options.items() if key != "site_fuse_a"}
    hass.config_entries.async_update_entry(entry, options=options)  # balancing off
    await hass.async_block_till_done()
    assert state_of(hass, SELECT).state == "unavailable"
