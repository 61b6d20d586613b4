"""`scripts/bench frames` at a tiny size: every frame timed, the figures well formed."""

from __future__ import annotations

import gc

from devtools.bench_frames import frame_costs, frames_table


async def test_a_few_hundred_frames_are_each_timed() -> None:
    figures = await frame_costs(400, seed=7)

    by_kind = figures["by_kind"]
    assert sum(row["count"] for row in by_kind.values()) == figures["all"]["count"]
    assert figures["all"]["count"] + figures["left_out_beyond_limit"] == 400
    for row in [*by_kind.values(), figures["all"]]:
        assert 0 <= row["mean_ms"] <= row["max_ms"]
        assert row["p99_ms"] <= row["max_ms"]
    assert figures["collections_with_the_collector_on"] >= 0
    assert gc.isenabled()
    table = frames_table(figures)
    assert table.count("\n") == len(by_kind) + 4
