"""A household day replayed through the site balancer on an accelerated clock.

The engine's `SiteBalancer` runs exactly as in Home Assistant, but its clock, its
chargers and its meters are simulated: a house load curve (a heat pump that cycles,
breakfast, cooking, a sauna), a spring day of solar power with passing clouds, and two
cars. The *commuter* charges overnight in Fast mode (home from the evening before until
07:00, back at 17:30); the *second car* is home 09:30-16:30 in *Solar only* mode on a
charger that switches between one and three phases. Every 10 simulated seconds the
meters are read, the balancer rebalances, and the chargers follow the limits it sends.

`simulate_day()` returns one sample per tick and the summary figures; the plot is drawn
by `site_plot`, and `python -m devtools.site_day` writes both to `docs/`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from custom_components.ocpp_csms.csms.commands import (
    Command,
    CommandResult,
    CommandStatus,
    SetChargingProfile,
)
from custom_components.ocpp_csms.csms.site import NoChargerLimits, SiteBalancer, SiteSettings
from custom_components.ocpp_csms.csms.solar import ChargingMode, SolarSettings
from custom_components.ocpp_csms.csms.station import (
    Evse,
    Measurand,
    Measurement,
    Station,
    Transaction,
)

VOLTS = 230.0
TICK_S = 10
DAY_S = 24 * 3600
MIDNIGHT = datetime(2026, 5, 12, tzinfo=UTC)
SITE = SiteSettings(
    fuse_a=20,
    margin_a=1,
    failsafe_a=6,
    grid_meter=True,
    export_meter=True,
    solar=SolarSettings(start_delay_s=120, stop_delay_s=300),
)


@dataclass
class Car:
    """A car on a charger: when it is there, what it needs, what it can take."""

    name: str
    charger_id: str
    mode: ChargingMode
    visits: list[tuple[float, float, float]]  # (arrive h, leave h, kWh wanted)
    max_a: float = 16.0
    switches_phases: bool = False
    # State while simulating.
    limit_a: float | None = None
    phases: int = 3
    wanted_kwh: float = 0.0
    delivered_kwh: float = 0.0
    from_surplus_kwh: float = 0.0

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


CARS = (
    Car("Commuter", "GARAGE", ChargingMode.FAST, [(0, 7, 14), (17.5, 24, 30)]),
    Car("Second car", "DRIVE", ChargingMode.SOLAR_ONLY, [(9.5, 16.5, 40)], switches_phases=True),
)


def house_a(hour: float) -> tuple[float, float, float]:
    """The house's own current per phase: base load, heat pump, kitchen, sauna."""
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
    """A 9 kWp array on a spring day, with clouds passing around noon."""
    if not 5.5 <= hour <= 20.5:
        return 0.0
    power = 7200 * math.sin(math.pi * (hour - 5.5) / 15) ** 1.5
    five_minutes = int(hour * 12)
    if 11 <= hour < 14 and (five_minutes * 7919) % 11 < 4:  # a cloud: a third of the sun
        power /= 3
    return power


@dataclass
class Sample:
    """One tick: hour, grid current per phase, each car's current, powers in W."""

    hour: float
    grid_a: tuple[float, float, float]
    car_a: dict[str, float]
    solar_w: float
    house_w: float
    cars_w: float


