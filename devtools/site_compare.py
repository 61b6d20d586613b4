"""The simulated day run several ways: how the commuter charges, and when prices come.

`RUNS` compares the engine's *Fast* and *Cheapest* modes with a plain "cheapest N hours"
automation (`site_prices.cheapest_hours`, applied by the simulation) on the same day;
`WHAT_IFS` tries the two planners where they part: a night that needs nearly all of
the automation's hours, and tomorrow's prices published only at midnight. `comparison`
gives each run's figures, and `python -m devtools.site_compare` (`scripts/simulate-site`)
writes them to `docs/` with the plot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from custom_components.ocpp_csms.csms.solar import ChargingMode
from devtools.site_day import COMMUTER, RUN_H, SECOND_CAR, TICK_S, Car, DayResult, simulate_day
from devtools.site_prices import PUBLISHED_H


@dataclass(frozen=True)
class Run:
    """One way through the run: how the commuter charges, and when prices come."""

    name: str
    commuter: Car
    published_h: float = PUBLISHED_H


FAST_COMMUTER = replace(COMMUTER, mode=ChargingMode.FAST)
HOURS_COMMUTER = replace(COMMUTER, mode=ChargingMode.FAST, cheapest_hours=True)
# The comparison: the engine's Fast and Cheapest modes, and the plain automation.
RUNS = (
    Run("Fast", FAST_COMMUTER),
    Run("Cheapest", COMMUTER),
    Run("Cheapest N hours", HOURS_COMMUTER),
)


def _wanting(car: Car, kwh: float) -> Car:
    """The car wanting `kwh` in its evening session."""
    return replace(car, visits=[*car.visits[:-1], (*car.visits[-1][:2], kwh)])


# What if the night needs nearly all of N whole hours, or tomorrow's prices come late
# (a price source that gives only today's, or a late auction)?
WHAT_IFS = (
    Run("Cheapest, 32 kWh", _wanting(COMMUTER, 32)),
    Run("Cheapest N hours, 32 kWh", _wanting(HOURS_COMMUTER, 32)),
    Run("Cheapest, prices at midnight", COMMUTER, published_h=24),
    Run("Cheapest N hours, prices at midnight", HOURS_COMMUTER, published_h=24),
)


async def compare(
    runs: Iterable[Run] = RUNS, tick_s: int = TICK_S, hours: float = RUN_H
) -> dict[str, DayResult]:
    """The simulation once for each of `runs`, the second car alike in all."""
    return {
        run.name: await simulate_day(
            (run.commuter, SECOND_CAR), tick_s, hours=hours, published_h=run.published_h
        )
        for run in runs
    }


def comparison(runs: Mapping[str, DayResult]) -> dict[str, dict[str, Any]]:
    """Per run, the commuter's figures (its night: the last session) and the site's."""
    figures: dict[str, dict[str, Any]] = {}
    for name, result in runs.items():
        summary = result.summary()
        commuter = summary["cars"]["Commuter"]
        night = commuter["sessions"][-1]
        figures[name] = {
            "cost": commuter["cost"],
            "night_cost": night["cost"],
            "night_wanted_kwh": night["wanted_kwh"],
            "kwh_by_deadline": round(night["delivered_kwh"], 1),
            "goal_met": all(session["met"] for session in commuter["sessions"]),
            "mean_price": round(commuter["cost"] / commuter["delivered_kwh"], 3),
            "starts": commuter["starts"],
            "peak_grid_a": summary["peak_grid_a"],
            "minutes_over_fuse": summary["minutes_over_fuse"],
        }
    return figures


def main() -> None:
    """Simulate, then write docs/site-day.png and docs/site-simulation.md."""
    from devtools.site_plot import write_docs  # noqa: PLC0415  (Pillow only when plotting)

    write_docs(asyncio.run(compare()), asyncio.run(compare(WHAT_IFS)))


if __name__ == "__main__":
    main()
