"""Benchmarks: what the central system costs, measured on this machine.

    scripts/bench validation     schema validation per message, compiled vs jsonschema
    scripts/bench journal        session journal: write cost per meter sample, export
                                 time for 10,000 sessions (CSV and OCPI CDRs)

Figures are medians of repeated runs; compare them as ratios, not across machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.station import OcppVersion
from devtools.bench_journal import journal

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
    parser.add_argument("benchmark", choices=list(BENCHMARKS))
    args = parser.parse_args()
    print(json.dumps({args.benchmark: BENCHMARKS[args.benchmark]()}, indent=2))


BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "validation": validation,
    "journal": journal,
}


if __name__ == "__main__":
    main()