@dataclass
class DayResult:
    """The day's samples and the cars as they ended it."""

    samples: list[Sample] = field(default_factory=list)
    cars: tuple[Car, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The figures the docs quote."""
        peak = max(self.samples, key=lambda s: max(s.grid_a))
        over = [s for s in self.samples if max(s.grid_a) > SITE.fuse_a + 1e-6]
        hours = TICK_S / 3600
        imported = sum(max(0.0, s.house_w + s.cars_w - s.solar_w) for s in self.samples)
        exported = sum(max(0.0, s.solar_w - s.house_w - s.cars_w) for s in self.samples)
        return {
            "fuse_a": SITE.fuse_a,
            "peak_grid_a": round(max(peak.grid_a), 1),
            "peak_at": f"{int(peak.hour):02d}:{int(peak.hour * 60 % 60):02d}",
            "minutes_over_fuse": round(len(over) * TICK_S / 60, 1),
            "solar_kwh": round(sum(s.solar_w for s in self.samples) * hours / 1000, 1),
            "imported_kwh": round(imported * hours / 1000, 1),
            "exported_kwh": round(exported * hours / 1000, 1),
            "cars": {
                car.name: {
                    "mode": car.mode.value,
                    "delivered_kwh": round(car.delivered_kwh, 1),
                    "from_surplus_kwh": round(car.from_surplus_kwh, 1),
                }
                for car in self.cars
            },
        }


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


async def simulate_day(cars: Iterable[Car] = CARS, tick_s: int = TICK_S) -> DayResult:
    """Run the balancer through one day with fresh copies of `cars`."""
    cars = tuple(replace(car, visits=list(car.visits)) for car in cars)
    by_charger = {car.charger_id: car for car in cars}
    now = [0.0]

    async def execute(charger_id: str, command: Command) -> CommandResult:
        assert isinstance(command, SetChargingProfile)
        car = by_charger[charger_id]
        period = command.profile.periods[0]
        car.limit_a = period.limit
        car.phases = period.number_phases or 3
        return CommandResult(CommandStatus.ACCEPTED)

    site = SiteBalancer(SITE, execute, chargers=_Limits(cars), clock=lambda: now[0])
    stations = {car.charger_id: Station(car.charger_id, connected=True) for car in cars}
    result = DayResult(cars=cars)
    for tick in range(DAY_S // tick_s):
        now[0] = float(tick * tick_s)
        hour = now[0] / 3600
        at = MIDNIGHT + timedelta(seconds=now[0])
        for car in cars:
            _follow_visit(car, stations[car.charger_id], hour, at)
        # The tick runs on the limits sent before it: the balancer answers what the
        # meters show at its start from the next tick on (10 s, like a meter's period).
        house, sun = house_a(hour), solar_w(hour)
        grid = _grid(house, cars, sun)
        result.samples.append(_sample(hour, cars, house, sun, grid))
        _charge(cars, house, sun, tick_s)
        site.set_grid((abs(grid[0]), abs(grid[1]), abs(grid[2])))
        site.set_export(-sum(grid) * VOLTS)
        await site.rebalance(stations.values())
    return result


def _follow_visit(car: Car, station: Station, hour: float, at: datetime) -> None:
    """Start a session when the car arrives, end it when it leaves; report its draw."""
    evse = station.evses.setdefault(1, Evse(1))
    visit = car.visit_at(hour)
    if visit is None and evse.transaction is not None:
        evse.transaction = None
        car.limit_a, car.phases = None, 3
    elif visit is not None and evse.transaction is None:
        evse.transaction = Transaction(f"{car.charger_id}-{visit[0]}", 1, 1, at)
        car.wanted_kwh = visit[2]
    _measure(evse, car.phases, car.draw_a() if evse.transaction else 0.0, at)


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
    )


def _charge(
    cars: Iterable[Car], house: tuple[float, float, float], sun_w: float, tick_s: int
) -> None:
    """The energy of one tick; what the sun left after the house counts as surplus."""
    spare_w = max(0.0, sun_w - sum(house) * VOLTS)
    for car in cars:
        car_w = car.draw_a() * car.phases * VOLTS
        kwh = car_w * tick_s / 3600 / 1000
        car.delivered_kwh += kwh
        car.wanted_kwh -= kwh
        from_sun = min(car_w, spare_w)
        spare_w -= from_sun
        car.from_surplus_kwh += from_sun * tick_s / 3600 / 1000


def main() -> None:
    """Simulate, then write docs/site-day.png and docs/site-simulation.md."""
    from devtools.site_plot import write_docs  # noqa: PLC0415  (Pillow only when plotting)

    result = asyncio.run(simulate_day())
    write_docs(result)


if __name__ == "__main__":
    main()
