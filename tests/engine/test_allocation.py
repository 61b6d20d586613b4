"""Site load allocation: properties that must hold for any site, and worked examples."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from custom_components.ocpp_csms.csms.charging import (
    ALL_PHASES,
    AllocationSettings,
    Demand,
    allocate,
    available_for_chargers,
)

SETTINGS = AllocationSettings()
STEP = SETTINGS.step_a
TOLERANCE = 1e-6

phase_sets = st.sampled_from(
    [ALL_PHASES, frozenset({0}), frozenset({1}), frozenset({2}), frozenset({0, 1})]
)


@st.composite
def demands(draw: st.DrawFn, same_phases: bool = False) -> list[Demand]:
    count = draw(st.integers(min_value=0, max_value=8))
    return [
        Demand(
            key=f"CP-{index}",
            phases=ALL_PHASES if same_phases else draw(phase_sets),
            max_a=draw(st.sampled_from([6.0, 10.0, 13.0, 16.0, 20.0, 32.0])),
            min_a=6.0,
            priority=draw(st.integers(min_value=0, max_value=2)),
        )
        for index in range(count)
    ]


availables = st.lists(
    st.floats(min_value=-10, max_value=80, allow_nan=False), min_size=3, max_size=3
)


def phase_load(found: dict[str, float], wanted: Sequence[Demand], phase: int) -> float:
    return sum(found[d.key] for d in wanted if phase in d.phases)


def assert_safe(found: dict[str, float], wanted: Sequence[Demand], available: list[float]) -> None:
    for phase, free in enumerate(available):
        load = phase_load(found, wanted, phase)
        assert load <= max(free, 0.0) + TOLERANCE, (phase, load, free)
    for demand in wanted:
        current = found[demand.key]
        assert current == 0 or demand.min_a <= current <= demand.max_a + TOLERANCE, demand


@settings(max_examples=400)
@given(demands(), availables)
def test_never_exceeds_a_phase_nor_goes_below_the_minimum(
    wanted: list[Demand], available: list[float]
) -> None:
    assert_safe(allocate(wanted, available), wanted, available)


@settings(max_examples=300)
@given(demands(), availables, availables)
def test_safe_whatever_the_previous_allocation(
    wanted: list[Demand], before: list[float], available: list[float]
) -> None:
    previous = allocate(wanted, before)
    assert_safe(allocate(wanted, available, previous), wanted, available)


@settings(max_examples=300)
@given(demands(), availables)
def test_equal_priorities_on_the_same_phases_get_equal_shares(
    wanted: list[Demand], available: list[float]
) -> None:
    found = allocate(wanted, available)
    for first in wanted:
        for second in wanted:
            if (
                first.priority == second.priority
                and first.phases == second.phases
                and 0 < found[first.key] < first.max_a - STEP
                and 0 < found[second.key] < second.max_a - STEP
            ):
                assert abs(found[first.key] - found[second.key]) <= STEP + TOLERANCE


@settings(max_examples=300)
@given(demands(), availables)
def test_no_current_is_left_unused_that_a_session_could_take(
    wanted: list[Demand], available: list[float]
) -> None:
    found = allocate(wanted, available)
    for demand in wanted:
        if 0 < found[demand.key] < demand.max_a - STEP:
            # Held back: one of its phases is full (up to rounding, a step per session).
            assert any(
                available[phase] - phase_load(found, wanted, phase)
                <= STEP * len(wanted) + TOLERANCE
                for phase in demand.phases
            ), demand


@settings(max_examples=300)
@given(demands(same_phases=True), availables)
def test_lower_priorities_pause_first(wanted: list[Demand], available: list[float]) -> None:
    found = allocate(wanted, available)
    paused = [d for d in wanted if found[d.key] == 0 and d.max_a >= d.min_a]
    for waiting in paused:
        assert all(found[other.key] == 0 for other in wanted if other.priority < waiting.priority)


def _single_min(key: str, phases: set[int], max_a: float) -> Demand:
    return Demand(key=key, phases=frozenset(phases), max_a=max_a, min_a=6.0)


@settings(max_examples=300)
@given(
    demands(),
    availables,
    st.lists(st.floats(min_value=0, max_value=0.89), min_size=3, max_size=3),
)
# Found by Hypothesis: phase L3 over its limit (no session of ours on it) used to
# make the previous shares look unsafe, so a small rise on L2 moved L1's sessions.
@example(
    [
        *(_single_min(f"CP-{n}", {1}, 6.0) for n in range(3)),
        _single_min("CP-3", {0, 1}, 6.0),
        _single_min("CP-4", {0}, 10.0),
        _single_min("CP-5", {0, 1, 2}, 6.0),
        _single_min("CP-6", {0, 1}, 10.0),
    ],
    [21.0, 31.0, -1.0],
    [0.0, 0.5, 0.0],
)
def test_small_increases_move_no_charging_session(
    wanted: list[Demand], available: list[float], more: list[float]
) -> None:
    previous = allocate(wanted, available)
    grown = [free + extra for free, extra in zip(available, more, strict=True)]
    found = allocate(wanted, grown, previous)
    # A paused car may start (its minimum plus the hysteresis now fits); otherwise no
    # charging session's current moves.
    if {key for key, value in found.items() if value} == {
        key for key, value in previous.items() if value
    }:
        assert found == previous


@settings(max_examples=300)
@given(demands(), availables)
def test_a_repeated_allocation_is_stable(wanted: list[Demand], available: list[float]) -> None:
    previous = allocate(wanted, available)
    assert allocate(wanted, available, previous) == previous


def test_two_cars_share_a_fuse_equally() -> None:
    cars = [Demand("garage"), Demand("drive")]
    assert allocate(cars, [25.0, 25.0, 25.0]) == {"garage": 12.5, "drive": 12.5}


def test_a_car_that_takes_less_leaves_the_rest_to_the_other() -> None:
    cars = [Demand("garage", max_a=10), Demand("drive")]
    assert allocate(cars, [25.0, 25.0, 25.0]) == {"garage": 10.0, "drive": 15.0}


def test_too_little_for_two_pauses_the_lower_priority() -> None:
    cars = [Demand("garage", priority=1), Demand("drive")]
    assert allocate(cars, [11.0, 11.0, 11.0]) == {"garage": 11.0, "drive": 0.0}


def test_among_equals_the_car_already_charging_keeps_charging() -> None:
    cars = [Demand("a"), Demand("b")]
    assert allocate(cars, [11.0] * 3, previous={"b": 16.0}) == {"a": 0.0, "b": 11.0}


def test_a_paused_car_starts_only_with_room_to_spare() -> None:
    car = [Demand("garage")]
    assert allocate(car, [6.5] * 3) == {"garage": 0.0}  # 6 A + 1 A hysteresis
    assert allocate(car, [7.0] * 3) == {"garage": 7.0}
    # Once charging, it goes on down to its minimum.
    assert allocate(car, [6.0] * 3, previous={"garage": 7.0}) == {"garage": 6.0}


def test_single_phase_cars_use_the_other_phases() -> None:
    cars = [Demand("three"), Demand("one", phases=frozenset({1}))]
    # L2 is shared; L1 and L3 would give the three-phase car more, L2 holds it back.
    assert allocate(cars, [20.0, 20.0, 20.0]) == {"three": 10.0, "one": 10.0}


def test_a_car_that_cannot_charge_at_the_minimum_is_left_out() -> None:
    assert allocate([Demand("odd", max_a=5)], [32.0] * 3) == {"odd": 0.0}


def test_the_house_load_comes_off_the_fuse() -> None:
    # 20 A fuse, 2 A margin; on L1 the grid shows 15 A of which the charger draws 10 A.
    available = available_for_chargers([20, 20, 20], [15, 4, 30], [10, 0, 0], margin_a=2)
    assert available == pytest.approx((13, 14, -12))


def test_among_equals_the_car_that_came_last_waits() -> None:
    cars = [Demand("a", arrival=2.0), Demand("b", arrival=1.0)]
    assert allocate(cars, [11.0] * 3, previous={"a": 7.0, "b": 7.0}) == {"a": 0.0, "b": 11.0}
