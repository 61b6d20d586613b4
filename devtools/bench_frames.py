"""`scripts/bench frames`: what each hostile frame costs the engine, in CPU time, alone.

The benchmark's hostile frames (`devtools.hostile_frames`, same kinds, same seed) go
one by one through `RpcConnection._on_frame` of a real adapter of their version (two
1.6 and two 2.0.1 chargers, accepted, answers dropped), without Home Assistant and
without a socket. Each frame's cost is the thread's CPU time (`time.thread_time`), so
the figures barely depend on what else the machine runs; the cycle collector is off
while frames are timed (its pauses belong to the heap, not to the frame), and counted in
a second pass with it on. Frames beyond the 1 MiB limit are left out: websockets refuses
them before the engine sees them.

Figures per kind: count, mean, p99 and max in ms, and the total in seconds; the
frames over 5 and 10 ms; the collections a pass with the collector on triggers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import statistics
import time
from collections import defaultdict
from typing import Any

from custom_components.ocpp_csms.csms.central_system import CentralSystem
from custom_components.ocpp_csms.csms.events import Event
from custom_components.ocpp_csms.csms.host import AdmissionPolicy, CentralSystemSettings
from custom_components.ocpp_csms.csms.ocpp16 import Ocpp16Adapter
from custom_components.ocpp_csms.csms.ocpp201 import Ocpp201Adapter
from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.server import ServerSettings
from custom_components.ocpp_csms.csms.station import OcppVersion, RegistrationStatus
from devtools.hostile_frames import MAX_FRAME_BYTES, HostileFrames

DEFAULT_FRAMES = 20_000
_CHARGERS = (
    ("ocpp1.6", Ocpp16Adapter),
    ("ocpp2.0.1", Ocpp201Adapter),
    ("ocpp1.6", Ocpp16Adapter),
    ("ocpp2.0.1", Ocpp201Adapter),
)


class _NoDirectory:
    def find(self, charger_id: str) -> None:
        return None

    def is_rejected(self, charger_id: str) -> bool:
        return False


class _NoListener:
    def handle(self, event: Event) -> None:
        pass


class _Unsent:
    """A socket that drops what is sent: only the engine's own work is timed."""

    async def send(self, message: str) -> None:
        pass

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


async def _costs(frames: int, seed: int) -> tuple[dict[str, list[float]], int]:
    """CPU seconds of each frame by kind, and the frames left out (beyond the limit)."""
    system = CentralSystem(
        CentralSystemSettings(
            server=ServerSettings(host="127.0.0.1", port=0), admission=AdmissionPolicy.ASK
        ),
        _NoDirectory(),
        _NoListener(),
    )
    schemas = await asyncio.to_thread(load_all)
    costs: dict[str, list[float]] = defaultdict(list)
    left_out = 0
    for index, (version, adapter_type) in enumerate(_CHARGERS):
        station = system.ensure_station(f"HOSTILE-{index}")
        station.version = OcppVersion(version)
        station.registration = RegistrationStatus.ACCEPTED
        adapter = adapter_type(
            station, _Unsent(), schemas[station.version], system, call_timeout=5.0
        )
        generator = HostileFrames(seed + index, version)
        for _ in range(frames // len(_CHARGERS)):
            kind, frame = generator.next()
            if len(frame) > MAX_FRAME_BYTES:
                left_out += 1
                continue
            started = time.thread_time()
            await adapter.rpc._on_frame(frame)
            costs[kind].append(time.thread_time() - started)
    return costs, left_out


def _figures(seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    return {
        "count": len(ordered),
        "mean_ms": round(statistics.mean(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "total_s": round(sum(ordered), 2),
    }


async def frame_costs(frames: int = DEFAULT_FRAMES, seed: int = 20261207) -> dict[str, Any]:
    """The CPU each hostile frame costs the engine, by kind (see the module)."""
    logging.disable(logging.CRITICAL)  # the frame log budget's lines are not the point
    was_enabled = gc.isenabled()
    try:
        gc.disable()
        costs, left_out = await _costs(frames, seed)
        collections = 0

        def count(phase: str, _info: dict[str, Any]) -> None:
            nonlocal collections
            collections += phase == "stop"

        gc.enable()
        gc.callbacks.append(count)
        try:
            await _costs(frames, seed)
        finally:
            gc.callbacks.remove(count)
    finally:
        logging.disable(logging.NOTSET)
        if not was_enabled:
            gc.disable()
    every = [cost for kind_costs in costs.values() for cost in kind_costs]
    by_kind = {
        kind: _figures(kind_costs)
        for kind, kind_costs in sorted(costs.items(), key=lambda item: -max(item[1]))
    }
    return {
        "frames": frames,
        "seed": seed,
        "left_out_beyond_limit": left_out,
        "by_kind": by_kind,
        "all": _figures(every),
        "over_5_ms": sum(cost > 0.005 for cost in every),
        "over_10_ms": sum(cost > 0.010 for cost in every),
        "collections_with_the_collector_on": collections,
    }


def frames_table(figures: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| Frames by kind, CPU per frame | count | mean / p99 / max | total |",
        "|---|---|---|---|",
    ]
    rows = [*figures["by_kind"].items(), ("all", figures["all"])]
    for kind, row in rows:
        lines.append(
            f"| {kind} | {row['count']} | {row['mean_ms']} / {row['p99_ms']} / "
            f"{row['max_ms']} ms | {row['total_s']} s |"
        )
    lines.append(
        f"| frames over 5 ms / over 10 ms | {figures['over_5_ms']} / {figures['over_10_ms']} | | |"
    )
    lines.append(
        f"| collections in a pass with the collector on | "
        f"{figures['collections_with_the_collector_on']} | | |"
    )
    return "\n".join(lines)
