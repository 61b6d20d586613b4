"""The simulated household day behind docs/site-simulation.md (coarser ticks, same model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.site_day import SITE, simulate_day
from devtools.site_plot import write_docs


async def test_a_day_keeps_to_the_fuse_and_charges_the_solar_car_from_the_sun(
    tmp_path: Path,
) -> None:
    result = await simulate_day(tick_s=30)
    summary = result.summary()
    commuter, second = summary["cars"]["Commuter"], summary["cars"]["Second car"]
    assert commuter["delivered_kwh"] == pytest.approx(
        44, abs=0.3
    )  # 14 kWh overnight, 30 kWh in the evening
    # Solar only: nearly all of it from the surplus, and a good part of the day's sun.
    assert second["from_surplus_kwh"] >= 0.9 * second["delivered_kwh"] > 15
    # Only ticks in which a big load switches on (heat pump, sauna) go over the fuse.
    assert summary["minutes_over_fuse"] <= 3
    over = [s for s in result.samples if max(s.grid_a) > SITE.fuse_a]
    assert len(over) <= 6
    # Nothing between 0 and 6 A: cars pause rather than trickle.
    assert all(a == 0 or a >= 6 for s in result.samples for a in s.car_a.values())

    written = write_docs(result, tmp_path)
    assert written == summary
    assert (tmp_path / "site-day.png").read_bytes()[:4] == b"\x89PNG"
    assert "| Commuter | fast |" in (tmp_path / "site-simulation.md").read_text()
