"""Draw the simulated household day (PNG, with Pillow) and write its page in docs/.

Pillow comes with Home Assistant, so the plot needs nothing installed beyond the
project's own requirements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from devtools.site_compare import comparison
from devtools.site_day import RUN_H, SITE, DayResult, Sample
from devtools.site_prices import CURRENCY, HOURLY, PUBLISHED_H

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDTH, HEIGHT = 1200, 1130
LEFT, RIGHT = 135, 60
# (top, bottom) of the currents, the prices with the commuter's plan, and the powers.
CURRENTS, PRICES, POWERS = (40, 360), (420, 660), (820, 1070)
# Where each run of the comparison shows when the commuter charges.
TIMELINE = 710
COLOURS = {
    "fuse": (200, 30, 30),
    "grid": (40, 40, 40),
    "Commuter": (30, 110, 220),
    "Second car": (20, 160, 80),
    "planned": (170, 200, 245),
    "price": (200, 90, 20),
    "solar": (240, 170, 0),
    "house": (120, 120, 120),
    "cars": (150, 60, 200),
    "Fast": (210, 70, 130),
    "Cheapest": (30, 110, 220),
    "Cheapest N hours": (0, 150, 150),
}
# The run whose day the currents and powers show.
SHOWN = "Cheapest"

type Series = tuple[str, Callable[[Sample], float], tuple[int, int, int]]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def _x_of(hour: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * hour / RUN_H


@dataclass(frozen=True)
class _Frame:
    """A panel's box and its value range; the hours run along x."""

    top: int
    bottom: int
    low: float
    high: float

    def y_of(self, value: float) -> float:
        clamped = min(max(value, self.low), self.high)
        return self.bottom - (self.bottom - self.top) * (clamped - self.low) / (
            self.high - self.low
        )


def _hours(draw: ImageDraw.ImageDraw, top: int, bottom: int, *, labels: bool = True) -> None:
    """The vertical hour lines (every two hours; midnight darker) and their times."""
    if labels:
        draw.text((_x_of(24) + 4, top + 26), "next day", fill=(110, 110, 110), font=_font(13))
    font = _font(14)
    for hour in range(RUN_H + 1):
        x = _x_of(hour)
        if hour % 24 == 0 and 0 < hour < RUN_H:
            draw.line([(x, top), (x, bottom)], fill=(150, 150, 150))
        elif hour % 2 == 0:
            draw.line([(x, top), (x, bottom)], fill=(235, 235, 235))
        if labels and hour % 2 == 0:
            draw.text(
                (x, bottom + 6), f"{hour % 24:02d}:00", fill=(60, 60, 60), font=font, anchor="mt"
            )


def _axis(
    draw: ImageDraw.ImageDraw, frame: _Frame, step: float, unit: str, *, right: bool = False
) -> None:
    """Value labels on the left (with grid lines) or on the right."""
    font = _font(14)
    value = frame.low
    while value <= frame.high + 1e-9:
        y = frame.y_of(value)
        if right:
            label = f"{value:.2f}"
            draw.text((WIDTH - RIGHT + 6, y), label, fill=COLOURS["price"], font=font, anchor="lm")
        else:
            draw.line([(LEFT, y), (WIDTH - RIGHT, y)], fill=(225, 225, 225))
            draw.text((LEFT - 8, y), f"{value:g} {unit}", fill=(60, 60, 60), font=font, anchor="rm")
        value += step


def _legend(
    draw: ImageDraw.ImageDraw, top: int, entries: Sequence[tuple[str, tuple[int, int, int]]]
) -> None:
    font = _font(14)
    x = LEFT + 10
    for name, colour in entries:
        draw.rectangle([(x, top + 8), (x + 14, top + 20)], fill=colour)
        draw.text((x + 20, top + 6), name, fill=(0, 0, 0), font=font)
        x += 30 + int(draw.textlength(name, font=font))


def _line(
    draw: ImageDraw.ImageDraw,
    frame: _Frame,
    samples: Sequence[Sample],
    value_of: Callable[[Sample], float],
    colour: tuple[int, int, int],
) -> None:
    points = [(_x_of(s.hour), frame.y_of(value_of(s))) for s in samples]
    draw.line(points, fill=colour, width=2)


