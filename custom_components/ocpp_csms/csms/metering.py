"""Meter values: normalising units and applying readings to the model.

The OCPP sampled-value shape is the same in 1.6 and 2.x apart from spelling, so the
adapters parse their version's fields and hand plain values to `reading`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from .station import Evse, Measurand, Measurement, MeterSample, Transaction

# unit -> (model unit, factor)
_UNIT_SCALE: dict[str, tuple[str, float]] = {
    "Wh": ("Wh", 1.0),
    "kWh": ("Wh", 1000.0),
    "varh": ("varh", 1.0),
    "kvarh": ("varh", 1000.0),
    "W": ("W", 1.0),
    "kW": ("W", 1000.0),
    "VA": ("VA", 1.0),
    "kVA": ("VA", 1000.0),
    "var": ("var", 1.0),
    "kvar": ("var", 1000.0),
    "A": ("A", 1.0),
    "V": ("V", 1.0),
    "Celsius": ("°C", 1.0),
    "Percent": ("%", 1.0),
    "Hz": ("Hz", 1.0),
}

# The unit a measurand has when the charger does not say (OCPP defaults).
_DEFAULT_UNIT: dict[str, str] = {
    Measurand.ENERGY_IMPORT_REGISTER: "Wh",
    Measurand.ENERGY_EXPORT_REGISTER: "Wh",
    Measurand.ENERGY_IMPORT_INTERVAL: "Wh",
    Measurand.POWER_IMPORT: "W",
    Measurand.POWER_EXPORT: "W",
    Measurand.POWER_OFFERED: "W",
    Measurand.CURRENT_IMPORT: "A",
    Measurand.CURRENT_EXPORT: "A",
    Measurand.CURRENT_OFFERED: "A",
    Measurand.VOLTAGE: "V",
    Measurand.SOC: "Percent",
    Measurand.TEMPERATURE: "Celsius",
    Measurand.FREQUENCY: "Hz",
}


# A power of ten beyond this scales no real meter (OCPP's examples use -3 to 3); it also
# bounds `10**multiplier`, which a hostile multiplier of 10**7 would make run for seconds.
MAX_MULTIPLIER = 9


def reading(
    value: float,
    *,
    measurand: str | None,
    unit: str | None,
    timestamp: datetime,
    phase: str | None = None,
    location: str | None = None,
    context: str | None = None,
    multiplier: int = 0,
) -> Measurement | None:
    """A measurement in the model's units. An absent measurand means the import register.

    None when the multiplier is implausible or the value is not a finite number.
    """
    if abs(multiplier) > MAX_MULTIPLIER or not math.isfinite(value):
        return None
    measurand = measurand or Measurand.ENERGY_IMPORT_REGISTER
    unit = unit or _DEFAULT_UNIT.get(measurand, "")
    value = value * (10**multiplier)
    if unit == "K":
        model_unit, value = "°C", value - 273.15
    elif unit == "Fahrenheit":
        model_unit, value = "°C", (value - 32) * 5 / 9
    else:
        model_unit, factor = _UNIT_SCALE.get(unit, (unit, 1.0))
        value *= factor
    return Measurement(
        value=value,
        unit=model_unit,
        timestamp=timestamp,
        measurand=measurand,
        phase=phase,
        location=location,
        context=context,
    )


def _phase_total(values: dict[str | None, float]) -> float | None:
    """A whole-charger value from per-phase ones: the un-phased value, or the sum."""
    if None in values:
        return values[None]
    line_values = [v for phase, v in values.items() if phase in ("L1", "L2", "L3")]
    return sum(line_values) if line_values else None


def apply_readings(
    evse: Evse, readings: Iterable[Measurement], transaction: Transaction | None
) -> bool:
    """Record readings on the EVSE (latest per measurand and phase) and the transaction.

    Readings are taken in time order, one transaction sample per timestamp, so a
    message with a begin and an end reading (1.6 transactionData) yields a meter start
    and a meter end. Readings of a location other than the outlet or the car (inlet,
    cable) are kept on the EVSE but do not feed the transaction. Returns whether
    anything was recorded.
    """
    by_time: dict[datetime, list[Measurement]] = {}
    for measurement in readings:
        by_time.setdefault(measurement.timestamp, []).append(measurement)
    for timestamp in sorted(by_time):
        group = by_time[timestamp]
        for measurement in group:
            evse.measurements[(measurement.measurand, measurement.phase)] = measurement
        if transaction is not None:
            _add_sample(transaction, timestamp, group)
    return bool(by_time)


def _add_sample(transaction: Transaction, timestamp: datetime, group: list[Measurement]) -> None:
    energy: float | None = None
    power: dict[str | None, float] = {}
    current: dict[str | None, float] = {}
    soc: float | None = None
    for measurement in group:
        if measurement.location not in (None, "Outlet", "EV"):
            continue
        match measurement.measurand:
            case Measurand.ENERGY_IMPORT_REGISTER if measurement.phase is None:
                energy = measurement.value
            case Measurand.POWER_IMPORT:
                power[measurement.phase] = measurement.value
            case Measurand.CURRENT_IMPORT:
                current[measurement.phase] = measurement.value
            case Measurand.SOC:
                soc = measurement.value
    if energy is not None:
        transaction.last_register_wh = energy
        if transaction.meter_start_wh is None:
            transaction.meter_start_wh = energy
    currents = [v for phase, v in current.items() if phase is not None] or list(current.values())
    transaction.samples.append(
        MeterSample(
            timestamp=timestamp,
            energy_wh=energy,
            power_w=_phase_total(power),
            current_a=max(currents) if currents else None,
            soc=soc,
        )
    )
