"""Site load balancing in Home Assistant: options, grid sensors, three chargers, failsafe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.ocpp_csms.csms.site_settings import SiteSettings
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage, state_of

GRID = ("sensor.grid_l1", "sensor.grid_l2", "sensor.grid_l3")
SITE = {
    "site_fuse_a": 25,
    "site_margin_a": 1,
    "site_failsafe_a": 6,
    "grid_current_l1": GRID[0],
    "grid_current_l2": GRID[1],
    "grid_current_l3": GRID[2],
}
CHARGERS = [garage("CP-1", "Garage"), garage("CP-2", "Drive"), garage("CP-3", "Street")]


def set_grid(hass: HomeAssistant, *amps: float | str) -> None:
    for entity_id, value in zip(GRID, amps, strict=True):
        hass.states.async_set(entity_id, str(value), {"unit_of_measurement": "A"})


@asynccontextmanager
async def charging_clients(
    entry: Any, count: int, *, start: bool = True
) -> AsyncIterator[list[Any]]:
    """Simulated chargers CP-1.. booted and (with `start`) each in a session."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(charger(url_of(entry), f"CP-{n}"))
            for n in range(1, count + 1)
        ]
        for number, client in enumerate(clients, 1):
            assert await client.boot() == "Accepted"
            if start:
                await client.start_session(1, f"TAG{number}")
        yield clients


async def site_step(hass: HomeAssistant, entry_id: str) -> Any:
    flow = await hass.config_entries.options.async_init(entry_id)
    return await hass.config_entries.options.async_configure(
        flow["flow_id"], {"next_step_id": "site"}
    )


