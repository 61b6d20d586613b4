"""Draw the simulated household day (PNG, with Pillow) and write its page in docs/.

Pillow comes with Home Assistant, so the plot needs nothing installed beyond the
project's own requirements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from devtools.site_day import DayResult, Sample

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDTH, HEIGHT = 1200, 820
LEFT, RIGHT = 80, 30
PANELS = ((40, 400), (460, 760))  # (top, bottom) of the currents and the powers
COLOURS = {
    "fuse": (200, 30, 30),
    "grid": (40, 40, 40),
    "Commuter": (30, 110, 220),
    "Second car": (20, 160, 80),
    "solar": (240, 170, 0),
    "house": (120, 120, 120),
    "cars": (150, 60, 200),
}

type Series = tuple[str, Callable[[Sample], float], tuple[int, int, int]]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


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
    top, bottom = box
    low, high = y_range
    font = _font(14)

    def x_of(hour: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * hour / 24

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    draw.text((LEFT, top - 28), title, fill=(0, 0, 0), font=_font(18))
    step = 5 if high - low <= 40 else 10
    value = low
    while value <= high + 1e-9:
        y = y_of(value)
        draw.line([(LEFT, y), (WIDTH - RIGHT, y)], fill=(225, 225, 225))
        draw.text((LEFT - 8, y), f"{value:g} {unit}", fill=(60, 60, 60), font=font, anchor="rm")
        value += step
    for hour in range(0, 25, 2):
        x = x_of(hour)
        draw.line([(x, top), (x, bottom)], fill=(235, 235, 235))
        draw.text((x, bottom + 6), f"{hour:02d}:00", fill=(60, 60, 60), font=font, anchor="mt")
    draw.rectangle([(LEFT, top), (WIDTH - RIGHT, bottom)], outline=(150, 150, 150))
    legend_x = LEFT + 10
    for name, value_of, colour in series:
        points = [(x_of(s.hour), y_of(min(max(value_of(s), low), high))) for s in samples]
        draw.line(points, fill=colour, width=2)
        draw.rectangle([(legend_x, top + 8), (legend_x + 14, top + 20)], fill=colour)
        draw.text((legend_x + 20, top + 6), name, fill=(0, 0, 0), font=font)
        legend_x += 30 + int(draw.textlength(name, font=font))


def _car_current(name: str) -> Callable[[Sample], float]:
    return lambda sample: sample.car_a[name]


def plot(result: DayResult, path: Path) -> None:
    """Grid current against the fuse with each car's current; then the powers."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    fuse = float(result.summary()["fuse_a"])
    currents: list[Series] = [
        ("main fuse", lambda s: fuse, COLOURS["fuse"]),
        ("grid, highest phase", lambda s: max(s.grid_a), COLOURS["grid"]),
    ]
    currents += [
        (f"{car.name} ({car.mode.value})", _car_current(car.name), COLOURS[car.name])
        for car in result.cars
    ]
    _panel(
        draw,
        PANELS[0],
        result.samples,
        currents,
        y_range=(-15, 25),
        title="Current per phase",
        unit="A",
    )
    powers: list[Series] = [
        ("solar", lambda s: s.solar_w / 1000, COLOURS["solar"]),
        ("house", lambda s: s.house_w / 1000, COLOURS["house"]),
        ("cars", lambda s: s.cars_w / 1000, COLOURS["cars"]),
    ]
    _panel(draw, PANELS[1], result.samples, powers, y_range=(0, 25), title="Power", unit="kW")
    image.save(path, optimize=True)


def write_docs(result: DayResult, docs: Path = DOCS) -> dict[str, object]:
    """Write the plot and the page with the summary figures; returns the summary."""
    summary = result.summary()
    plot(result, docs / "site-day.png")
    rows = "\n".join(
        f"| {name} | {car['mode']} | {car['delivered_kwh']} | {car['from_surplus_kwh']} |"
        for name, car in summary["cars"].items()
    )
    page = f"""# A household day, simulated

Made by `scripts/simulate-site` (`devtools/site_day.py`, plot by `devtools/site_plot.py`):
the engine's site balancer, unchanged, on a simulated clock with simulated meters and
chargers. A {summary["fuse_a"]:g} A main fuse with a 1 A margin and a grid meter per phase; a
heat pump that runs 20 minutes an hour, breakfast, lunch, dinner and a sauna at 20:00;
a 9 kWp array on a spring day with clouds around noon. The *Commuter* charges in Fast
mode overnight and from 17:30; the *Second car* is home 09:30-16:30 in Solar only mode
on a charger that switches between one and three phases. Each tick is 10 s.

![Grid current against the fuse, each car's current, and the powers](site-day.png)

| Figure | Value |
| --- | --- |
| Main fuse | {summary["fuse_a"]} A |
| Peak grid current (highest phase) | {summary["peak_grid_a"]} A at {summary["peak_at"]} |
| Time above the fuse | {summary["minutes_over_fuse"]} min |
| Solar energy | {summary["solar_kwh"]} kWh |
| Imported / exported | {summary["imported_kwh"]} / {summary["exported_kwh"]} kWh |

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
{json.dumps(summary, indent=2)}
```
"""
    (docs / "site-simulation.md").write_text(page)
    return summary
