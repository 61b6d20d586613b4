"""The load benchmark's own parts: generator and floor end to end, and its arithmetic."""

from __future__ import annotations

from devtools.bench_load import entity_latencies, floor_cost, load_table
from devtools.load_profile import summarize_stacks


async def test_the_generator_drives_the_floor_and_the_floor_answers_everything() -> None:
    floor = await floor_cost(saturating=2, seconds=1, idle_s=0.5, connections=20)
    assert floor["cpu_per_message_us"] > 0
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
        "rss_per_charger_kb": 120.0,
    }
    figures = {
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
    table = load_table(figures)
    assert "| fleet 10 at 100 msg/s: CPU per MeterValues, net (raw) | 850.0 µs (900.0 µs)" in table
    assert "2000.0 msg/s, 400.0 µs each, 6.7x floor" in table
    assert "| idle, 100 chargers | 0.1 % of a core |" in table


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
