"""The storm and hostile benchmarks at a tiny size, against a real Home Assistant.

Each scenario starts Home Assistant of its own (about 10 s), so each runs once, small:
6 chargers in the storm, 300 frames from 2 hostile chargers. The figures are checked
for their structure and for what must hold at any size (every charger back, none locked
out, the good session journaled whole); the generators' parts are checked on their own.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from devtools.bench_hostile import GoodSession, hostile, hostile_table, journal_figures
from devtools.bench_storm import latency_figures, storm, storm_table
from devtools.hostile_frames import KINDS, HostileFrames
from devtools.loadgen import Charger
from devtools.storm_chargers import Backoff, WayBack, summary


def _ordered(figures: dict[str, Any]) -> bool:
    return figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]


async def test_a_tiny_storm_brings_every_charger_back() -> None:
    figures = await storm(6, poll_s=0.05, baseline_s=1, after_s=1, delayed_work_s=0)

    for phase in ("first_connection", "storm"):
        way = figures[phase]
        assert way["chargers"] == way["back"] == 6, way
        assert way["not_back"] == 0
        assert 0 < way["all_back_s"] < 60
        assert sum(way["attempts"].values()) == 6
        assert way["attempts_max"] >= 1
    # Every password was verified once at the first connection: no charger is refused.
    assert figures["storm"]["refusals"] == {}
    assert set(figures["storm"]["http"]) == {"401", "403", "429", "503"}
    rest = figures["rest"]
    assert rest["url"].startswith("/api/states/")
    for window in ("idle", "storm", "after"):
        assert rest[window]["count"] > 0, window
        assert rest[window]["failed"] == 0
        assert _ordered(rest[window])
    assert figures["entry_state"] == "loaded"
    assert 0 < figures["entities"]["enabled"] < 10_000
    assert set(figures["targets"]) == {
        "all back within 20 s",
        "REST p99 during the storm <= 1000 ms",
    }
    table = storm_table(figures)
    assert "| storm (abort, first message status): all back |" in table
    assert "| REST during the storm" in table


async def test_hostile_frames_lock_nobody_out_and_lose_no_row() -> None:
    figures = await hostile(300, hostile_chargers=2, good_interval_s=0.05, delayed_work_s=0)

    bad = figures["hostile"]
    assert bad["frames"] == 300
    assert sum(bad["by_kind"].values()) == bad["frames_sent"] >= 300
    assert bad["callresults"] + sum(bad["callerrors"].values()) > 0
    # An InternalError would mean a handler raised: never for anything a charger sends.
    assert bad["internal_errors"] == 0
    assert bad["gave_up"] == []
    good = figures["good"]
    assert good["calls"] > 0
    assert good["unanswered"] == 0
    assert not good["disconnected"]
    assert _ordered(good)
    assert figures["lockouts"]["lockouts"] == 0
    assert figures["lockouts"]["back"] == 3
    journal = figures["journal"]
    assert journal["session_found"]
    assert journal["status"] == "completed"
    assert journal["energy_wh"] == journal["expected_energy_wh"] > 0
    assert journal["samples_journaled"] == journal["samples_sent"] > 0
    assert journal["rows_lost"] == 0
    assert figures["log"]["growth_bytes"] > 0
    assert figures["log"]["integration_errors"] == len(figures["log"]["first_errors"]) == 0
    assert 0 < figures["entities"]["before"] <= figures["entities"]["after"]
    assert figures["entry_state"] == "loaded"
    assert figures["home_assistant_exit_code"] == 0
    table = hostile_table(figures)
    assert "| hostile frames from 2 chargers (seed 20261207) | 300 read in" in table
    assert "| good charger's rows lost | 0 (" in table


def test_hostile_frames_repeat_from_their_seed_and_cover_every_kind() -> None:
    def draw(seed: int) -> list[tuple[str, str | bytes]]:
        frames = HostileFrames(seed, "ocpp2.0.1")
        return [frames.next() for _ in range(4000)]

    first = draw(7)
    assert first == draw(7)
    assert first != draw(8)
    kinds = Counter(kind for kind, _frame in first)
    assert set(KINDS) - {"oversize"} <= set(kinds)  # oversize: 0.03 %, not always drawn
    assert any(isinstance(frame, bytes) for _kind, frame in first)
    sixteen = HostileFrames(7, "ocpp1.6")
    assert any("connectorId" in str(sixteen.next()[1]) for _ in range(200))


def test_the_way_back_is_summed_per_charger() -> None:
    ways = [
        WayBack("A", attempts=1, back_after_s=0.5),
        WayBack("B", attempts=3, outcomes=Counter({"http_503": 2}), back_after_s=2.0),
        WayBack("C", attempts=4, outcomes=Counter({"http_503": 1, "TimeoutError": 3})),
    ]
    figures = summary(ways)
    assert figures["back"] == 2
    assert figures["not_back"] == 1
    assert figures["all_back_s"] is None  # not all came back
    assert figures["attempts"] == {"1": 1, "3": 1}
    assert figures["refusals"] == {"TimeoutError": 3, "http_503": 3}
    assert figures["http"] == {"401": 0, "403": 0, "429": 0, "503": 3}
    assert summary(ways[:2])["all_back_s"] == 2.0


def test_backoff_doubles_up_to_its_cap_with_a_random_part() -> None:
    backoff = Backoff(base_s=0.5, cap_s=4.0, random_s=0.5)
    rng = random.Random(1)
    waits = [backoff.wait(failures, rng) for failures in range(1, 8)]
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 1.5
    assert all(4.0 <= wait <= 4.5 for wait in waits[3:])


def test_latency_figures_and_a_journal_that_lost_a_sample() -> None:
    samples = [(0.0, 0.001), (0.1, 0.002), (0.2, None), (0.3, 0.5)]
    assert latency_figures(samples) == {
        "count": 4, "failed": 1, "p50_ms": 2.0, "p99_ms": 500.0, "max_ms": 500.0,
    }  # fmt: skip
    assert latency_figures([])["p99_ms"] is None

    good = GoodSession(Charger("G", "ocpp1.6"), transaction_id=12, register_wh=10_021)
    good.samples = ["2026-12-07T09:00:01+00:00", "2026-12-07T09:00:02+00:00"]
    row = {"transaction_id": "12", "status": "completed", "energy_wh": 21.0,
           "sample_timestamps": ["2026-12-07T09:00:01+00:00"]}  # fmt: skip
    figures = journal_figures([row], good)
    assert figures["samples_lost"] == figures["rows_lost"] == 1
    # No session at all: both samples lost, and the session row itself.
    assert journal_figures([], good)["rows_lost"] == 3
