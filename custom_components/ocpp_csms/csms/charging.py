"""Charging profiles, the conversion between amperes and watts, and load allocation.

Home Assistant speaks amperes (the current-limit number, per-tag limits); chargers
may accept only watts. Conversions use the voltage and the number of phases the
charger measures.

`allocate` shares a site's spare current among charging sessions (see below).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .commands import ChargingProfile, ProfileKind, ProfilePurpose, SchedulePeriod
from .station import Measurand, Station

NOMINAL_VOLTAGE_V = 230.0
# Profile ids this integration owns, one per purpose, so a new limit replaces the old.
LIMIT_PROFILE_ID = 1001


def phase_count(station: Station) -> int:
    """How many phases the charger uses, as its meter values show (1 when unknown)."""
    phases = {
        phase
        for evse in station.evses.values()
        for (measurand, phase), measurement in evse.measurements.items()
        if measurand == Measurand.CURRENT_IMPORT
        and phase in ("L1", "L2", "L3")
        and measurement.value > 0.5
    }
    return max(len(phases), 1)


def line_voltage(station: Station) -> float:
    """The measured phase voltage, or the nominal 230 V."""
    for evse in station.evses.values():
        for phase in (None, "L1-N", "L1"):
            value = evse.value(Measurand.VOLTAGE, phase)
            if value is not None and 100 < value < 300:
                return value
    return NOMINAL_VOLTAGE_V


def in_charger_unit(station: Station, value: float, unit: str = "A") -> tuple[str, float]:
    """A limit given in A or W, in the unit the charger accepts (A when it says nothing).

    Conversions use the voltage and the number of phases the charger measures.
    """
    capabilities = station.capabilities
    units = capabilities.charging_rate_units if capabilities else frozenset()
    accepted = units or frozenset({"A"})
    if unit in accepted:
        return unit, float(value)
    watts_per_amp = line_voltage(station) * phase_count(station)
    if unit == "A":
        return "W", float(round(value * watts_per_amp))
    return "A", round(value / watts_per_amp, 1)


def limit_now_in_amps(station: Station, schedule: Mapping[str, object]) -> float | None:
    """The limit a composite schedule (in `schedule_data` form) sets now, in amperes.

    None when it sets none (no periods, or a limit that is no finite number).
    """
    periods = schedule.get("periods")
    if not isinstance(periods, list) or not periods:
        return None
    first = min(periods, key=lambda period: period.get("start_s") or 0)
    limit = first.get("limit")
    if not isinstance(limit, int | float) or not math.isfinite(limit) or limit < 0:
        return None
    if schedule.get("unit") == "W":
        phases = first.get("number_phases") or phase_count(station)
        return round(limit / (line_voltage(station) * phases), 1)
    return float(limit)


def limit_profile_id(purpose: ProfilePurpose) -> int:
    """The id of our limit profiles of `purpose` (a new one replaces the last)."""
    return LIMIT_PROFILE_ID + list(ProfilePurpose).index(purpose)


def limit_profile(
    station: Station,
    value: float,
    purpose: ProfilePurpose,
    *,
    unit: str = "A",
    duration_s: int | None = None,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
    transaction_id: str | None = None,
    number_phases: int | None = None,
) -> ChargingProfile:
    """A profile limiting the charger (or a session) to `value` A or W, from now on."""
    charger_unit, limit = in_charger_unit(station, value, unit)
    return ChargingProfile(
        id=limit_profile_id(purpose),
        stack_level=0,
        purpose=purpose,
        kind=kind,
        start_schedule=(
            datetime.now(UTC).replace(microsecond=0) if kind is ProfileKind.ABSOLUTE else None
        ),
        duration_s=duration_s,
        unit=charger_unit,
        periods=(SchedulePeriod(0, limit, number_phases),),
        transaction_id=transaction_id,
    )


# -- site load allocation ---------------------------------------------------------------
#
# A site has one main fuse per phase. What the house draws besides the chargers leaves
# some current per phase for them; `allocate` shares it among the sessions that want
# current. It is a pure function: the caller measures, decides when to call it and sends
# the results as short-lived charging profiles.

# Below 6 A the IEC 61851 pilot signal cannot ask a car to charge.
MIN_CHARGING_CURRENT_A = 6.0
ALL_PHASES: frozenset[int] = frozenset({0, 1, 2})  # L1, L2, L3
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Demand:
    """A session that wants current.

    `phases`: the site phases (0-2 for L1-L3) the car draws on; a single-phase car on a
    three-phase charger draws on the phase wired to the charger's L1. `max_a`: the least
    of what the charger, the cable, the car and the user allow.
    """

    key: str
    phases: frozenset[int] = ALL_PHASES
    max_a: float = 32.0
    min_a: float = MIN_CHARGING_CURRENT_A
    priority: int = 0
    # Among equals, who came first keeps charging (e.g. the session's start time).
    arrival: float = 0.0


@dataclass(frozen=True, slots=True)
class AllocationSettings:
    """How eager the allocation is to change what sessions get."""

    # A session keeps its current while the ideal share moves by less than this, and a
    # paused one starts only when this much more than its minimum is free.
    hysteresis_a: float = 1.0
    # Chargers take limits in steps; results are rounded down to this.
    step_a: float = 0.1


def available_for_chargers(
    fuse_a: Sequence[float],
    grid_a: Sequence[float],
    chargers_a: Sequence[float],
    margin_a: float,
) -> tuple[float, ...]:
    """The current per phase the chargers may draw: fuse minus the house's own load.

    `grid_a` is measured at the main fuse and includes the chargers, whose own draw
    (`chargers_a`) is taken out to find the house's. Negative when the house alone
    exceeds the fuse minus the margin.
    """
    return tuple(
        fuse - margin_a - max(grid - charging, 0.0)
        for fuse, grid, charging in zip(fuse_a, grid_a, chargers_a, strict=True)
    )


def allocate(
    demands: Sequence[Demand],
    available_a: Sequence[float],
    previous: Mapping[str, float] | None = None,
    settings: AllocationSettings = AllocationSettings(),
) -> dict[str, float]:
    """Share the current available per phase among sessions; 0 pauses a session.

    - No phase ever carries more than its available current.
    - A session gets 0 or at least its minimum, and never more than its maximum.
    - Higher priorities are served first: when not every session can have its minimum,
      the lowest priorities pause (among equals, those not charging yet, then those
      that came last).
    - Sessions of one priority share equally (max-min fair across phases).
    - `previous` (what sessions got last time) is kept while it is still safe and every
      session's ideal share moved by less than the hysteresis.
    """
    previous = previous or {}
    running = _admit(demands, available_a, previous, settings)
    target = _fill(running, available_a, settings.step_a)
    result = _steady(running, target, available_a, previous, settings.hysteresis_a)
    return {demand.key: result.get(demand.key, 0.0) for demand in demands}


def _admit(
    demands: Sequence[Demand],
    available_a: Sequence[float],
    previous: Mapping[str, float],
    settings: AllocationSettings,
) -> list[Demand]:
    """The sessions that charge: as many as can have their minimum, by priority."""

    def was_charging(demand: Demand) -> bool:
        return previous.get(demand.key, 0.0) >= demand.min_a - _EPSILON

    order = sorted(demands, key=lambda d: (-d.priority, not was_charging(d), d.arrival, d.key))
    load = [0.0] * len(available_a)
    running = []
    for demand in order:
        if demand.max_a < demand.min_a or not demand.phases:
            continue  # the car cannot charge at any current allowed
        # A paused session starts only with room to spare: no start-stop flapping.
        need = demand.min_a + (0.0 if was_charging(demand) else settings.hysteresis_a)
        if all(load[p] + need <= available_a[p] + _EPSILON for p in demand.phases):
            running.append(demand)
            for phase in demand.phases:
                load[phase] += demand.min_a
    return running


def _fill(running: list[Demand], available_a: Sequence[float], step_a: float) -> dict[str, float]:
    """Raise the running sessions above their minimum: priority by priority, equally."""
    current = {demand.key: demand.min_a for demand in running}
    load = [0.0] * len(available_a)
    for demand in running:
        for phase in demand.phases:
            load[phase] += demand.min_a
    for priority in sorted({demand.priority for demand in running}, reverse=True):
        rising = [d for d in running if d.priority == priority and current[d.key] < d.max_a]
        while rising:
            # Everyone rising goes up by the same amount until a phase is full or a
            # session reaches its maximum; those stop, the others go on.
            rise = min(d.max_a - current[d.key] for d in rising)
            for phase, free in enumerate(available_a):
                sharing = sum(1 for d in rising if phase in d.phases)
                if sharing:
                    rise = min(rise, (free - load[phase]) / sharing)
            rise = max(rise, 0.0)
            for demand in rising:
                current[demand.key] += rise
                for phase in demand.phases:
                    load[phase] += rise
            full = {p for p, free in enumerate(available_a) if free - load[p] <= _EPSILON}
            rising = [
                d for d in rising if current[d.key] < d.max_a - _EPSILON and not (d.phases & full)
            ]
    return {key: _round_down(value, step_a) for key, value in current.items()}


def _round_down(value: float, step_a: float) -> float:
    return round(math.floor(value / step_a + _EPSILON) * step_a, 6)


def _steady(
    running: list[Demand],
    target: dict[str, float],
    available_a: Sequence[float],
    previous: Mapping[str, float],
    hysteresis_a: float,
) -> dict[str, float]:
    """Keep what sessions had where the new share hardly differs and it is still safe."""
    previous_running = {key for key, value in previous.items() if value > 0}
    if previous_running == set(target) and all(
        abs(previous[key] - value) < hysteresis_a for key, value in target.items()
    ):
        load = [0.0] * len(available_a)
        for demand in running:
            for phase in demand.phases:
                load[phase] += previous[demand.key]
        # A phase already over its limit (available below 0) carries none of ours: that
        # is the best that can be done there, and no reason to move anyone else.
        fits = all(load[p] <= max(free, 0.0) + _EPSILON for p, free in enumerate(available_a))
        within = all(d.min_a <= previous[d.key] <= d.max_a for d in running)
        if fits and within:
            return {key: previous[key] for key in target}
    # Otherwise move, but a session whose share rose only a little stays where it was:
    # less current than the target is always safe.
    minimum = {demand.key: demand.min_a for demand in running}
    steady = {}
    for key, value in target.items():
        before = previous.get(key, 0.0)
        keep = before >= minimum[key] and 0 < value - before < hysteresis_a
        steady[key] = before if keep else value
    return steady
