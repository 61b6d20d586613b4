"""The cheapest mode: sessions charge in the cheapest hours before their goal."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from custom_components.ocpp_csms.csms.cheapest import MAX_PERIODS, ChargingGoal, car_goal
from custom_components.ocpp_csms.csms.commands import CommandStatus, ProfileKind
from custom_components.ocpp_csms.csms.price_plan import PriceSlot
from custom_components.ocpp_csms.csms.schedule import ScheduleRule, WeeklySchedule
from custom_components.ocpp_csms.csms.site import SiteBalancer
from custom_components.ocpp_csms.csms.site_settings import SiteSettings
from custom_components.ocpp_csms.csms.solar import ChargingMode, SolarSettings
from custom_components.ocpp_csms.csms.station import Measurand, Measurement
from custom_components.ocpp_csms.csms.station_facts import Capabilities
from tests.engine.conftest import ConnectRaw
from tests.engine.test_messages_2x import T2, _start, event
from tests.engine.test_site import Charger, Clock, Limits, charging

EVENING = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
CHEAP_FROM = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
SITE = SiteSettings(fuse_a=16, margin_a=0, failsafe_a=6, profile_duration_s=300)
# 18:00 to 07:00: dear in the evening, cheapest 02:00-04:00.
PRICES = [
    PriceSlot(EVENING + timedelta(hours=n), EVENING + timedelta(hours=n + 1), price)
    for n, price in enumerate([0.5] * 5 + [0.3] * 3 + [0.05, 0.04] + [0.2] * 3)
]
# Two hours at 16 A on three phases.
GOAL = ChargingGoal(2 * 11_040, ready_at=time(7, 0))


def cheapest_site(charger: Charger, clock: Clock | None = None) -> SiteBalancer:
    limits = Limits(max_a=16, modes={"A": ChargingMode.CHEAPEST})
    site = SiteBalancer(SITE, charger.execute, chargers=limits, clock=clock or Clock())
    site.cheapest.set_prices(PRICES)
    return site


async def test_a_session_waits_for_the_cheapest_hours_then_charges() -> None:
    charger, clock = Charger(), Clock()
    site = cheapest_site(charger, clock)
    site.cheapest.set_goal("A", GOAL)
    station = charging("A")
    with freeze_time(EVENING):
        assert await site.rebalance([station]) == {"A/1": 0.0}
    planned = site.cheapest.plans["A/1"]
    assert (planned.plan.start, planned.plan.end) == (CHEAP_FROM, CHEAP_FROM + timedelta(hours=2))
    assert planned.plan.feasible
    # What the charger keeps without us: nothing now, the failsafe in the cheap hours.
    profile = charger.sent[-1][1].profile
    assert profile.kind is ProfileKind.ABSOLUTE
    assert profile.start_schedule == EVENING
    cheap_s = int((CHEAP_FROM - EVENING).total_seconds())
    assert [(p.start_s, p.limit) for p in profile.periods] == [(0, 0.0), (cheap_s, 6.0)]
    assert profile.duration_s == cheap_s + 2 * 3600
    clock.now += 8 * 3600
    with freeze_time(CHEAP_FROM + timedelta(minutes=1)):
        assert await site.rebalance([station]) == {"A/1": 16.0}
    profile = charger.sent[-1][1].profile
    assert profile.periods[0].limit == 16.0
    assert profile.periods[1].limit == 6.0  # after our share's 300 s: the failsafe


async def test_delivered_energy_counts_and_a_met_goal_stops_charging() -> None:
    charger = Charger()
    site = cheapest_site(charger)
    site.cheapest.set_goal("A", GOAL)
    station = charging("A", meter_start_wh=0, last_register_wh=2 * 11_040)
    with freeze_time(CHEAP_FROM):
        assert await site.rebalance([station]) == {"A/1": 0.0}
    assert site.cheapest.plans["A/1"].plan.slots == ()


async def test_without_a_goal_or_prices_it_charges_as_fast() -> None:
    charger = Charger()
    site = cheapest_site(charger)
    with freeze_time(EVENING):
        assert await site.rebalance([charging("A")]) == {"A/1": 16.0}  # no goal
        site.cheapest.set_goal("A", GOAL)
        site.cheapest.set_prices([])
        assert await site.rebalance([charging("A")]) == {"A/1": 16.0}  # nothing to go by
    assert site.cheapest.plans["A/1"].plan.estimated_wh == pytest.approx(GOAL.energy_wh)


async def test_the_fuse_still_has_the_last_word() -> None:
    charger = Charger()
    site = cheapest_site(charger)
    site.cheapest.set_goal("A", GOAL)
    site.set_grid((14.0, 14.0, 14.0))  # the house draws 14 A itself
    with freeze_time(CHEAP_FROM):
        allocation = await site.rebalance([charging("A")])
    assert allocation == {"A/1": 0.0}  # 2 A left: below a car's minimum


@pytest.mark.parametrize(
    ("needs", "goal"),
    [
        (
            {
                "departureTime": "2026-11-24T07:00:00Z",
                "acChargingParameters": {"energyAmount": 20_000, "evMaxCurrent": 10},
            },
            ChargingGoal(20_000, datetime(2026, 11, 24, 7, tzinfo=UTC), max_current_a=10),
        ),
        (
            {
                "departureTime": "2026-11-24T07:00:00+01:00",
                "dcChargingParameters": {"energyAmount": 5000},
            },
            ChargingGoal(5000, datetime(2026, 11, 24, 6, tzinfo=UTC)),
        ),
        ({"requestedEnergyTransfer": "AC_three_phase"}, None),
        ({"departureTime": "soon", "acChargingParameters": {"energyAmount": 1}}, None),
        (
            {"departureTime": "2026-11-24T07:00:00Z", "acChargingParameters": {"energyAmount": 0}},
            None,
        ),
        ({"departureTime": "2026-11-24T07:00:00Z", "acChargingParameters": []}, None),
        (None, None),
    ],
)
def test_a_cars_stated_needs_are_its_goal(needs: Any, goal: ChargingGoal | None) -> None:
    assert car_goal(needs) == goal


async def test_a_cars_needs_are_accepted_only_where_a_plan_serves_them(
    raw_charger: ConnectRaw,
) -> None:
    needs = {
        "requestedEnergyTransfer": "AC_three_phase",
        "departureTime": "2026-11-24T07:00:00Z",
        "acChargingParameters": {
            "energyAmount": 20_000, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400,
        },
    }  # fmt: skip
    message = {"chargingNeeds": needs, "evseId": 1}
    planned = await raw_charger(
        "ocpp2.0.1", site=SITE, chargers=Limits(modes={"CP-1": ChargingMode.CHEAPEST})
    )
    assert await planned.result("NotifyEVChargingNeeds", message) == {"status": "Accepted"}
    fast = await raw_charger("ocpp2.0.1", "CP-2", site=SITE)
    assert await fast.result("NotifyEVChargingNeeds", message) == {"status": "Rejected"}
    no_site = await raw_charger("ocpp2.0.1", "CP-3")
    assert await no_site.result("NotifyEVChargingNeeds", message) == {"status": "Rejected"}


def test_a_time_of_day_goal_is_the_first_after_the_session_started() -> None:
    stockholm = ZoneInfo("Europe/Stockholm")
    goal = ChargingGoal(10_000, ready_at=time(7, 0), zone=stockholm)
    evening = datetime(2026, 3, 28, 18, 0, tzinfo=stockholm)
    # Across the night the clocks go forward: 07:00 is still 07:00 on the wall.
    assert goal.deadline(evening) == datetime(2026, 3, 29, 7, 0, tzinfo=stockholm)
    assert goal.deadline(evening).utcoffset() == timedelta(hours=2)
    early = datetime(2026, 3, 29, 5, 0, tzinfo=stockholm)
    assert goal.deadline(early) == datetime(2026, 3, 29, 7, 0, tzinfo=stockholm)


async def test_past_the_deadline_what_is_missing_comes_as_fast_as_it_can() -> None:
    charger = Charger()
    site = cheapest_site(charger)
    site.cheapest.set_goal("A", GOAL)
    station = charging("A")  # started at 18:00; the goal was 07:00 the next morning
    with freeze_time(datetime(2026, 11, 24, 7, 30, tzinfo=UTC)):
        assert await site.rebalance([station]) == {"A/1": 16.0}
    assert not site.cheapest.plans["A/1"].plan.feasible


async def test_the_sessions_cost_so_far_and_planned() -> None:
    charger, clock = Charger(), Clock()
    site = cheapest_site(charger, clock)
    site.cheapest.set_goal("A", GOAL)
    station = charging("A", meter_start_wh=0, last_register_wh=0)
    with freeze_time(CHEAP_FROM):
        await site.rebalance([station])
    planned = site.cheapest.plans["A/1"]
    assert planned.spent == 0
    assert planned.estimated_cost == pytest.approx(11.04 * 0.05 + 11.04 * 0.04)
    transaction = station.evses[1].transaction
    assert transaction is not None
    transaction.last_register_wh = 11_040  # the first hour delivered, at 0.05
    clock.now += 3600
    with freeze_time(CHEAP_FROM + timedelta(minutes=59)):
        await site.rebalance([station])
    planned = site.cheapest.plans["A/1"]
    assert planned.spent == pytest.approx(11.04 * 0.05)
    assert planned.estimated_cost == pytest.approx(11.04 * 0.05 + 11.04 * 0.04, rel=0.02)


async def test_the_sun_is_free_a_surplus_charges_beyond_the_plan() -> None:
    """Nothing planned now (dear hours), but the house exports: the car takes that."""
    charger, clock = Charger(), Clock()
    settings = SiteSettings(
        fuse_a=16, margin_a=0, failsafe_a=6, export_meter=True,
        solar=SolarSettings(start_delay_s=60),
    )  # fmt: skip
    limits = Limits(max_a=16, modes={"A": ChargingMode.CHEAPEST})
    site = SiteBalancer(settings, charger.execute, chargers=limits, clock=clock)
    site.cheapest.set_prices(PRICES)
    site.cheapest.set_goal("A", GOAL)
    station = charging("A")
    site.set_export(6000)
    with freeze_time(EVENING):
        assert await site.rebalance([station]) == {"A/1": 0.0}  # the surplus must last
        clock.now += 60
        assert await site.rebalance([station]) == {"A/1": 8.6}  # 6,000 W / 690 W/A, down
        site.set_export(-500)  # a cloud: less than the minimum, for the stop delay
        clock.now += 10
        assert await site.rebalance([station]) == {"A/1": 6.0}
    # In the cheap hours the plan leads again, whatever the sun does.
    with freeze_time(CHEAP_FROM):
        assert await site.rebalance([station]) == {"A/1": 16.0}


async def test_a_target_state_of_charge_sets_what_is_left() -> None:
    """80 % of a 55.2 kWh battery from 60 %: 11.04 kWh, one hour at 16 A on three phases."""
    charger = Charger()
    site = cheapest_site(charger)
    goal = ChargingGoal(50_000, ready_at=time(7, 0), target_soc=80, battery_wh=55_200)
    site.cheapest.set_goal("A", goal)
    station = charging("A")
    # No state of charge known: the energy to add.
    with freeze_time(EVENING):
        await site.rebalance([station])
    assert site.cheapest.plans["A/1"].plan.needed_wh == 50_000
    # The car's own sensor says 60 %: one hour, the cheapest of the night.
    site.cheapest.set_car_soc("A", 60)
    with freeze_time(EVENING):
        await site.rebalance([station])
    plan = site.cheapest.plans["A/1"].plan
    assert plan.energy_wh == pytest.approx(11_040)
    assert plan.start == CHEAP_FROM + timedelta(hours=1)
    # The charger's own reading comes first: 80 % reached, nothing left.
    station.evses[1].measurements[(Measurand.SOC, None)] = Measurement(
        80, "Percent", EVENING, Measurand.SOC
    )
    with freeze_time(EVENING):
        await site.rebalance([station])
    assert site.cheapest.plans["A/1"].plan.slots == ()


async def test_a_plan_with_more_periods_than_a_profile_holds_ends_where_it_is_cut() -> None:
    """Alternating quarter hours: the profile stops at its last period, not past it."""
    charger, clock = Charger(), Clock()
    site = cheapest_site(charger, clock)
    quarters = [
        PriceSlot(
            EVENING + timedelta(minutes=15 * n),
            EVENING + timedelta(minutes=15 * (n + 1)),
            0.05 if n % 2 else 0.5,
        )
        for n in range(13 * 4)
    ]
    site.cheapest.set_prices(quarters)
    site.cheapest.set_goal("A", ChargingGoal(11_040 * 6, ready_at=time(7, 0)))
    with freeze_time(EVENING):
        await site.rebalance([charging("A")])
    profile = charger.sent[-1][1].profile
    assert len(profile.periods) == MAX_PERIODS
    assert profile.duration_s is not None
    assert profile.duration_s > profile.periods[-1].start_s
    # The last period lasts until the next change the plan makes, no longer.
    assert profile.duration_s - profile.periods[-1].start_s == 15 * 60


async def test_a_charger_that_refuses_the_plans_profile_gets_its_share_alone() -> None:
    charger, clock = Charger(CommandStatus.REJECTED), Clock()
    site = cheapest_site(charger, clock)
    site.cheapest.set_goal("A", GOAL)
    station = charging("A")
    with freeze_time(EVENING):
        await site.rebalance([station])
        assert charger.sent[-1][1].profile.kind is ProfileKind.ABSOLUTE
        clock.now += 10
        await site.rebalance([station])
    profile = charger.sent[-1][1].profile
    assert profile.kind is ProfileKind.RELATIVE
    assert [period.limit for period in profile.periods] == [0.0]


async def test_a_cars_stated_needs_end_with_its_session(raw_charger: ConnectRaw) -> None:
    """The next car on the charger is not held to the departure the last one stated."""
    charger = await raw_charger(
        "ocpp2.0.1", site=SITE, chargers=Limits(modes={"CP-1": ChargingMode.CHEAPEST})
    )
    await _start(charger)
    needs = {
        "requestedEnergyTransfer": "AC_three_phase",
        "departureTime": "2026-11-24T07:00:00Z",
        "acChargingParameters": {
            "energyAmount": 20_000, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400,
        },
    }  # fmt: skip
    message = {"chargingNeeds": needs, "evseId": 1}
    assert await charger.result("NotifyEVChargingNeeds", message) == {"status": "Accepted"}
    evse = charger.station.evses[1]
    assert car_goal(evse.ev_charging_needs) is not None
    await charger.result(
        "TransactionEvent",
        event("Ended", 1, timestamp=T2, trigger="EVDeparted", info={"stoppedReason": "Local"}),
    )
    assert evse.transaction is None
    assert evse.ev_charging_needs is None


async def test_a_one_phase_car_is_planned_on_one_phase_while_it_pauses() -> None:
    """Seen drawing on L1 alone, it needs three times the hours of a three-phase car."""
    charger, clock = Charger(), Clock()
    site = cheapest_site(charger, clock)
    site.cheapest.set_goal("A", ChargingGoal(2 * 3680, ready_at=time(7, 0)))  # 2 h at 16 A
    station = charging("A", amps={"L1": 16.0})
    with freeze_time(CHEAP_FROM - timedelta(minutes=1)):
        await site.rebalance([station])  # drawing on one phase (before its hours)
    del station.evses[1].measurements[(Measurand.CURRENT_IMPORT, "L1")]  # paused
    with freeze_time(EVENING + timedelta(hours=1)):
        await site.rebalance([station])
    plan = site.cheapest.plans["A/1"].plan
    assert plan.energy_wh == pytest.approx(2 * 3680)
    assert sum((slot.end - slot.start).total_seconds() for slot in plan.slots) == 2 * 3600


async def test_the_plan_keeps_to_the_weekly_schedule_as_it_will_be() -> None:
    """A night rule of 8 A from 01:00: the plan takes twice the time in those hours."""
    charger, clock = Charger(), Clock()
    site = cheapest_site(charger, clock)
    night = ScheduleRule(frozenset(range(7)), time(1, 0), time(6, 0), 8.0)
    schedule = WeeklySchedule((night,), UTC)
    site.schedule_of = lambda charger_id: schedule
    site.schedule_limit = lambda charger_id: schedule.limit_at(datetime.now(UTC))
    site.cheapest.set_goal("A", ChargingGoal(11_040, ready_at=time(7, 0)))  # 1 h at 16 A
    with freeze_time(EVENING):
        assert await site.rebalance([charging("A")]) == {"A/1": 0.0}
    plan = site.cheapest.plans["A/1"].plan
    assert plan.feasible
    # Two hours at 8 A in the cheapest of the night (02:00-04:00), never 16 A then.
    assert [(slot.start, slot.end, slot.current_a) for slot in plan.slots] == [
        (CHEAP_FROM, CHEAP_FROM + timedelta(hours=1), 8.0),
        (CHEAP_FROM + timedelta(hours=1), CHEAP_FROM + timedelta(hours=2), 8.0),
    ]


async def test_a_charger_that_takes_only_watts_gets_the_plans_power_on_its_phases() -> None:
    """Waiting for its hours the car draws on no phase: the plan's three still count."""
    charger, clock = Charger(), Clock()
    site = cheapest_site(charger, clock)
    site.cheapest.set_goal("A", GOAL)
    station = charging("A")
    station.capabilities = Capabilities(charging_rate_units=frozenset({"W"}))
    with freeze_time(EVENING):
        await site.rebalance([station])
    profile = charger.sent[-1][1].profile
    assert profile.unit == "W"
    assert [period.limit for period in profile.periods] == [0.0, 6 * 230 * 3]
