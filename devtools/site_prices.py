"""The simulated day's electricity prices, and the plain "cheapest N hours" automation.

Prices are hourly spot prices in SEK/kWh (a Swedish bidding zone, before grid fee,
energy tax and VAT), shaped like a Nordic spring weekday: cheap at night, a morning
peak, a dip at noon when the sun shines, and the dearest hours in the evening when
everybody cooks. The second night is windier, so cheaper. Like day-ahead prices they
are published the day before: tomorrow's are known from 13:00 (`known_prices`).

`cheapest_hours` is what a simple automation does for comparison, outside the engine:
when the car arrives, take the N cheapest whole hours before its ready-by time, N the
whole hours its energy needs at the charger's full power, and hold the charger at 0 A
outside them (the simulation applies that as the charger's schedule limit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from custom_components.ocpp_csms.csms.price_plan import PriceSlot

CURRENCY = "SEK"
# Hour by hour from midnight, the simulated day and the next.
TODAY = (
    0.46, 0.38, 0.33, 0.31, 0.32, 0.41, 0.78, 1.34, 1.56, 1.21, 0.88, 0.62,
    0.45, 0.39, 0.42, 0.57, 0.94, 1.48, 1.96, 2.24, 1.89, 1.37, 0.98, 0.74,
)  # fmt: skip
TOMORROW = (
    0.55, 0.41, 0.27, 0.21, 0.19, 0.30, 0.83, 1.41, 1.62, 1.25, 0.91, 0.66,
    0.47, 0.40, 0.44, 0.61, 1.02, 1.55, 2.05, 2.31, 1.93, 1.40, 1.01, 0.79,
)  # fmt: skip
HOURLY = TODAY + TOMORROW
# When tomorrow's prices are published (hours after midnight).
PUBLISHED_H = 13.0


def price_at(hour: float) -> float:
    """The price in the hour `hour` (hours since the first midnight)."""
    return HOURLY[int(hour)]


def known_prices(
    midnight: datetime, hour: float, published_h: float = PUBLISHED_H
) -> tuple[PriceSlot, ...]:
    """The slots known at `hour`: today's, and tomorrow's once published (`published_h`)."""
    known = len(HOURLY) if hour >= published_h else len(TODAY)
    return tuple(
        PriceSlot(midnight + timedelta(hours=n), midnight + timedelta(hours=n + 1), HOURLY[n])
        for n in range(known)
    )


def hours_needed(energy_kwh: float, power_kw: float) -> int:
    """The whole hours `energy_kwh` takes at `power_kw` (what the automation is told)."""
    return math.ceil(energy_kwh / power_kw - 1e-9)


def cheapest_hours(
    prices: Sequence[float], arrive_h: float, leave_h: float, count: int
) -> frozenset[int]:
    """The `count` cheapest whole hours from `arrive_h` to `leave_h` (earlier on ties)."""
    hours = [h for h in range(math.ceil(arrive_h), math.floor(leave_h)) if h < len(prices)]
    return frozenset(sorted(hours, key=lambda h: (prices[h], h))[:count])