def _panel(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int],
    samples: Sequence[Sample],
    series: Sequence[Series],
    *,
    y_range: tuple[float, float],
    title: str,
    unit: str,
) -> None:
    frame = _Frame(box[0], box[1], *y_range)
    draw.text((LEFT, frame.top - 28), title, fill=(0, 0, 0), font=_font(18))
    _axis(draw, frame, 5 if frame.high - frame.low <= 40 else 10, unit)
    _hours(draw, frame.top, frame.bottom)
    draw.rectangle([(LEFT, frame.top), (WIDTH - RIGHT, frame.bottom)], outline=(150, 150, 150))
    for _, value_of, colour in series:
        _line(draw, frame, samples, value_of, colour)
    _legend(draw, frame.top, [(name, colour) for name, _, colour in series])


def _price_panel(draw: ImageDraw.ImageDraw, samples: Sequence[Sample]) -> None:
    """The price (right axis) and the commuter's planned and delivered current."""
    currents = _Frame(PRICES[0], PRICES[1], 0, 20)
    prices = _Frame(PRICES[0], PRICES[1], 0, 2.5)
    draw.text(
        (LEFT, currents.top - 28),
        "Spot price, and the Commuter's plan in the Cheapest mode (ready by 07:00)",
        fill=(0, 0, 0),
        font=_font(18),
    )
    _axis(draw, currents, 5, "A")
    _axis(draw, prices, 0.5, f"{CURRENCY}/kWh", right=True)
    draw.text(
        (WIDTH - 4, prices.top - 10),
        f"{CURRENCY}/kWh",
        fill=COLOURS["price"],
        font=_font(14),
        anchor="rb",
    )
    _hours(draw, currents.top, currents.bottom)
    # The plan's current as a filled area, what the car drew as a line over it.
    for sample, following in pairwise(samples):
        planned = sample.planned_a.get("Commuter", 0.0)
        if planned > 0:
            draw.rectangle(
                [
                    (_x_of(sample.hour), currents.y_of(planned)),
                    (_x_of(following.hour), currents.bottom),
                ],
                fill=COLOURS["planned"],
            )
    _line(draw, currents, samples, lambda s: s.car_a["Commuter"], COLOURS["Commuter"])
    steps: list[tuple[float, float]] = []
    for hour in range(RUN_H):
        y = prices.y_of(HOURLY[hour])
        steps += [(_x_of(hour), y), (_x_of(hour + 1), y)]
    draw.line(steps, fill=COLOURS["price"], width=2)
    draw.rectangle(
        [(LEFT, currents.top), (WIDTH - RIGHT, currents.bottom)], outline=(150, 150, 150)
    )
    _legend(
        draw,
        currents.top,
        [
            ("planned current", COLOURS["planned"]),
            ("delivered current", COLOURS["Commuter"]),
            (f"price ({CURRENCY}/kWh, right axis)", COLOURS["price"]),
        ],
    )


def _timeline(draw: ImageDraw.ImageDraw, runs: Mapping[str, DayResult]) -> None:
    """One bar per run: when the commuter drew current."""
    font = _font(14)
    draw.text(
        (LEFT, TIMELINE - 24),
        "When the Commuter charges, each way",
        fill=(0, 0, 0),
        font=_font(16),
    )
    for row, (name, result) in enumerate(runs.items()):
        top = TIMELINE + row * 22
        colour = COLOURS.get(name, COLOURS["grid"])
        draw.text((LEFT - 8, top + 7), name, fill=(0, 0, 0), font=font, anchor="rm")
        draw.rectangle([(LEFT, top), (WIDTH - RIGHT, top + 14)], fill=(245, 245, 245))
        for sample, following in pairwise(result.samples):
            if sample.car_a["Commuter"] > 0:
                draw.rectangle(
                    [(_x_of(sample.hour), top), (_x_of(following.hour), top + 14)], fill=colour
                )
    _hours(draw, TIMELINE, TIMELINE + 22 * len(runs) - 8, labels=False)


def _car_current(name: str) -> Callable[[Sample], float]:
    return lambda sample: sample.car_a[name]


def plot(runs: Mapping[str, DayResult], path: Path) -> None:
    """The shown run's currents, the price with its plan, each run's charging, powers."""
    result = runs[SHOWN]
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    fuse = float(SITE.fuse_a)
    currents: list[Series] = [
        ("main fuse", lambda s: fuse, COLOURS["fuse"]),
        ("grid, highest phase", lambda s: max(s.grid_a), COLOURS["grid"]),
    ]
    currents += [
        (f"{car.name} ({car.strategy})", _car_current(car.name), COLOURS[car.name])
        for car in result.cars
    ]
    _panel(
        draw,
        CURRENTS,
        result.samples,
        currents,
        y_range=(-15, 25),
        title="Current per phase",
        unit="A",
    )
    _price_panel(draw, result.samples)
    _timeline(draw, runs)
    powers: list[Series] = [
        ("solar", lambda s: s.solar_w / 1000, COLOURS["solar"]),
        ("house", lambda s: s.house_w / 1000, COLOURS["house"]),
        ("cars", lambda s: s.cars_w / 1000, COLOURS["cars"]),
    ]
    _panel(draw, POWERS, result.samples, powers, y_range=(0, 25), title="Power", unit="kW")
    image.save(path, optimize=True)


