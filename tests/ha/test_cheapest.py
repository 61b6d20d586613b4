"""Cheapest charging in Home Assistant: a price sensor, goal entities, the plan, a car's needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util
from ocpp.v201 import call as call201
from pytest_homeassistant_custom_component.common import mock_restore_cache_with_extra_data

from custom_components.ocpp_csms.csms.price_plan import PriceSlot
from custom_components.ocpp_csms.diagnostics import async_get_config_entry_diagnostics
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage, state_of

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MIDNIGHT = datetime(2026, 11, 23, tzinfo=STOCKHOLM)
PRICE = "sensor.electricity_price"
SITE = {"site_fuse_a": 16, "site_margin_a": 0, "site_failsafe_a": 6, "price_sensor": PRICE}
# Dear all day, cheapest from 02:00 to 04:00 the next night.
DAY_PRICES = [0.5] * 24 + [0.3, 0.3, 0.05, 0.04] + [0.2] * 20


def hour(n: int) -> datetime:
    return MIDNIGHT + timedelta(hours=n)


@pytest.fixture
async def stockholm(hass: HomeAssistant) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")


@pytest.fixture
def evening() -> Iterator[None]:
    """18:00 in Stockholm on 23 November, the clock ticking on."""
    with freeze_time(hour(18), tick=True, real_asyncio=True):
        yield


def nordpool(prices: list[float]) -> dict[str, Any]:
    raw = [
        {"start": hour(n).isoformat(), "end": hour(n + 1).isoformat(), "value": price}
        for n, price in enumerate(prices)
    ]
    return {"unit_of_measurement": "SEK/kWh", "raw_today": raw[:24], "raw_tomorrow": raw[24:]}


SHAPES = {
    "nordpool": nordpool([0.31, 0.42]),
    "entsoe": {
        "prices_today": [{"time": hour(0).isoformat(), "price": 0.31}],
        "prices_tomorrow": [{"time": hour(1).isoformat(), "price": 0.42}],
    },
    "epex_spot": {
        "data": [
            {
                "start_time": hour(n).isoformat(),
                "end_time": hour(n + 1).isoformat(),
                "price_per_kwh": price,
            }
            for n, price in enumerate([0.31, 0.42])
        ]
    },
    "energi_data_service": {
        "raw_today": [{"hour": hour(n).isoformat(), "price": p} for n, p in enumerate([0.31, 0.42])]
    },
    "octopus_energy": {
        "rates": [
            {"start": hour(n), "end": hour(n + 1), "value_inc_vat": p}
            for n, p in enumerate([0.31, 0.42])
        ]
    },
    "per_mwh": {
        "unit_of_measurement": "EUR/MWh",
        "data": [{"start": hour(n).isoformat(), "value": p} for n, p in enumerate([310, 420])],
    },
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_price_sensor_in_each_documented_shape(
    hass: HomeAssistant, setup_entry: SetUpEntry, stockholm: None, shape: str
) -> None:
    hass.states.async_set(PRICE, "0.31", SHAPES[shape])
    entry = await setup_entry(chargers=[garage()], options=SITE)
    prices = entry.runtime_data.prices
    expected = (PriceSlot(hour(0), hour(1), 0.31), PriceSlot(hour(1), hour(2), 0.42))
    assert prices.prices == pytest.approx(expected)
    assert entry.runtime_data.system.cheapest.prices == prices.prices
    # Followed as it changes; unavailable keeps the last prices, junk is no prices.
    hass.states.async_set(PRICE, "0.5", nordpool([0.5]))
    await hass.async_block_till_done()
    assert prices.prices == (PriceSlot(hour(0), hour(1), 0.5),)
    hass.states.async_set(PRICE, "unavailable", {})
    await hass.async_block_till_done()
    assert prices.prices == (PriceSlot(hour(0), hour(1), 0.5),)
    hass.states.async_set(PRICE, "1", {"raw_today": [{"start": "never", "value": "cheap"}]})
    await hass.async_block_till_done()
    assert prices.prices == ()
    assert prices.sensor_has_prices is False


async def _choose(hass: HomeAssistant, domain: str, service: str, entity: str, **data: Any) -> None:
    await hass.services.async_call(domain, service, {"entity_id": entity, **data}, blocking=True)


async def test_a_session_in_the_cheapest_mode_waits_for_the_cheap_hours(
    hass: HomeAssistant, setup_entry: SetUpEntry, stockholm: None, evening: None
) -> None:
    hass.states.async_set(PRICE, "0.5", nordpool(DAY_PRICES))
    entry = await setup_entry(chargers=[garage()], options=SITE)
    await _choose(hass, "select", "select_option", "select.garage_charging_mode", option="cheapest")
    await _choose(hass, "time", "set_value", "time.garage_ready_by", time="07:00:00")
    # Two hours at 16 A on three phases.
    await _choose(hass, "number", "set_value", "number.garage_energy_to_add", value=22.08)
    assert state_of(hass, "time.garage_ready_by").state == "07:00:00"
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, "TAG1")
        await wait_for(lambda: hass.states.get("sensor.garage_charging_plan") is not None
                       and state_of(hass, "sensor.garage_charging_plan").state
                       == dt_util.as_utc(hour(26)).isoformat())  # fmt: skip
        plan = state_of(hass, "sensor.garage_charging_plan").attributes
        assert plan["end"] == hour(28)
        assert plan["feasible"] is True
        assert plan["planned_cost"] == pytest.approx(11.04 * 0.05 + 11.04 * 0.04, abs=0.01)
        assert [(slot["price"], slot["current_a"]) for slot in plan["slots"]] == [
            (0.05, 16.0),
            (0.04, 16.0),
        ]
        await wait_for(lambda: state_of(hass, "sensor.garage_allocated_current").state == "0.0")
        # What the charger keeps while Home Assistant is away: the cheap hours at 6 A.

        def tx_profiles() -> list[dict[str, Any]]:
            return [
                payload["cs_charging_profiles"]
                for action, payload in client.received
                if action == "SetChargingProfile"
                and payload["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile"
            ]

        await wait_for(lambda: bool(tx_profiles()))
        profiles = tx_profiles()
        schedule = profiles[-1]["charging_schedule"]
        assert profiles[-1]["charging_profile_kind"] == "Absolute"
        periods = [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]]
        assert periods[0][1] == 0
        assert periods[1][1] == 6
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        cheapest = diagnostics["chargers"]["CP-1"]["cheapest"]
        assert (cheapest["ready_at"], cheapest["energy_kwh"]) == ("07:00:00", 22.08)
        assert len(cheapest["plan"]["slots"]) == 2
        assert diagnostics["site"]["prices"]["slots"] == len(DAY_PRICES)


async def test_a_2x_car_that_states_its_needs_gets_a_schedule(
    hass: HomeAssistant, setup_entry: SetUpEntry, stockholm: None, evening: None
) -> None:
    hass.states.async_set(PRICE, "0.5", nordpool(DAY_PRICES))
    entry = await setup_entry(chargers=[garage()], options=SITE)
    await _choose(hass, "select", "select_option", "select.garage_charging_mode", option="cheapest")
    async with charger(url_of(entry), "CP-1", "ocpp2.0.1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, "TAG1")
        needs = {
            "requested_energy_transfer": "AC_three_phase",
            "departure_time": dt_util.as_utc(hour(30)).isoformat(),
            "ac_charging_parameters": {
                "energy_amount": 11_040, "ev_min_current": 6, "ev_max_current": 16,
                "ev_max_voltage": 400,
            },
        }  # fmt: skip
        answer = await client.call(call201.NotifyEVChargingNeeds(charging_needs=needs, evse_id=1))
        assert answer.status == "Accepted"
        await wait_for(
            lambda: (
                state_of(hass, "sensor.garage_charging_plan").attributes.get("goal_from_car")
                is True
            )
        )
        plan = state_of(hass, "sensor.garage_charging_plan").attributes
        assert plan["ready_by"] == hour(30)
        # One hour at 16 A: the cheapest hour of the night, 03:00.
        assert (
            state_of(hass, "sensor.garage_charging_plan").state
            == dt_util.as_utc(hour(27)).isoformat()
        )
        await wait_for(
            lambda: any(
                action == "SetChargingProfile"
                and payload["charging_profile"]["charging_profile_purpose"] == "TxProfile"
                and len(payload["charging_profile"]["charging_schedule"][0]
                        ["charging_schedule_period"]) > 1
                for action, payload in client.received
            )
        )  # fmt: skip


async def test_a_target_state_of_charge_from_the_cars_own_sensor(
    hass: HomeAssistant, setup_entry: SetUpEntry, stockholm: None, evening: None
) -> None:
    """80 % of a 55.2 kWh battery at 60 %: 11.04 kWh to add, whatever the energy entity says."""
    hass.states.async_set(PRICE, "0.5", nordpool(DAY_PRICES))
    hass.states.async_set("sensor.car_battery", "60", {"device_class": "battery"})
    car = garage(car_soc_sensor="sensor.car_battery", car_battery_kwh=55.2)
    entry = await setup_entry(chargers=[car], options=SITE)
    await _choose(hass, "select", "select_option", "select.garage_charging_mode", option="cheapest")
    await _choose(hass, "number", "set_value", "number.garage_target_state_of_charge", value=80)
    assert state_of(hass, "number.garage_energy_to_add").state == "20.0"

    def needed() -> object:
        state = hass.states.get("sensor.garage_charging_plan")
        return state.attributes.get("needed_kwh") if state is not None else None

    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, "TAG1")
        await wait_for(lambda: needed() == 11.04)
        hass.states.async_set("sensor.car_battery", "70", {"device_class": "battery"})
        await wait_for(lambda: needed() == 5.52)
        # Not known any more: the energy to add counts again.
        hass.states.async_set("sensor.car_battery", "unavailable")
        await wait_for(lambda: needed() == 20.0)


async def test_the_ready_by_time_survives_a_restart_while_unavailable(
    hass: HomeAssistant, setup_entry: SetUpEntry, stockholm: None
) -> None:
    mock_restore_cache_with_extra_data(
        hass, [(State("time.garage_ready_by", "unavailable"), {"ready_at": "06:30:00"})]
    )
    entry = await setup_entry(chargers=[garage()], options=SITE)
    assert state_of(hass, "time.garage_ready_by").state == "06:30:00"
    assert entry.runtime_data.prices.ready_at("CP-1").isoformat() == "06:30:00"
