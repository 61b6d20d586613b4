"""A household day replayed through the site balancer on an accelerated clock.

The engine's `SiteBalancer` runs exactly as in Home Assistant, but its clocks, its
chargers and its meters are simulated: a house load curve (a heat pump that cycles,
breakfast, cooking, a sauna), a spring day of solar power with passing clouds, hourly
spot prices (`site_prices`), and two cars. The *commuter* is home from midnight until
07:00 and again from 17:30 until 07:00 the next morning, so the run goes on to that
morning (31 hours); it wants its energy by 07:00 and charges in the *Cheapest* mode (the
engine's plan), in *Fast* mode, or Fast held to the cheapest N whole hours by a simple
automation (`site_compare` runs all three). The *second car* is home 09:30-16:30 in *Solar
only* mode on a charger that switches between one and three phases. Every 10 simulated
seconds the meters are read, the balancer rebalances, and the chargers follow the limits
it sends.

`simulate_day()` returns one sample per tick and the summary figures; the plot is drawn
by `site_plot`, and `python -m devtools.site_compare` writes both to `docs/`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from custom_components.ocpp_csms.csms.cheapest import ChargingGoal
from custom_components.ocpp_csms.csms.commands import (
    Command,
    CommandResult,
    CommandStatus,
    SetChargingProfile,
)
from custom_components.ocpp_csms.csms.site import SiteBalancer
from custom_components.ocpp_csms.csms.site_settings import NoChargerLimits, SiteSettings
from custom_components.ocpp_csms.csms.solar import ChargingMode, SolarSettings
from custom_components.ocpp_csms.csms.station import (
    Evse,
    Measurand,
    Measurement,
    Station,
    Transaction,
)
from devtools.site_prices import (
    PUBLISHED_H,
    cheapest_hours,
    hours_needed,
    known_prices,
    price_at,
)

VOLTS = 230.0
TICK_S = 10
# From the first midnight to 07:00 the next morning, the commuter's deadline.
RUN_H = 31
MIDNIGHT = datetime(2026, 5, 12, tzinfo=UTC)
SITE = SiteSettings(
    fuse_a=20,
    margin_a=1,
    failsafe_a=6,
    grid_meter=True,
    export_meter=True,
    solar=SolarSettings(start_delay_s=120, stop_delay_s=300),
)
# A session has met its goal when at most this much of its energy is missing.
GOAL_TOLERANCE_KWH = 0.05


@dataclass(frozen=True)
class Session:
    """One visit as it went: what the car wanted, got by leaving, and what it cost."""

    arrive_h: float
    leave_h: float
    wanted_kwh: float
    delivered_kwh: float
    cost: float

    @property
    def met(self) -> bool:
        """Whether the car left with the energy it wanted."""
        return self.delivered_kwh >= self.wanted_kwh - GOAL_TOLERANCE_KWH


@dataclass
class Car:
    """A car on a charger: when it is there, what it needs, what it can take."""

    name: str
    charger_id: str
    mode: ChargingMode
    visits: list[tuple[float, float, float]]  # (arrive h, leave h, kWh wanted)
    max_a: float = 16.0
    switches_phases: bool = False
    # The ready-by time of day given as the goal of its sessions (the Cheapest mode).
    ready_at: time | None = None
    # A simple automation holds it to the cheapest whole hours before it leaves.
    cheapest_hours: bool = False
    # State while simulating.
    limit_a: float | None = None
    phases: int = 3
    wanted_kwh: float = 0.0
    delivered_kwh: float = 0.0
    from_surplus_kwh: float = 0.0
    cost: float = 0.0
    starts: int = 0  # times it started drawing
    drawing: bool = False
    visit: tuple[float, float, float] | None = None
    session_kwh: float = 0.0
    session_cost: float = 0.0
    allowed_hours: frozenset[int] | None = None
    sessions: list[Session] = field(default_factory=list)

    @property
    def strategy(self) -> str:
        """How it charges: its mode, or the automation that holds it."""
        return "cheapest_hours" if self.cheapest_hours else self.mode.value

    def visit_at(self, hour: float) -> tuple[float, float, float] | None:
        """The visit the car is on at `hour`, if it is home."""
        for visit in self.visits:
            if visit[0] <= hour < visit[1]:
                return visit
        return None

    def draw_a(self) -> float:
        """What the car draws per phase now: its limit (0 under 6 A), until it is full."""
        if self.wanted_kwh <= 0 or self.limit_a is None or self.limit_a < 6:
            return 0.0
        return min(self.limit_a, self.max_a)

    def power_kw(self) -> float:
        """Its full power on three phases."""
        return self.max_a * 3 * VOLTS / 1000

    def schedule_limit_a(self, hour: float) -> float | None:
        """The automation's limit now: full current in its hours, else 0 (None: none)."""
        if self.allowed_hours is None:
            return None
        return self.max_a if int(hour) in self.allowed_hours else 0.0


