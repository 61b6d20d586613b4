"""Cheapest charging by a ready-by time: which stretches of time a session charges in.

A plan covers the time from now to the ready-by time. That time is cut where the price
changes (hourly or 15-minute prices, as the price source gives them) and where the
power allowed changes (a weekly schedule, the fuse); each piece can deliver at most its
allowed current for its length. The plan fills the cheapest pieces first, each at its
full allowed current, until the energy is planned: with prices that do not depend on
how much is drawn, no plan that delivers the same energy by the same time costs less
(and so it never costs more than charging at once, *Fast*). Among pieces of one price
the earlier goes first, so ties leave a margin before the deadline.

The last piece used is cut short rather than charged at less current: the car then
charges at a current it accepts (never below the minimum) and the plan stays a few
periods of a charging profile.

Prices not known yet (tomorrow's are published around midday) are estimated from the
same time of day one and two days earlier, else from the mean of the known prices, and
the plan says so (`Plan.estimated_wh`); without any price it plans like *Fast*. It is
planned again when prices arrive. When the time left cannot deliver the energy the plan
charges all it can and reports the shortfall (`Plan.shortfall_wh`), never hiding it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise

from .charging import MIN_CHARGING_CURRENT_A, NOMINAL_VOLTAGE_V

_HOUR_S = 3600.0
# Estimates look this far back for the same time of day.
_ESTIMATE_DAYS = (1, 2)
# A plan covers at most this long: two days of 15-minute prices are 192 pieces.
MAX_HORIZON = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class PriceSlot:
    """A price per kWh from `start` until `end` (aware datetimes)."""

    start: datetime
    end: datetime
    price: float


@dataclass(frozen=True, slots=True)
class PowerLimits:
    """What one session may draw: per phase, on `phases` phases.

    `max_current_a(start, end)` is the most current allowed over that time (the
    charger's, the car's and the site's maximum, a weekly schedule's limit); a value
    below `min_current_a` means the session cannot charge then.
    """

    max_current_a: Callable[[datetime, datetime], float]
    phases: int = 3
    min_current_a: float = MIN_CHARGING_CURRENT_A
    voltage_v: float = NOMINAL_VOLTAGE_V
    # Times where `max_current_a` may change (e.g. a schedule's rule edges).
    limit_changes: tuple[datetime, ...] = ()

    def power_w(self, current_a: float) -> float:
        """The power at `current_a` on every phase."""
        return current_a * self.phases * self.voltage_v


def constant_current(current_a: float) -> Callable[[datetime, datetime], float]:
    """A limit that does not change with time."""
    return lambda start, end: current_a


@dataclass(frozen=True, slots=True)
class PlannedSlot:
    """Charge at `current_a` from `start` to `end`, at `price` (`estimated`: not known yet)."""

    start: datetime
    end: datetime
    current_a: float
    energy_wh: float
    price: float
    estimated: bool

    @property
    def cost(self) -> float:
        """What the slot's energy costs at its price."""
        return self.energy_wh / 1000 * self.price


@dataclass(frozen=True, slots=True)
class Plan:
    """When to charge, in time order, and what it comes to."""

    slots: tuple[PlannedSlot, ...]
    needed_wh: float
    ready_by: datetime

    @property
    def energy_wh(self) -> float:
        """The energy the plan delivers."""
        return sum(slot.energy_wh for slot in self.slots)

    @property
    def shortfall_wh(self) -> float:
        """Energy the time left cannot deliver (0: the target is met)."""
        return max(0.0, self.needed_wh - self.energy_wh)

    @property
    def feasible(self) -> bool:
        """Whether the plan delivers all the energy by the ready-by time."""
        return self.shortfall_wh < 1.0  # below a watt-hour is rounding

    @property
    def cost(self) -> float:
        """The plan's cost, estimated prices included."""
        return sum(slot.cost for slot in self.slots)

    @property
    def estimated_wh(self) -> float:
        """Energy planned at prices not known yet."""
        return sum(slot.energy_wh for slot in self.slots if slot.estimated)

    @property
    def start(self) -> datetime | None:
        """When charging first starts."""
        return self.slots[0].start if self.slots else None

    @property
    def end(self) -> datetime | None:
        """When charging last ends."""
        return self.slots[-1].end if self.slots else None

    def current_at(self, moment: datetime) -> float:
        """The current planned at `moment` (0: not charging then)."""
        for slot in self.slots:
            if slot.start <= moment < slot.end:
                return slot.current_a
        return 0.0


@dataclass(frozen=True, slots=True)
class _Piece:
    start: datetime
    end: datetime
    current_a: float
    price: float
    estimated: bool

    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / _HOUR_S


def plan_cheapest(
    prices: Sequence[PriceSlot],
    *,
    now: datetime,
    ready_by: datetime,
    energy_wh: float,
    limits: PowerLimits,
) -> Plan:
    """The cheapest plan delivering `energy_wh` between `now` and `ready_by`."""
    pieces = _pieces(prices, now, ready_by, limits)
    return _fill(
        sorted(pieces, key=lambda piece: (piece.price, piece.start)), energy_wh, ready_by, limits
    )


def plan_fast(
    prices: Sequence[PriceSlot],
    *,
    now: datetime,
    ready_by: datetime,
    energy_wh: float,
    limits: PowerLimits,
) -> Plan:
    """Charging at once, as much as allowed, until the energy is delivered (*Fast*)."""
    pieces = _pieces(prices, now, ready_by, limits)
    return _fill(pieces, energy_wh, ready_by, limits)