def _table(figures: Mapping[str, Mapping[str, Any]]) -> str:
    head = (
        f"| Commuter | Cost of the run ({CURRENCY}) | Night session ({CURRENCY}) "
        f"| kWh by 07:00 (wanted) | Goal met | Mean price ({CURRENCY}/kWh) | Starts | Peak grid "
        "| Above the fuse |\n| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n"
    )
    return head + "\n".join(
        f"| {name} | {row['cost']:.2f} | {row['night_cost']:.2f} "
        f"| {row['kwh_by_deadline']:.1f} ({row['night_wanted_kwh']:g}) "
        f"| {'yes' if row['goal_met'] else '**no**'} | {row['mean_price']:.2f} "
        f"| {row['starts']} | {row['peak_grid_a']} A | {row['minutes_over_fuse']} min |"
        for name, row in figures.items()
    )


_WHAT_IFS = """
### What if

The night needs nearly all of N whole hours (32 kWh; N is still 3), or tomorrow's prices
come only at midnight (a price source that gives only today's, or a late auction):
"""
_WHAT_IFS_SAY = """
With 32 kWh wanted, the automation's three hours deliver less, because the heat pump
takes its share, and the car leaves short (paying a little less for less energy). The
Cheapest mode plans for the energy, so it goes on a few minutes into the next cheapest
time. With tomorrow's prices only at midnight, the Cheapest mode plans the night on
estimates (the same hours a day earlier) and plans again when the prices come; here the
estimates already pointed at the cheap hours, so its night costs what it costs with the
prices known at 13:00. The automation, choosing when the car arrives, sees only the
evening's prices: it charges from 21:00, partly during the sauna, and the car leaves
short, having paid several times as much.
"""


def _times_as_dear(figures: Mapping[str, Mapping[str, Any]]) -> str:
    """How many times the Cheapest night's cost Fast's night costs."""
    fast, cheapest = figures.get("Fast"), figures.get("Cheapest")
    if not fast or not cheapest or cheapest["night_cost"] <= 0:
        return "many"
    return f"{fast['night_cost'] / cheapest['night_cost']:.1f}"


def _saving(figures: Mapping[str, Mapping[str, Any]]) -> str:
    """What the Cheapest night saves on the automation's, in money and per cent."""
    hours, cheapest = figures.get("Cheapest N hours"), figures.get("Cheapest")
    if not hours or not cheapest or hours["night_cost"] <= 0:
        return "by nothing to compare"
    saved = hours["night_cost"] - cheapest["night_cost"]
    return f"{saved:.2f} {CURRENCY} a night, {100 * saved / hours['night_cost']:.0f} %"


def write_docs(
    runs: Mapping[str, DayResult],
    what_ifs: Mapping[str, DayResult] | None = None,
    docs: Path = DOCS,
) -> dict[str, object]:
    """Write the plot and the page with the figures; returns them."""
    summary = runs[SHOWN].summary()
    figures = comparison(runs)
    extra = comparison(what_ifs or {})
    plot(runs, docs / "site-day.png")
    rows = "\n".join(
        f"| {name} | {car['mode']} | {car['delivered_kwh']} | {car['from_surplus_kwh']} |"
        for name, car in summary["cars"].items()
    )
    prices = ", ".join(f"{price:.2f}" for price in HOURLY[:RUN_H])
    what_if_section = f"{_WHAT_IFS}\n{_table(extra)}\n{_WHAT_IFS_SAY}" if extra else ""
    page = _PAGE.format(
        fuse=f"{summary['fuse_a']:g}",
        currency=CURRENCY,
        published=f"{PUBLISHED_H:02.0f}:00",
        prices=prices,
        summary=summary,
        rows=rows,
        comparison=_table(figures),
        what_ifs=what_if_section,
        times=_times_as_dear(figures),
        saving=_saving(figures),
        figures=json.dumps({"comparison": figures, "what_ifs": extra, "day": summary}, indent=2),
    )
    (docs / "site-simulation.md").write_text(page)
    return {"comparison": figures, "what_ifs": extra, "day": summary}


