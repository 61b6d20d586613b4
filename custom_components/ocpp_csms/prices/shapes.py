"""Electricity prices in the shapes Home Assistant's price integrations give them.

A price sensor's attributes, or an action's response, hold lists of time slots. The
integrations spell them differently; `read_prices` finds every such list (a few levels
deep) and reads each item by the first key it knows of each kind:

- Nord Pool, custom (`raw_today`, `raw_tomorrow`):
  `{"start": ..., "end": ..., "value": 0.31}`;
- Nord Pool, core (action `nordpool.get_prices_for_date`, a list per area):
  `{"start": ..., "end": ..., "price": 310.5}`, per MWh;
- ENTSO-E (`prices_today`, `prices_tomorrow`, `prices`): `{"time": ..., "price": 0.31}`;
- EPEX Spot (`data`): `{"start_time": ..., "end_time": ..., "price_per_kwh": 0.31}`;
- Tibber (action `tibber.get_prices`, a list per home): `{"start_time": ..., "price": 0.31}`;
- Energi Data Service (`raw_today`, `raw_tomorrow`): `{"hour": ..., "price": 2.1}`;
- Octopus Energy (`rates`): `{"start": ..., "end": ..., "value_inc_vat": 0.25}`.

Times are ISO 8601 text or datetimes; one without an offset is in `local_zone`. An item
without an end lasts until the next item's start, the last one as long as the step
between items (an hour when there is one item). Prices are per kWh: a key or a `unit`
that says MWh divides by 1,000, one in cents (`price_ct_per_kwh`) by 100.

Anything else is skipped: items that are not mappings, times that do not parse,
prices that are not finite numbers. What comes back is sorted, without overlaps (the
first slot for a time wins), and bounded: a sensor cannot make us hold more than
`MAX_SLOTS` slots or look at more than `MAX_ITEMS` items.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any

from ..csms.price_plan import PriceSlot

# Two days of 15-minute prices are 192 slots; a week of them is 672.
MAX_SLOTS = 1000
MAX_ITEMS = 5000
_MAX_DEPTH = 3

_START_KEYS = ("start", "start_time", "startsAt", "from", "valid_from", "time", "hour")
_END_KEYS = ("end", "end_time", "endsAt", "till", "to", "valid_to")
# Key -> what one unit of the value is in per kWh.
_PRICE_KEYS: tuple[tuple[str, float], ...] = (
    ("price_per_kwh", 1.0),
    ("value_inc_vat", 1.0),
    ("total", 1.0),
    ("value", 1.0),
    ("price", 1.0),
    ("price_ct_per_kwh", 0.01),
    ("price_eur_per_mwh", 0.001),
)
_DEFAULT_STEP = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class _Item:
    start: datetime
    end: datetime | None
    price: float


def read_prices(
    source: Mapping[str, Any], local_zone: tzinfo, *, per_mwh: bool | None = None
) -> list[PriceSlot]:
    """Every price slot found in `source` (attributes or an action's response).

    `per_mwh`: the values are per MWh (None: as the keys or a `unit` say).
    """
    if per_mwh is None:
        per_mwh = _says_mwh(source)
    items = list(_items(_lists_in(source, 0), local_zone, 1 / 1000 if per_mwh else 1.0))
    return _slots(items)


def _says_mwh(source: Mapping[str, Any]) -> bool:
    for key in ("unit", "unit_of_measurement", "price_unit"):
        unit = source.get(key)
        if isinstance(unit, str) and "mwh" in unit.lower():
            return True
    return False


def _lists_in(value: Any, depth: int) -> Iterator[Sequence[Any]]:
    """The lists of mappings in `value`, a few levels down (bounded)."""
    if isinstance(value, Mapping):
        if depth >= _MAX_DEPTH:
            return
        for inner in value.values():
            yield from _lists_in(inner, depth + 1)
    elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
        yield value


def _items(lists: Iterable[Sequence[Any]], zone: tzinfo, scale: float) -> Iterator[_Item]:
    seen = 0
    for items in lists:
        for raw in items:
            seen += 1
            if seen > MAX_ITEMS:
                return
            if isinstance(raw, Mapping) and (item := _item(raw, zone, scale)) is not None:
                yield item


def _item(raw: Mapping[str, Any], zone: tzinfo, scale: float) -> _Item | None:
    start = _first_time(raw, _START_KEYS, zone)
    if start is None:
        return None
    for key, unit in _PRICE_KEYS:
        if key in raw:
            price = _number(raw[key])
            if price is None:
                return None
            return _Item(start, _first_time(raw, _END_KEYS, zone), price * unit * scale)
    return None


def _first_time(raw: Mapping[str, Any], keys: Sequence[str], zone: tzinfo) -> datetime | None:
    for key in keys:
        if key in raw:
            return _time(raw[key], zone)
    return None


def _time(value: Any, zone: tzinfo) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and len(value) <= 32:
        try:
            value = float(value.replace(",", "."))
        except ValueError:
            return None
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) and abs(number) < 1e6 else None
    return None


def _slots(items: list[_Item]) -> list[PriceSlot]:
    """Sorted slots, each ending where its item says or where the next begins."""
    items.sort(key=lambda item: item.start)
    starts = [item.start for item in items]
    steps = [later - earlier for earlier, later in pairwise(starts)]
    step = min((gap for gap in steps if gap > timedelta(0)), default=_DEFAULT_STEP)
    slots: list[PriceSlot] = []
    for index, item in enumerate(items):
        end = item.end
        if end is None:
            following = next((s for s in starts[index + 1 :] if s > item.start), None)
            end = following if following is not None else item.start + step
        if end <= item.start or (slots and item.start < slots[-1].end):
            continue  # empty, or overlapping a slot already taken
        slots.append(PriceSlot(item.start, end, item.price))
        if len(slots) >= MAX_SLOTS:
            break
    return slots