async def test_options_start_change_and_stop_balancing_without_a_reload(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=CHARGERS, options={"currency": "SEK"})
    hub = entry.runtime_data
    assert hub.system.site is None
    options = hass.config_entries.options

    form = await site_step(hass, entry.entry_id)
    refused = await options.async_configure(
        form["flow_id"], {"site_fuse_a": 10, "site_failsafe_a": 16}
    )
    assert refused["errors"] == {"site_failsafe_a": "failsafe_above_fuse"}
    refused = await options.async_configure(
        refused["flow_id"], {"site_fuse_a": 20, "grid_current_l1": GRID[0]}
    )
    assert refused["errors"] == {"grid_current_l2": "three_phases_needed"}
    done = await options.async_configure(
        refused["flow_id"], {"site_fuse_a": 20, "site_margin_a": 0}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is hub  # followed without a reload
    assert hub.system.site is not None
    assert hub.system.site.settings == SiteSettings(fuse_a=20, margin_a=0, failsafe_a=6)
    assert entry.options["currency"] == "SEK"  # the other options are kept

    # The settings step keeps the site's options too.
    flow = await options.async_init(entry.entry_id)
    await options.async_configure(flow["flow_id"], {"next_step_id": "settings"})
    await options.async_configure(flow["flow_id"], {"currency": "EUR"})
    assert entry.options["site_fuse_a"] == 20

    form = await site_step(hass, entry.entry_id)
    await options.async_configure(form["flow_id"], {})
    await hass.async_block_till_done()
    assert hub.system.site is None
    assert "site_fuse_a" not in entry.options


async def test_three_chargers_follow_the_grid_and_fall_back_to_the_failsafe(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    set_grid(hass, 3, 3, 3)  # the house alone: no session draws yet
    entry = await setup_entry(chargers=CHARGERS, options=SITE)
    site = entry.runtime_data.system.site
    rounds = 0
    tell = site.on_rebalanced

    def counted() -> None:  # told at the start of every balancing round
        nonlocal rounds
        rounds += 1
        tell()

    site.on_rebalanced = counted
    async with charging_clients(entry, 3, start=False) as clients:
        await wait_for(lambda: all(c.limit_after(0) == 6 for c in clients))  # the failsafe
        for number, client in enumerate(clients, 1):
            await client.start_session(1, f"TAG{number}")
        # 25 A fuse - 1 A margin - 3 A house = 21 A per phase, shared by three.
        await wait_for(lambda: [c.limit_a for c in clients] == [7.0, 7.0, 7.0])
        profile = clients[0].profiles[-1]
        assert profile["charging_profile_purpose"] == "TxProfile"
        assert profile["charging_schedule"]["duration"] == 300

        set_grid(hass, 9, 3, 3)  # the house takes more on L1: 15 A left, not 3 x 6 A
        await wait_for(lambda: clients[2].limit_a == 0)
        # A round sends its rises after its decreases: let the round end (the next one
        # starts only then) before saying that none came.
        before = rounds
        site.wake()
        await wait_for(lambda: rounds > before)
        # The others may rise to 7.5 A, but not within 30 s of their last change.
        assert [c.limit_a for c in clients[:2]] == [7.0, 7.0]

        set_grid(hass, "unavailable", 3, 3)  # no reading: the failsafe, as without us
        await wait_for(lambda: [c.limit_a for c in clients[:2]] == [6.0, 6.0])

        assert await hass.config_entries.async_unload(entry.entry_id)
        # Nobody refreshes the profiles now: once they lapse, each charger has its
        # failsafe.
        for client in clients:
            assert client.limit_after(301) == 6


@pytest.mark.parametrize(("unit", "value", "per_phase"), [("W", 6900, 10.0), ("kW", 6.9, 10.0)])
async def test_a_grid_power_sensor_is_spread_over_the_phases(
    hass: HomeAssistant, setup_entry: SetUpEntry, unit: str, value: float, per_phase: float
) -> None:
    hass.states.async_set("sensor.grid_power", str(value), {"unit_of_measurement": unit})
    entry = await setup_entry(
        chargers=CHARGERS[:1], options={"site_fuse_a": 20, "grid_power": "sensor.grid_power"}
    )
    site = entry.runtime_data.system.site
    assert site.grid_a == pytest.approx((per_phase,) * 3)
    hass.states.async_set("sensor.grid_power", "3", {"unit_of_measurement": "MW"})
    await hass.async_block_till_done()
    assert site.grid_a is None  # not a unit we read: no reading


async def test_entities_show_the_allocation_and_the_limit_holds_it(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    set_grid(hass, 3, 3, 3)
    entry = await setup_entry(chargers=CHARGERS[:2], options=SITE)
    async with charging_clients(entry, 2) as clients:
        await wait_for(lambda: [c.limit_a for c in clients] == [10.5, 10.5])
        await hass.async_block_till_done()
        assert state_of(hass, "sensor.garage_allocated_current").state == "10.5"
        assert state_of(hass, "sensor.drive_allocated_current").state == "10.5"
        device = f"ocpp_central_system_port_{entry.data['port']}"
        available = hass.states.get(f"sensor.{device}_available_current")
        assert available is not None
        assert available.state == "21.0"
        assert available.attributes["l1"] == 21.0
        assert available.attributes["grid_reading"] is True

        limit = f"number.{device}_site_current_limit"
        assert state_of(hass, limit).state == "25.0"
        await hass.services.async_call(
            "number", "set_value", {"entity_id": limit, "value": 16}, blocking=True
        )
        # 16 - 1 - 3 = 12 A for two cars: down at once.
        await wait_for(lambda: [c.limit_a for c in clients] == [6.0, 6.0])
        await hass.async_block_till_done()
        assert state_of(hass, limit).state == "16.0"
        assert state_of(hass, "sensor.garage_allocated_current").state == "6.0"
        assert entry.options["site_fuse_a"] == 25  # the fuse itself is unchanged


async def test_the_site_limit_is_restored_after_a_reload(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    set_grid(hass, 0, 0, 0)
    entry = await setup_entry(chargers=CHARGERS[:1], options=SITE)
    limit = f"number.ocpp_central_system_port_{entry.data['port']}_site_current_limit"
    await hass.services.async_call(
        "number", "set_value", {"entity_id": limit, "value": 16}, blocking=True
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    site = entry.runtime_data.system.site
    assert site is not None
    assert site.settings.fuse_a == 16
    assert state_of(hass, limit).state == "16.0"
    # Back to the fuse: no extra limit any more.
    await hass.services.async_call(
        "number", "set_value", {"entity_id": limit, "value": 25}, blocking=True
    )
    assert entry.runtime_data.site_link.limit_a is None


async def test_a_chargers_priority_is_set_in_its_settings(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=CHARGERS[:1])
    subentry = next(iter(entry.subentries.values()))
    flow = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    await hass.config_entries.subentries.async_configure(
        flow["flow_id"], {"priority": "high", "max_current": 16}
    )
    await hass.async_block_till_done()
    hub = entry.runtime_data
    assert (hub.index.priority("CP-1"), hub.index.max_current_a("CP-1")) == (1, 16.0)