_PAGE = """\
# A household day, simulated

Made by `scripts/simulate-site` (`devtools/site_compare.py` runs `devtools/site_day.py`
several ways; prices and the plain automation in `devtools/site_prices.py`; plot by
`devtools/site_plot.py`): the engine's site balancer, unchanged, on a simulated clock
with simulated meters and chargers. A {fuse} A main fuse
with a 1 A margin and a grid meter per phase; a heat pump that runs 20 minutes an hour,
breakfast, lunch, dinner and a sauna at 20:00; a 9 kWp array on a spring day with clouds
around noon. The run starts at midnight and ends at 07:00 the next morning (31 hours).

The *Commuter* (16 A, three phases) is home until 07:00 wanting 14 kWh (what the night
before left to do), and from 17:30, in the evening's dearest hours, until 07:00 the next
morning, wanting 30 kWh. Its goal in the Cheapest mode: that energy by 07:00. The *Second
car* is home 09:30-16:30 in Solar only mode on a charger that switches between one and
three phases. Each tick is 10 s.

Prices are hourly spot prices in {currency}/kWh (before grid fee, energy tax and VAT),
shaped like a Nordic spring weekday: cheap at night, peaks in the morning and the
evening, a dip at noon; the second night is windier. Like day-ahead prices, tomorrow's
are known from {published}. Hour by hour from the first midnight to 07:00:
{prices}.

![The grid current against the fuse, the price with the Commuter's plan, when each way
charges, and the powers](site-day.png)

The picture shows the day with the Commuter in the Cheapest mode; the bars below the
price show when the Commuter charged in each of the three runs.

## Fast, Cheapest, or the cheapest N hours

The same day three times, only the Commuter charging differently:

- **Fast**: as soon as it is plugged in, as much as the fuse allows.
- **Cheapest**: the engine's mode (`csms/cheapest.py` through the balancer), with a goal of
  the session's energy by 07:00.
- **Cheapest N hours**: Fast, held at 0 A outside the N cheapest whole hours before
  07:00 by a plain automation (N: the whole hours the energy takes at 16 A, 11 kW),
  chosen when the car arrives from the prices known then (here a limit the simulation
  applies as the charger's schedule limit, outside the engine).

{comparison}

The cost is each tick's energy at that hour's price, over the whole run (both sessions);
"Night session" is the evening's session alone, "kWh by 07:00" what it had when the car
left. "Goal met": both sessions had their energy by 07:00. "Starts": how often the car
started drawing current. Peak grid current and time above the fuse are the site's, over
the whole run.

- Fast charges in the evening peak: its night costs {times} times as much.
- Cheapest and the cheapest N hours charge in the same cheap night hours, and Cheapest
  is a little cheaper ({saving}):
  it fills the cheapest hours first and cuts the dearest of them short, where the
  automation charges its hours in time order and stops when the car is full, in its
  cheapest hour. On a day like this one the difference is small. The part of its
  dearest hour the plan charges is the end of that hour, next to the planned hour after
  it, so the car does not pause in between.
- The plan counts on the car's full 16 A. The heat pump takes up to 3.5 A of that for 20
  minutes an hour (the fuse has the last word), and each round the energy still missing
  is planned afresh into the cheapest time left: a few minutes past the plan's first end,
  which can be dearer than the part of an earlier hour the plan had left out.
- The cheapest N hours works here because N rounds up (30 kWh needs 2.7 hours at 11 kW,
  N = 3), so the third hour has room to spare. It does not see what the house takes:
  below, with 32 kWh wanted (N still 3), its hours fall short.
- Every run keeps to the fuse alike: the only ticks above it are those in which a big
  load switches on (the heat pump, the sauna), answered in the next tick (see below).
  The highest peak comes from the sauna starting while Fast charges.
{what_ifs}
## The whole run (the Commuter in the Cheapest mode, 31 hours)

| Figure | Value |
| --- | --- |
| Main fuse | {summary[fuse_a]} A |
| Peak grid current (highest phase) | {summary[peak_grid_a]} A at {summary[peak_at]} |
| Time above the fuse | {summary[minutes_over_fuse]} min |
| Solar energy | {summary[solar_kwh]} kWh |
| Imported / exported | {summary[imported_kwh]} / {summary[exported_kwh]} kWh |

| Car | Mode | Delivered (kWh) | From surplus (kWh) |
| --- | --- | --- | --- |
{rows}

"From surplus" is the part of a car's energy that the sun covered after the house's
own use, tick by tick. Each tick runs on the limits sent after the previous one, so a
house load that jumps (the heat pump starting, the sauna) is answered one tick (10 s)
later, as in a house whose grid meter reports every 10 s: that tick is the time above
the fuse, and a main fuse carries so short an overload without tripping. Lower limits
go out at once and before any higher one; higher ones wait 30 s.

```json
{figures}
```
"""
