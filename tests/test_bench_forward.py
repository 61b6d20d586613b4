"""`scripts/bench forward` at a tiny size: both rounds run and every message is counted."""

from __future__ import annotations

import pytest

from devtools.bench_forward import forward, forward_table


@pytest.mark.timeout(180)  # three processes start and stop twice
async def test_a_tiny_forwarding_round_measures_both_ways() -> None:
    figures = await forward(chargers=2, messages=20, rounds=1)

    cpu = figures["cpu_us_per_meter_values"]
    assert cpu["without"] > 0
    assert cpu["forwarded"] > 0
    assert figures["ratio"] == pytest.approx(cpu["forwarded"] / cpu["without"], rel=0.01)
    assert "ratio" in forward_table(figures)
