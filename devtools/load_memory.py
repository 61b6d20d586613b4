"""Where a charger's memory goes in Home Assistant: tracemalloc, summed by area.

`scripts/bench load --memory` starts a Home Assistant of its own with allocation
tracing (`devtools/memory_hook`), admits chargers that each send one MeterValues, and
compares a snapshot before with one after: the bytes still held per charger, by the
innermost frame's area (the entity registry, entity platforms, states, websockets, our
engine...). RSS says how much; this says whose.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from devtools.homeassistant import (
    HomeAssistantClient,
    Login,
    prepare_config,
    start_hass,
    stop_process,
)
from devtools.load_window import Generator, free_port, progress

_HOOK = Path(__file__).with_name("memory_hook")

# Where an allocation belongs, by the file of its innermost frame (first match wins).
_AREAS = (
    ("our engine (csms/)", "/ocpp_csms/csms/"),
    ("our Home Assistant layer", "/ocpp_csms/"),
    ("Home Assistant: entity registry", "/homeassistant/helpers/entity_registry.py"),
    ("Home Assistant: entity platform", "/homeassistant/helpers/entity_platform.py"),
    ("Home Assistant: entity", "/homeassistant/helpers/entity.py"),
    ("Home Assistant: event tracking", "/homeassistant/helpers/event.py"),
    ("Home Assistant: states and bus", "/homeassistant/core.py"),
    ("Home Assistant: other", "/homeassistant/"),
    ("websockets", "/websockets/"),
)


def area_of(filename: str) -> str:
    """The area an allocating file belongs to."""
    for area, path in _AREAS:
        if path in filename:
            return area
    return "other"


def held_per_area(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, chargers: int
) -> dict[str, Any]:
    """KB still held per charger, by area, and the source lines that hold the most."""
    areas: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for difference in after.compare_to(before, "traceback"):
        innermost = difference.traceback[-1]  # tracemalloc lists frames oldest first
        areas[area_of(innermost.filename)] += difference.size_diff
        short = innermost.filename.split("site-packages/")[-1].split("custom_components/")[-1]
        lines[f"{short}:{innermost.lineno}"] += difference.size_diff
    per_charger = 1024 * chargers
    return {
        "kb_per_charger": round(sum(areas.values()) / per_charger, 1),
        "areas_kb_per_charger": {
            area: round(size / per_charger, 1) for area, size in areas.most_common() if size > 0
        },
        "top_lines_kb_per_charger": [
            [line, round(size / per_charger, 1)] for line, size in lines.most_common(8)
        ],
    }


async def _snapshot(pid: int, folder: Path, number: int) -> tracemalloc.Snapshot:
    os.kill(pid, signal.SIGUSR2)
    done = folder / f"snapshot-{number}.done"
    for _ in range(600):  # another process writes it: poll, for up to 5 minutes
        if done.exists():
            return tracemalloc.Snapshot.load(str(folder / f"snapshot-{number}.pickle"))
        await asyncio.sleep(0.5)
    raise TimeoutError(f"Home Assistant wrote no memory snapshot {number}")


async def _registered_entities(client: HomeAssistantClient) -> int:
    entries = await client.command("config/entity_registry/list")
    return sum(1 for entry in entries if entry["platform"] == "ocpp_csms")


async def memory_breakdown(chargers: int, work: Path) -> dict[str, Any]:
    """Admit `chargers` into a traced Home Assistant; what they hold, by area."""
    config, snapshots = work / "memory-config", work / "snapshots"
    snapshots.mkdir()
    prepare_config(config)
    ha_port, csms_port = free_port(), free_port()
    hass = await start_hass(
        config,
        work / "memory-hass.log",
        ha_port,
        extra_env={"PYTHONPATH": str(_HOOK), "OCPP_BENCH_TRACEMALLOC": str(snapshots)},
    )
    try:
        async with aiohttp.ClientSession() as session:
            client = HomeAssistantClient(session, f"http://127.0.0.1:{ha_port}")
            await client.wait_until_up(hass, timeout=900)  # tracing slows start-up
            await client.onboard_or_login(Login())
            await client.create_central_system(csms_port, unknown_chargers="accept_all")
            await asyncio.sleep(10)
            entities_before = await _registered_entities(client)
            before = await _snapshot(hass.pid, snapshots, 0)
            generator = await Generator.start(
                f"ws://127.0.0.1:{csms_port}", chargers, "M-", "--interval", "5",
                "--seconds", "5", "--prime",
            )  # fmt: skip
            await generator.expect("connected", timeout=900)
            generator.go()
            await generator.expect("window_start")
            await generator.expect("window_end", timeout=900)
            await asyncio.sleep(15)  # the registries' delayed saves (10 s) come and go
            after = await _snapshot(hass.pid, snapshots, 1)
            # Counted after the snapshot: the listing caches each entry's JSON, which
            # would otherwise count as the chargers' own.
            entities = await _registered_entities(client) - entities_before
            await generator.finish()
            await client.close()
    finally:
        await stop_process(hass)
    figures = held_per_area(before, after, chargers)
    progress(f"memory: {figures['kb_per_charger']} KB per charger held")
    return {"chargers": chargers, "entities_per_charger": round(entities / chargers, 1), **figures}