COMMUTER = Car(
    "Commuter",
    "GARAGE",
    ChargingMode.CHEAPEST,
    [(0, 7, 14), (17.5, 31, 30)],
    ready_at=time(7, 0),
)
SECOND_CAR = Car(
    "Second car", "DRIVE", ChargingMode.SOLAR_ONLY, [(9.5, 16.5, 40)], switches_phases=True
)
CARS = (COMMUTER, SECOND_CAR)


def house_a(hour: float) -> tuple[float, float, float]:
    """The house's own current per phase: base load, heat pump, kitchen, sauna.

    `hour` counts from the first midnight; the next morning is like the first.
    """
    hour %= 24
    l1 = l2 = l3 = 1.2
    if (hour * 60) % 60 < 20:  # the heat pump runs 20 minutes an hour
        l1, l2, l3 = l1 + 3.5, l2 + 3.5, l3 + 3.5
    if 6.5 <= hour < 7.5:  # kettle, shower pump, toaster
        l1 += 9
    if 12 <= hour < 12.5:  # lunch on the stove
        l2 += 6
    if 17 <= hour < 19:  # dinner: oven and stove
        l1, l2, l3 = l1 + 8, l2 + 6, l3 + 4
    if 20 <= hour < 21.5:  # a sauna, three phases
        l1, l2, l3 = l1 + 10, l2 + 10, l3 + 10
    return (l1, l2, l3)


def solar_w(hour: float) -> float:
    """A 9 kWp array on a spring day, with clouds passing around noon (every day)."""
    hour %= 24
    if not 5.5 <= hour <= 20.5:
        return 0.0
    power = 7200 * math.sin(math.pi * (hour - 5.5) / 15) ** 1.5
    five_minutes = int(hour * 12)
    if 11 <= hour < 14 and (five_minutes * 7919) % 11 < 4:  # a cloud: a third of the sun
        power /= 3
    return power


@dataclass
class Sample:
    """One tick: hour, grid current per phase, each car's current, powers in W, price.

    `planned_a`: what the plan of each car in the Cheapest mode gives at this tick.
    """

    hour: float
    grid_a: tuple[float, float, float]
    car_a: dict[str, float]
    solar_w: float
    house_w: float
    cars_w: float
    price: float = 0.0
    planned_a: dict[str, float] = field(default_factory=dict)


@dataclass
class DayResult:
    """The run's samples and the cars as they ended it."""

    samples: list[Sample] = field(default_factory=list)
    cars: tuple[Car, ...] = ()
    tick_s: int = TICK_S

    def over_fuse(self) -> list[Sample]:
        """The ticks in which the highest phase was above the main fuse."""
        return [s for s in self.samples if max(s.grid_a) > SITE.fuse_a + 1e-6]

    def summary(self) -> dict[str, Any]:
        """The figures the docs quote."""
        peak = max(self.samples, key=lambda s: max(s.grid_a))
        hours = self.tick_s / 3600
        imported = sum(max(0.0, s.house_w + s.cars_w - s.solar_w) for s in self.samples)
        exported = sum(max(0.0, s.solar_w - s.house_w - s.cars_w) for s in self.samples)
        return {
            "fuse_a": SITE.fuse_a,
            "hours": round(len(self.samples) * hours, 2),
            "peak_grid_a": round(max(peak.grid_a), 1),
            "peak_at": _clock_time(peak.hour),
            "minutes_over_fuse": round(len(self.over_fuse()) * self.tick_s / 60, 1),
            "solar_kwh": round(sum(s.solar_w for s in self.samples) * hours / 1000, 1),
            "imported_kwh": round(imported * hours / 1000, 1),
            "exported_kwh": round(exported * hours / 1000, 1),
            "cars": {
                car.name: {
                    "mode": car.strategy,
                    "delivered_kwh": round(car.delivered_kwh, 1),
                    "from_surplus_kwh": round(car.from_surplus_kwh, 1),
                    "cost": round(car.cost, 2),
                    "starts": car.starts,
                    "sessions": [
                        {
                            "arrived": _clock_time(session.arrive_h),
                            "left": _clock_time(session.leave_h),
                            "wanted_kwh": session.wanted_kwh,
                            "delivered_kwh": round(session.delivered_kwh, 2),
                            "cost": round(session.cost, 2),
                            "met": session.met,
                        }
                        for session in car.sessions
                    ],
                }
                for car in self.cars
            },
        }