def plan_cheapest_hours(
    prices: Sequence[PriceSlot],
    *,
    now: datetime,
    ready_by: datetime,
    energy_wh: float,
    limits: PowerLimits,
    hours: int,
) -> Plan:
    """The plain baseline: the `hours` cheapest whole hours, whatever energy is needed.

    What a simple automation does ("charge in the 4 cheapest hours"); it stops once the
    energy is delivered, and says nothing about a shortfall it cannot see.
    """
    pieces = _pieces(prices, now, ready_by, limits)
    by_hour: dict[datetime, list[_Piece]] = {}
    for piece in pieces:
        by_hour.setdefault(piece.start.replace(minute=0, second=0, microsecond=0), []).append(piece)

    def hour_price(hour: list[_Piece]) -> float:
        length = sum(piece.hours() for piece in hour)
        return sum(piece.price * piece.hours() for piece in hour) / length if length else math.inf

    chosen = sorted(by_hour, key=lambda hour: (hour_price(by_hour[hour]), hour))[:hours]
    return _fill(
        [piece for hour in sorted(chosen) for piece in by_hour[hour]], energy_wh, ready_by, limits
    )


def _fill(
    order: Iterable[_Piece], energy_wh: float, ready_by: datetime, limits: PowerLimits
) -> Plan:
    """Take pieces in `order` at their full current until `energy_wh` is planned."""
    left = max(0.0, energy_wh)
    chosen: list[PlannedSlot] = []
    cut: _Piece | None = None
    for piece in order:
        if left <= 0:
            break
        power_w = limits.power_w(piece.current_a)
        deliverable = power_w * piece.hours()
        end = piece.end
        if deliverable > left:
            # Cut short; its energy from its length as kept (to the microsecond).
            end = piece.start + timedelta(hours=left / power_w)
            if end <= piece.start:
                break  # less than a microsecond's worth is left
            deliverable = power_w * (end - piece.start).total_seconds() / _HOUR_S
            cut = piece
        chosen.append(
            PlannedSlot(
                piece.start, end, piece.current_a, deliverable, piece.price, piece.estimated
            )
        )
        left -= deliverable
    if cut is not None:
        chosen[-1] = _next_to_neighbour(chosen[-1], cut, chosen[:-1])
    return Plan(_merged(sorted(chosen, key=lambda slot: slot.start)), energy_wh, ready_by)


def _next_to_neighbour(slot: PlannedSlot, piece: _Piece, others: list[PlannedSlot]) -> PlannedSlot:
    """A stretch cut short sits at the end of its piece when only what follows is planned.

    Same price and energy either way, but no pause (and start again) in between.
    """
    follows = any(other.start == piece.end for other in others)
    precedes = any(other.end == piece.start for other in others)
    if not follows or precedes:
        return slot
    length = slot.end - slot.start
    return replace(slot, start=piece.end - length, end=piece.end)


def _merged(slots: list[PlannedSlot]) -> tuple[PlannedSlot, ...]:
    """Adjacent slots at one current and price become one."""
    merged: list[PlannedSlot] = []
    for slot in slots:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.end == slot.start
            and last.current_a == slot.current_a
            and last.price == slot.price
            and last.estimated == slot.estimated
        ):
            merged[-1] = PlannedSlot(
                last.start,
                slot.end,
                slot.current_a,
                last.energy_wh + slot.energy_wh,
                slot.price,
                slot.estimated,
            )
        else:
            merged.append(slot)
    return tuple(merged)


def _pieces(
    prices: Sequence[PriceSlot], now: datetime, ready_by: datetime, limits: PowerLimits
) -> list[_Piece]:
    """The time from `now` to `ready_by`, cut where the price or the limit changes."""
    end = min(ready_by, now + MAX_HORIZON)
    if end <= now:
        return []  # the deadline has passed: no time left to plan in
    known: list[PriceSlot] = []
    for slot in sorted(prices, key=lambda slot: slot.start):
        usable = slot.end > slot.start and math.isfinite(slot.price)
        if usable and (not known or slot.start >= known[-1].end):  # the first one wins
            known.append(slot)
    cuts = {now, end}
    for slot in known:
        cuts.update(moment for moment in (slot.start, slot.end) if now < moment < end)
    cuts.update(moment for moment in limits.limit_changes if now < moment < end)
    # Unknown stretches are cut at whole hours, so estimates follow the day's shape.
    hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while hour < end:
        cuts.add(hour)
        hour += timedelta(hours=1)
    edges = sorted(cuts)
    fallback = sum(slot.price for slot in known) / len(known) if known else 0.0
    pieces: list[_Piece] = []
    for start, stop in pairwise(edges):
        current_a = limits.max_current_a(start, stop)
        if current_a < limits.min_current_a:
            continue
        price = _price_at(known, start)
        estimated = price is None
        if price is None:
            price = _estimate(known, start, fallback)
        pieces.append(_Piece(start, stop, current_a, price, estimated))
    return pieces


def _price_at(known: Sequence[PriceSlot], moment: datetime) -> float | None:
    """The price at `moment` in `known` (sorted by start, without overlaps)."""
    index = bisect_right(known, moment, key=lambda slot: slot.start) - 1
    if index >= 0 and moment < known[index].end:
        return known[index].price
    return None


def _estimate(known: Sequence[PriceSlot], moment: datetime, fallback: float) -> float:
    for days in _ESTIMATE_DAYS:
        if (price := _price_at(known, moment - timedelta(days=days))) is not None:
            return price
    return fallback
