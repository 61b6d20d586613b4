"""The load benchmark's own parts: generator and floor end to end, and its arithmetic."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from devtools.bench_load import entity_latencies, floor_cost, load_table
from devtools.load_memory import held_per_area
from devtools.load_profile import summarize_stacks

SITE = "/venv/lib/python3.13/site-packages"


async def test_the_generator_drives_the_floor_and_the_floor_answers_everything() -> None:
    floor = await floor_cost(saturating=2, seconds=1, idle_s=0.5, connections=20)
    # CPU time comes from /proc in 10 ms ticks: over a one-second window on a busy
    # machine the floor's share can round to none, so only its presence is certain.
    assert floor["cpu_per_message_us"] >= 0
    assert floor["net_cpu_per_message_us"] is not None
    assert floor["rss_per_connection_kb"] > 0
    assert floor["saturated_messages_per_s"] > 100
    assert floor["saturated_cpu_per_message_us"] > 0


def test_entity_latencies_match_states_to_the_messages_that_caused_them() -> None:
    trace = [("R-0001", 1234.0, 10.0), ("R-0001", 1235.0, 11.0), ("R-0002", 1234.0, 10.5)]
    sensors = {"sensor.r_0001_power": "R-0001", "sensor.r_0002_power": "R-0002"}
    seen = [
        ("sensor.r_0001_power", "1234.0", 10.002),  # W
        ("sensor.r_0002_power", "1.234", 10.51),  # kW
        ("sensor.r_0001_power", "unavailable", 12.0),
        ("sensor.r_0001_power", "999.0", 12.0),  # not one of ours
    ]
    latencies = entity_latencies(trace, seen, sensors)
    assert [round(value, 3) for value in latencies] == [0.002, 0.01]


def test_the_table_states_each_figure() -> None:
    fleet = {
        "cpu_per_message_us": 900.0,
        "net_cpu_per_message_us": 850.0,
        "times_floor": 3.0,
        "idle_cpu_percent": 0.5,
        "admission_s": 1.0,
        "settled_after_s": 12.0,
        "rss_per_charger_kb": 120.0,
    }
    figures: dict[str, Any] = {
        "floor": {
            "net_cpu_per_message_us": 300.0,
            "saturated_messages_per_s": 9000.0,
            "saturated_cpu_per_message_us": 60.0,
        },
        "home_assistant": {
            "fleets": {"10": fleet},
            "saturate": {
                "chargers": 20,
                "messages_per_s": 2000.0,
                "cpu_per_message_us": 400.0,
                "times_floor": 6.7,
            },
            "rate": {
                "call_p50_ms": 1,
                "call_p99_ms": 2,
                "state": {"p50_ms": 2, "p99_ms": 4, "matched": 10},
            },
            "idle": {"cpu_percent_of_a_core": 0.1},
        },
    }
    figures["home_assistant"]["memory"] = {
        "chargers": 200,
        "entities_per_charger": 28.0,
        "kb_per_charger": 300.0,
        "areas_kb_per_charger": {"Home Assistant: entity registry": 95.0, "websockets": 24.0},
    }
    table = load_table(figures)
    assert (
        "| memory held per charger (200 chargers, 28.0 entities each) | 300.0 KB: "
        "Home Assistant: entity registry 95.0, websockets 24.0 |"
    ) in table
    assert "| fleet 10 at 100 msg/s: CPU per MeterValues, net (raw) | 850.0 µs (900.0 µs)" in table
    assert "2000.0 msg/s, 400.0 µs each, 6.7x floor" in table
    assert "| idle, 100 chargers | 0.1 % of a core |" in table
    assert "| fleet 10: admission (then quiet after) | 1.0 s (12.0 s) |" in table
    figures["home_assistant"]["memory"] = {"error": "TimeoutError()"}
    assert "| memory held per charger | failed: TimeoutError() |" in load_table(figures)


def test_profile_stacks_are_summed_by_area_and_by_function() -> None:
    raw = "\n".join(
        [
            "run (asyncio/events.py:1);handle (ocpp_csms/csms/rpc.py:9) 6",
            "run (asyncio/events.py:1);write (homeassistant/core.py:3) 3",
            "run (asyncio/events.py:1) 1",
            "garbage",
        ]
    )
    summary = summarize_stacks(raw, top=2)
    assert summary["samples"] == 10
    assert summary["inclusive_percent"]["our engine (csms/)"] == 60.0
    assert summary["inclusive_percent"]["our Home Assistant layer"] == 60.0
    assert summary["inclusive_percent"]["Home Assistant core"] == 30.0
    assert summary["inclusive_percent"]["asyncio"] == 100.0
    assert summary["innermost_percent"]["our engine (csms/)"] == 60.0
    assert summary["innermost_percent"]["Home Assistant core"] == 30.0
    assert summary["innermost_percent"]["asyncio"] == 10.0
    assert summary["top_self_percent"] == [
        ["handle (ocpp_csms/csms/rpc.py:9)", 60.0],
        ["write (homeassistant/core.py:3)", 30.0],
    ]
    assert summarize_stacks("") == {"samples": 0}


def _trace(size: int, *files: str) -> tuple[int, int, tuple[tuple[str, int], ...], int]:
    """A raw tracemalloc trace; its frames innermost first, as tracemalloc keeps them."""
    return (0, size, tuple((name, 1) for name in files), len(files))


def test_held_memory_is_summed_by_the_innermost_frames_area() -> None:
    socket = _trace(1000, f"{SITE}/websockets/protocol.py")
    before = tracemalloc.Snapshot([socket], 25)
    registry = _trace(
        4096,
        f"{SITE}/homeassistant/helpers/entity_registry.py",
        "/x/custom_components/ocpp_csms/entity_manager.py",
    )
    ours = _trace(2048, "/x/custom_components/ocpp_csms/csms/metering.py")
    after = tracemalloc.Snapshot([socket, registry, ours], 25)
    held = held_per_area(before, after, chargers=2)
    assert held["kb_per_charger"] == 3.0
    assert held["areas_kb_per_charger"] == {
        "Home Assistant: entity registry": 2.0,
        "our engine (csms/)": 1.0,
    }
    assert held["top_lines_kb_per_charger"][0] == [
        "homeassistant/helpers/entity_registry.py:1",
        2.0,
    ]


def test_the_memory_hook_writes_a_snapshot_on_sigusr2(tmp_path: Path) -> None:
    hook = Path(__file__).parents[1] / "devtools" / "memory_hook"
    env = {**os.environ, "PYTHONPATH": str(hook), "OCPP_BENCH_TRACEMALLOC": str(tmp_path)}
    subprocess.run(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGUSR2)"],
        env=env,
        check=True,
        timeout=60,
    )
    assert (tmp_path / "snapshot-0.done").exists()
    snapshot = tracemalloc.Snapshot.load(str(tmp_path / "snapshot-0.pickle"))
    assert snapshot.traceback_limit == 25
    assert snapshot.traces