def _clock_time(hour: float) -> str:
    minutes = round(hour * 60)
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


class _Limits(NoChargerLimits):
    def __init__(self, cars: Iterable[Car]) -> None:
        self._cars = {car.charger_id: car for car in cars}

    def max_current_a(self, charger_id: str) -> float:
        return self._cars[charger_id].max_a

    def mode(self, charger_id: str) -> ChargingMode:
        return self._cars[charger_id].mode

    def switches_phases(self, charger_id: str) -> bool:
        return self._cars[charger_id].switches_phases


def _measure(evse: Evse, phases: int, amps: float, at: datetime) -> None:
    for index, phase in enumerate(("L1", "L2", "L3")):
        value = amps if index < phases else 0.0
        evse.measurements[(Measurand.CURRENT_IMPORT, phase)] = Measurement(
            value, "A", at, Measurand.CURRENT_IMPORT, phase
        )


async def simulate_day(
    cars: Iterable[Car] = CARS,
    tick_s: int = TICK_S,
    *,
    hours: float = RUN_H,
    published_h: float = PUBLISHED_H,
) -> DayResult:
    """Run the balancer from the first midnight for `hours` with fresh copies of `cars`.

    Tomorrow's prices are known from `published_h` on.
    """
    cars = tuple(replace(car, visits=list(car.visits), sessions=[]) for car in cars)
    by_charger = {car.charger_id: car for car in cars}
    now = [0.0]

    async def execute(charger_id: str, command: Command) -> CommandResult:
        assert isinstance(command, SetChargingProfile)
        car = by_charger[charger_id]
        period = command.profile.periods[0]
        car.limit_a = period.limit
        car.phases = period.number_phases or 3
        return CommandResult(CommandStatus.ACCEPTED)

    site = SiteBalancer(
        SITE,
        execute,
        chargers=_Limits(cars),
        clock=lambda: now[0],
        wall_clock=lambda: MIDNIGHT + timedelta(seconds=now[0]),
    )
    # The automation's hours hold its charger, as a schedule or a current limit would.
    site.schedule_limit = lambda charger_id: by_charger[charger_id].schedule_limit_a(now[0] / 3600)
    stations = {car.charger_id: Station(car.charger_id, connected=True) for car in cars}
    result = DayResult(cars=cars, tick_s=tick_s)
    for tick in range(round(hours * 3600) // tick_s):
        now[0] = float(tick * tick_s)
        hour = now[0] / 3600
        at = MIDNIGHT + timedelta(seconds=now[0])
        prices = known_prices(MIDNIGHT, hour, published_h)
        if prices != site.cheapest.prices:  # tomorrow's were published
            site.cheapest.set_prices(prices)
        for car in cars:
            _follow_visit(car, site, stations[car.charger_id], hour, at)
        # The tick runs on the limits sent before it: the balancer answers what the
        # meters show at its start from the next tick on (10 s, like a meter's period).
        house, sun = house_a(hour), solar_w(hour)
        grid = _grid(house, cars, sun)
        sample = _sample(hour, cars, house, sun, grid)
        result.samples.append(sample)
        _charge(cars, house, sun, tick_s, sample.price)
        for car in cars:
            _read_register(car, stations[car.charger_id])
        site.set_grid((abs(grid[0]), abs(grid[1]), abs(grid[2])))
        site.set_export(-sum(grid) * VOLTS)
        await site.rebalance(stations.values())
        for car in cars:
            if (planned := site.cheapest.plans.get(f"{car.charger_id}/1")) is not None:
                sample.planned_a[car.name] = planned.plan.current_at(at)
    for car in cars:  # the cars still home leave as the run ends
        if car.visit is not None:
            _leave(car, stations[car.charger_id], hours)
    return result


def _follow_visit(
    car: Car, site: SiteBalancer, station: Station, hour: float, at: datetime
) -> None:
    """Start a session when the car arrives, end it when it leaves; report its draw."""
    evse = station.evses.setdefault(1, Evse(1))
    visit = car.visit_at(hour)
    if visit is None and evse.transaction is not None:
        _leave(car, station, hour)
    elif visit is not None and evse.transaction is None:
        _arrive(car, site, evse, visit, at)
    _measure(evse, car.phases, car.draw_a() if evse.transaction else 0.0, at)


def _arrive(
    car: Car,
    site: SiteBalancer,
    evse: Evse,
    visit: tuple[float, float, float],
    at: datetime,
) -> None:
    """The car plugs in; its goal is set as its owner (or automation) would set it."""
    evse.transaction = Transaction(
        f"{car.charger_id}-{visit[0]}", 1, 1, at, meter_start_wh=0.0, last_register_wh=0.0
    )
    car.visit = visit
    car.wanted_kwh, car.session_kwh, car.session_cost = visit[2], 0.0, 0.0
    if car.ready_at is not None and car.mode is ChargingMode.CHEAPEST:
        site.cheapest.set_goal(car.charger_id, ChargingGoal(visit[2] * 1000, ready_at=car.ready_at))
    if car.cheapest_hours:
        known = [slot.price for slot in site.cheapest.prices]  # hour by hour from midnight
        count = hours_needed(visit[2], car.power_kw())
        car.allowed_hours = cheapest_hours(known, visit[0], visit[1], count)


def _leave(car: Car, station: Station, hour: float) -> None:
    """The car leaves with what it got."""
    evse = station.evses[1]
    assert evse.transaction is not None
    assert car.visit is not None
    arrive_h, _, wanted = car.visit
    car.sessions.append(Session(arrive_h, hour, wanted, car.session_kwh, car.session_cost))
    evse.transaction = None
    car.limit_a, car.phases, car.allowed_hours, car.visit = None, 3, None, None


def _read_register(car: Car, station: Station) -> None:
    """The charger's energy register, as its meter values report it."""
    evse = station.evses.get(1)
    if evse is not None and evse.transaction is not None:
        evse.transaction.last_register_wh = car.session_kwh * 1000


def _grid(
    house: tuple[float, float, float], cars: Iterable[Car], sun_w: float
) -> tuple[float, float, float]:
    """Net current per phase at the fuse (negative: exported); solar spreads evenly."""
    per_phase = [value - sun_w / VOLTS / 3 for value in house]
    for car in cars:
        for phase in range(car.phases):
            per_phase[phase] += car.draw_a()
    return (per_phase[0], per_phase[1], per_phase[2])


def _sample(
    hour: float,
    cars: Iterable[Car],
    house: tuple[float, float, float],
    sun_w: float,
    grid: tuple[float, float, float],
) -> Sample:
    cars_w = sum(car.draw_a() * car.phases * VOLTS for car in cars)
    return Sample(
        hour,
        grid,
        {car.name: car.draw_a() for car in cars},
        sun_w,
        sum(house) * VOLTS,
        cars_w,
        price_at(hour),
    )


def _charge(
    cars: Iterable[Car], house: tuple[float, float, float], sun_w: float, tick_s: int, price: float
) -> None:
    """The energy of one tick and its cost; what the sun left after the house is surplus."""
    spare_w = max(0.0, sun_w - sum(house) * VOLTS)
    for car in cars:
        car_w = car.draw_a() * car.phases * VOLTS
        kwh = car_w * tick_s / 3600 / 1000
        if car_w > 0 and not car.drawing:
            car.starts += 1
        car.drawing = car_w > 0
        car.delivered_kwh += kwh
        car.session_kwh += kwh
        car.wanted_kwh -= kwh
        car.cost += kwh * price
        car.session_cost += kwh * price
        from_sun = min(car_w, spare_w)
        spare_w -= from_sun
        car.from_surplus_kwh += from_sun * tick_s / 3600 / 1000
