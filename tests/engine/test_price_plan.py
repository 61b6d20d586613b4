"""The cheapest-charging planner: properties over random prices, limits and targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ocpp_csms.csms.price_plan import (
    MAX_HORIZON,
    Plan,
    PowerLimits,
    PriceSlot,
    constant_current,
    plan_cheapest,
    plan_cheapest_hours,
    plan_fast,
)

DAY = datetime(2026, 12, 7, tzinfo=UTC)
VOLTS = 230.0
EPSILON_WH = 1e-6


def hourly(prices: list[float], start: datetime = DAY) -> list[PriceSlot]:
    return [
        PriceSlot(start + timedelta(hours=n), start + timedelta(hours=n + 1), price)
        for n, price in enumerate(prices)
    ]


def quarter_hourly(prices: list[float], start: datetime = DAY) -> list[PriceSlot]:
    return [
        PriceSlot(start + timedelta(minutes=15 * n), start + timedelta(minutes=15 * (n + 1)), p)
        for n, p in enumerate(prices)
    ]


def capacity_wh(limits: PowerLimits, now: datetime, ready_by: datetime) -> float:
    """What the limits allow between `now` and `ready_by`, minute by minute (independent)."""
    total = 0.0
    moment = now
    end = min(ready_by, now + MAX_HORIZON)
    while moment < end:
        step_end = min(end, moment + timedelta(minutes=1))
        current = limits.max_current_a(moment, step_end)
        if current >= limits.min_current_a:
            total += limits.power_w(current) * (step_end - moment).total_seconds() / 3600
        moment = step_end
    return total


def hourly_caps(caps: list[float]) -> PowerLimits:
    """A limit that changes on the hour (a schedule or the fuse), from DAY on."""

    def cap(start: datetime, end: datetime) -> float:
        index = int((start - DAY).total_seconds() // 3600)
        return caps[index % len(caps)]

    changes = tuple(DAY + timedelta(hours=n) for n in range(72))
    return PowerLimits(max_current_a=cap, phases=3, limit_changes=changes)


def check_shape(plan: Plan, limits: PowerLimits, now: datetime, ready_by: datetime) -> None:
    previous_end = now
    for slot in plan.slots:
        assert previous_end <= slot.start < slot.end <= ready_by
        previous_end = slot.end
        allowed = limits.max_current_a(slot.start, slot.end)
        assert limits.min_current_a <= slot.current_a <= allowed
        hours = (slot.end - slot.start).total_seconds() / 3600
        assert slot.energy_wh == pytest.approx(limits.power_w(slot.current_a) * hours, rel=1e-6)


prices_st = st.lists(st.floats(min_value=-0.2, max_value=5.0), min_size=1, max_size=48)
caps_st = st.lists(st.sampled_from([0.0, 4.0, 6.0, 10.0, 16.0, 32.0]), min_size=1, max_size=24)


@settings(max_examples=300, deadline=None)
@given(
    prices=prices_st,
    quarter=st.booleans(),
    caps=caps_st,
    now_minutes=st.integers(min_value=0, max_value=24 * 60),
    window_minutes=st.integers(min_value=0, max_value=40 * 60),
    energy_kwh=st.floats(min_value=0, max_value=120),
)
def test_plans_keep_to_the_deadline_the_limits_and_the_energy(
    prices: list[float],
    quarter: bool,
    caps: list[float],
    now_minutes: int,
    window_minutes: int,
    energy_kwh: float,
) -> None:
    slots = quarter_hourly(prices) if quarter else hourly(prices)
    limits = hourly_caps(caps)
    now = DAY + timedelta(minutes=now_minutes)
    ready_by = now + timedelta(minutes=window_minutes)
    need = energy_kwh * 1000
    possible = capacity_wh(limits, now, ready_by)
    for planner in (plan_cheapest, plan_fast):
        plan = planner(slots, now=now, ready_by=ready_by, energy_wh=need, limits=limits)
        check_shape(plan, limits, now, ready_by)
        # All of it when the time allows, else all the time allows, and it says so.
        assert plan.energy_wh == pytest.approx(min(need, possible), abs=1e-3)
        assert plan.feasible == (plan.shortfall_wh < 1.0)
        if possible >= need + 1:
            assert plan.feasible
        if possible < need - 1:
            assert not plan.feasible
            assert plan.shortfall_wh == pytest.approx(need - possible, abs=1e-3)


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(st.floats(min_value=-0.2, max_value=5.0), min_size=48, max_size=48),
    caps=caps_st,
    now_minutes=st.integers(min_value=0, max_value=12 * 60),
    window_minutes=st.integers(min_value=0, max_value=24 * 60),
    energy_kwh=st.floats(min_value=0, max_value=120),
)
def test_cheapest_never_costs_more_than_fast(
    prices: list[float], caps: list[float], now_minutes: int, window_minutes: int, energy_kwh: float
) -> None:
    """Every price of the window known: the same energy, at no higher cost."""
    slots = hourly(prices)
    limits = hourly_caps(caps)
    now = DAY + timedelta(minutes=now_minutes)
    ready_by = now + timedelta(minutes=window_minutes)
    arguments = {"now": now, "ready_by": ready_by, "energy_wh": energy_kwh * 1000}
    cheapest = plan_cheapest(slots, limits=limits, **arguments)  # type: ignore[arg-type]
    fast = plan_fast(slots, limits=limits, **arguments)  # type: ignore[arg-type]
    assert cheapest.energy_wh == pytest.approx(fast.energy_wh, abs=1e-3)
    assert cheapest.cost <= fast.cost + 1e-6
    assert cheapest.estimated_wh == 0


def test_cheapest_hours_of_the_night_are_chosen() -> None:
    # Evening peak, cheap night, morning peak: 22 kWh at 11 kW takes two hours.
    prices = [0.30] * 18 + [0.50, 0.45, 0.40, 0.20] + [0.10, 0.05] + [0.04, 0.06, 0.30]
    slots = hourly(prices)
    limits = PowerLimits(max_current_a=constant_current(16), phases=3)
    now = DAY + timedelta(hours=18)
    plan = plan_cheapest(
        slots, now=now, ready_by=DAY + timedelta(hours=27), energy_wh=22_080, limits=limits
    )
    assert plan.feasible
    assert [(slot.start.hour, slot.end.hour) for slot in plan.slots] == [(23, 0), (0, 1)]
    assert plan.cost == pytest.approx(11.04 * 0.05 + 11.04 * 0.04)
    assert plan.current_at(DAY + timedelta(hours=23, minutes=30)) == 16
    assert plan.current_at(DAY + timedelta(hours=22)) == 0


def test_the_last_stretch_is_cut_short_not_charged_slowly() -> None:
    slots = hourly([0.1, 0.2])
    limits = PowerLimits(max_current_a=constant_current(16), phases=1)
    plan = plan_cheapest(
        slots, now=DAY, ready_by=DAY + timedelta(hours=2), energy_wh=1840, limits=limits
    )
    (slot,) = plan.slots
    assert (slot.start, slot.end, slot.current_a) == (DAY, DAY + timedelta(minutes=30), 16)


def test_tomorrows_unknown_prices_are_estimated_from_today() -> None:
    """Published up to midnight only: the night is judged by last night, and it says so."""
    today = [0.08] * 6 + [0.30] * 16 + [0.25] * 2
    slots = hourly(today)
    limits = PowerLimits(max_current_a=constant_current(16), phases=3)
    now = DAY + timedelta(hours=14)
    plan = plan_cheapest(
        slots, now=now, ready_by=DAY + timedelta(hours=31), energy_wh=11_040 * 3, limits=limits
    )
    assert plan.feasible
    assert plan.start == DAY + timedelta(hours=24)
    assert plan.estimated_wh == pytest.approx(plan.energy_wh)


def test_without_any_price_it_charges_at_once() -> None:
    limits = PowerLimits(max_current_a=constant_current(10), phases=1)
    now = DAY + timedelta(minutes=7)
    plan = plan_cheapest(
        [], now=now, ready_by=now + timedelta(hours=8), energy_wh=4600, limits=limits
    )
    assert plan.start == now
    assert plan.feasible
    assert plan.cost == 0
    assert plan.estimated_wh == pytest.approx(4600)


def test_an_infeasible_target_charges_all_it_can_and_says_so() -> None:
    limits = PowerLimits(max_current_a=constant_current(16), phases=3)
    plan = plan_cheapest(
        hourly([0.2] * 24),
        now=DAY,
        ready_by=DAY + timedelta(hours=2),
        energy_wh=50_000,
        limits=limits,
    )
    assert not plan.feasible
    assert plan.energy_wh == pytest.approx(2 * 11_040)
    assert plan.shortfall_wh == pytest.approx(50_000 - 2 * 11_040)


def test_hours_below_the_minimum_current_are_not_used() -> None:
    # The cheapest hour allows only 4 A (a schedule): a car cannot charge at that.
    limits = hourly_caps([4.0, 16.0, 16.0])
    plan = plan_cheapest(
        hourly([0.01, 0.2, 0.3]), now=DAY, ready_by=DAY + timedelta(hours=3), energy_wh=11_040,
        limits=limits,
    )  # fmt: skip
    assert [(slot.start.hour, slot.end.hour) for slot in plan.slots] == [(1, 2)]


def test_the_cheapest_n_hours_baseline_ignores_the_energy_needed() -> None:
    prices = [0.3, 0.1, 0.2, 0.05, 0.4]
    limits = PowerLimits(max_current_a=constant_current(16), phases=3)
    plan = plan_cheapest_hours(
        hourly(prices), now=DAY, ready_by=DAY + timedelta(hours=5), energy_wh=40_000,
        limits=limits, hours=2,
    )  # fmt: skip
    assert [slot.start.hour for slot in plan.slots] == [1, 3]
    assert not plan.feasible  # two hours deliver 22 kWh of the 40 wanted


def test_a_stretch_cut_short_joins_the_planned_hour_after_it() -> None:
    """Two and a half hours: the half hour ends where the next planned hour begins."""
    slots = hourly([0.3, 0.1, 0.05, 0.04, 0.3])
    limits = PowerLimits(max_current_a=constant_current(16), phases=3)
    plan = plan_cheapest(
        slots, now=DAY, ready_by=DAY + timedelta(hours=5), energy_wh=2.5 * 11_040, limits=limits
    )
    assert [(slot.start, slot.end) for slot in plan.slots] == [
        (DAY + timedelta(minutes=90), DAY + timedelta(hours=2)),
        (DAY + timedelta(hours=2), DAY + timedelta(hours=3)),
        (DAY + timedelta(hours=3), DAY + timedelta(hours=4)),
    ]
    assert plan.cost == pytest.approx(11_040 / 1000 * (0.5 * 0.1 + 0.05 + 0.04))


def test_past_the_deadline_nothing_is_planned() -> None:
    limits = PowerLimits(max_current_a=constant_current(16), phases=3)
    now = DAY + timedelta(hours=3)
    plan = plan_cheapest(hourly([0.1] * 6), now=now, ready_by=DAY, energy_wh=10_000, limits=limits)
    assert plan.slots == ()
    assert plan.shortfall_wh == 10_000
    assert not plan.feasible
