"""Benchmarks: what the central system costs, measured on this machine.

    scripts/bench validation     schema validation per message, compiled vs jsonschema
    scripts/bench journal        session journal: write cost per meter sample, export
                                 time for 10,000 sessions (CSV and OCPI CDRs)
    scripts/bench load           a real Home Assistant under chargers' load, against a
                                 bare WebSocket floor (devtools/bench_load.py)
    scripts/bench storm          1,000 chargers with passwords drop and reconnect at once;
                                 REST latency meanwhile (devtools/bench_storm.py)
    scripts/bench hostile        100,000 hostile frames while a good charger charges:
                                 lockouts, journal, latency, log (devtools/bench_hostile.py)
    scripts/bench frames         CPU per hostile frame in the engine alone, by kind
                                 (the hostile benchmark's frames; devtools/bench_frames.py)
    scripts/bench forward        CPU per MeterValues, forwarded to an upstream or not
                                 (the engine alone; devtools/bench_forward.py)
    scripts/bench forward-hass   the same in a real Home Assistant: its CPU per
                                 MeterValues (devtools/bench_forward_hass.py)

Figures are medians of repeated runs; compare them as ratios, not across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.station import OcppVersion
from devtools.bench_forward import ROUNDS, forward, forward_table
from devtools.bench_forward_hass import forward_hass, forward_hass_table
from devtools.bench_frames import frame_costs, frames_table
from devtools.bench_hostile import DEFAULT_FRAMES, HOSTILE_CHARGERS, hostile, hostile_table
from devtools.bench_journal import journal
from devtools.bench_load import load, load_table
from devtools.bench_storm import DEFAULT_CHARGERS, storm, storm_table
from devtools.hostile_frames import BATCH

T0 = "2026-11-23T10:00:00Z"


def _meter_values(version: OcppVersion, values: int) -> dict[str, Any]:
    # Measurands every version knows (2.x has no Temperature).
    measurands = ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import",
                  "Voltage", "Current.Offered", "SoC", "Power.Offered", "Frequency"]  # fmt: skip
    sampled: list[dict[str, Any]] = [
        {"value": str(n) if version is OcppVersion.V16 else float(n), "measurand": measurand}
        for n, measurand in enumerate(measurands[:values])
    ]
    key = "connectorId" if version is OcppVersion.V16 else "evseId"
    return {key: 1, "meterValue": [{"timestamp": T0, "sampledValue": sampled}]}


def _median_us(check: Callable[[], object], repeat: int = 5, number: int = 2000) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            check()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def _first_error(validator: Any, payload: Any) -> object:
    return next(validator.iter_errors(payload), None)


def validation() -> dict[str, Any]:
    """Validation cost of a MeterValues with 4 and 8 measurands, per version."""
    results: dict[str, Any] = {}
    for version, schemas in load_all().items():
        for values in (4, 8):
            payload = _meter_values(version, values)
            detailed = schemas._requests["MeterValues"]  # the slow path itself
            if schemas.request_problem("MeterValues", payload) is not None:
                raise ValueError(f"the {version} sample is not a valid MeterValues")
            compiled = _median_us(partial(schemas.request_problem, "MeterValues", payload))
            slow = _median_us(partial(_first_error, detailed, payload), number=500)
            results[f"{version.value} MeterValues x{values}"] = {
                "compiled_us": round(compiled, 1),
                "jsonschema_us": round(slow, 1),
                "speedup": round(slow / compiled, 1),
            }
    return results


def main() -> None:
    """Run the named benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "load", *SCENARIOS])
    parser.add_argument("--fleets", default="10,100,1000", help="load: fleet sizes")
    parser.add_argument("--saturate", type=int, default=20, help="load: chargers saturating")
    parser.add_argument("--seconds", type=float, default=15, help="load: each window's length")
    parser.add_argument(
        "--output", type=Path, help="load, storm, hostile, frames, forward*: also write the JSON"
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help="forward, forward-hass: rounds of each"
    )
    parser.add_argument(
        "--profile", action="store_true", help="load, storm, hostile: sample Home Assistant"
    )
    parser.add_argument(
        "--memory", type=int, default=0, metavar="N", help="load: trace N chargers' memory"
    )
    parser.add_argument("--chargers", type=int, default=DEFAULT_CHARGERS, help="storm: chargers")
    parser.add_argument(
        "--drop", choices=["abort", "vanish"], default="abort",
        help="storm: sockets cut (abort) or left open and unread (vanish: replaced)",
    )  # fmt: skip
    parser.add_argument(
        "--first", choices=["status", "heartbeat", "boot"], default="status",
        help="storm: the message that must be answered for a charger to be back",
    )  # fmt: skip
    parser.add_argument("--poll-ms", type=float, default=100, help="storm: REST poll interval")
    parser.add_argument(
        "--chosen-passwords", action="store_true",
        help="storm: passwords as users chose them (PBKDF2), not kept suggestions",
    )  # fmt: skip
    parser.add_argument(
        "--frames", type=int, help=f"hostile: frames ({DEFAULT_FRAMES}); frames: 20000"
    )
    parser.add_argument(
        "--hostile-chargers", type=int, default=HOSTILE_CHARGERS, help="hostile: their number"
    )
    parser.add_argument(
        "--rate", type=float, default=0, help="hostile: frames/s in all (0: as fast as read)"
    )
    parser.add_argument(
        "--seed", type=int, default=20261207, help="hostile, frames: frame generator"
    )
    parser.add_argument(
        "--batch", type=int, default=BATCH,
        help="hostile: frames between checkpoints (each charger has at most twice this unread)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.benchmark in SCENARIOS:
        run, table = SCENARIOS[args.benchmark]
        figures = asyncio.run(run(args))
        if args.output:
            args.output.write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps({args.benchmark: figures}, indent=2))
        print(table(figures))
        return
    if args.benchmark == "load":
        fleets = [int(size) for size in args.fleets.split(",")]
        figures = asyncio.run(
            load(fleets, args.saturate, args.seconds, profile=args.profile, memory=args.memory)
        )
        if args.output:
            args.output.write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps({"load": figures}, indent=2))
        print(load_table(figures))
        return
    print(json.dumps({args.benchmark: BENCHMARKS[args.benchmark]()}, indent=2))


BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "validation": validation,
    "journal": journal,
}


def _storm(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    return storm(
        args.chargers, first=args.first, drop=args.drop, poll_s=args.poll_ms / 1000,
        profile=args.profile, chosen_passwords=args.chosen_passwords,
    )  # fmt: skip


def _hostile(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    return hostile(
        args.frames or DEFAULT_FRAMES, hostile_chargers=args.hostile_chargers, rate=args.rate,
        seed=args.seed, batch=args.batch, profile=args.profile,
    )  # fmt: skip


def _forward(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    return forward(rounds=args.rounds)


def _forward_hass(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    return forward_hass(rounds=args.rounds)


def _frames(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    if args.frames:
        return frame_costs(args.frames, args.seed)
    return frame_costs(seed=args.seed)


# Scenarios against a real Home Assistant: what runs them, and their table.
SCENARIOS: dict[
    str,
    tuple[
        Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
        Callable[[dict[str, Any]], str],
    ],
] = {
    "storm": (_storm, storm_table),
    "hostile": (_hostile, hostile_table),
    "frames": (_frames, frames_table),
    "forward": (_forward, forward_table),
    "forward-hass": (_forward_hass, forward_hass_table),
}


if __name__ == "__main__":
    main()
