"""Meter values: normalising units and applying readings to the model.

The OCPP sampled-value shape is the same in 1.6 and 2.x apart from spelling, so the
adapters parse their version's fields and hand plain values to `reading`. A session's
register readings go through `take_register`, which holds it to `meter_sanity`'s rule.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .meter_sanity import MeterNote, RegisterAnomaly, Step
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


@dataclass(slots=True)
class ReadingsApplied:
    """What applying a message's readings did."""

    recorded: bool = False  # whether there was anything to record
    # Register readings of the session that were implausible, or in another unit.
    anomalies: list[RegisterAnomaly] = field(default_factory=list)


def apply_readings(
    evse: Evse,
    readings: Iterable[Measurement],
    transaction: Transaction | None,
    *,
    opening: bool = False,
) -> ReadingsApplied:
    """Record readings on the EVSE (latest per measurand and phase) and the transaction.

    Readings are taken in time order, one transaction sample per timestamp, so a
    message with a begin and an end reading (1.6 transactionData) yields a meter start
    and a meter end. Readings of a location other than the outlet or the car (inlet,
    cable) are kept on the EVSE but do not feed the transaction. `opening`: these are
    the readings of the message that began the transaction, so its first register
    reading is the start. During a transaction the EVSE shows the register as the
    session reads it: rescaled after a unit mix-up, an implausible reading held back.
    """
    applied = ReadingsApplied()
    by_time: dict[datetime, list[Measurement]] = {}
    for measurement in readings:
        by_time.setdefault(measurement.timestamp, []).append(measurement)
    for timestamp in sorted(by_time):
        group = by_time[timestamp]
        if transaction is not None:
            group = _add_sample(transaction, timestamp, group, opening, applied.anomalies)
        for measurement in group:
            evse.measurements[(measurement.measurand, measurement.phase)] = measurement
    applied.recorded = bool(by_time)
    return applied


def _feeds_session(measurement: Measurement) -> bool:
    """Whether a reading measures what the session's car gets (not the inlet, a cable)."""
    return measurement.location in (None, "Outlet", "EV")


def register_reading(evse: Evse) -> Measurement | None:
    """The EVSE's latest reading of the import register a session would count."""
    found = evse.measurements.get((Measurand.ENERGY_IMPORT_REGISTER, None))
    return found if found is not None and _feeds_session(found) else None


def start_from_earlier(transaction: Transaction, earlier: Measurement | None) -> None:
    """Take the EVSE's last register reading before the start as the start, if none came.

    Idle, the register does not move: its last reading is the start of a session whose
    charger reported none (a 2.x Started without meter values).
    """
    if (
        transaction.meter_start_wh is None
        and earlier is not None
        and earlier.timestamp <= transaction.started_at
    ):
        take_register(transaction, earlier.value, earlier.timestamp, opening=True)


def take_register(
    transaction: Transaction,
    read_wh: float,
    at: datetime,
    *,
    opening: bool = False,
    anomalies: list[RegisterAnomaly] | None = None,
) -> Step:
    """Take a register reading into a session: its start, or a step from the last one.

    Without a start (none came with the message that began the session, nor before it),
    the first reading during the session waits, the energy unknown: alone it would make
    a session of 0 kWh. Once a later one comes, the session counts from the first, a
    little short, and says so (`START_NOT_READ`). Anomalies are noted on the session and
    appended to `anomalies`.
    """
    track = transaction.register
    seen_at = datetime.now(UTC)
    if transaction.meter_start_wh is None:
        if opening or transaction.last_register_wh is None:
            _first_reading(transaction, read_wh, opening=opening)
            track.counted(at, seen_at)
            return Step(read_wh)
        transaction.meter_start_wh = transaction.last_register_wh
        transaction.meter_notes.add(MeterNote.START_NOT_READ)
    last = transaction.last_register_wh
    if last is None:
        last = transaction.meter_start_wh
    assert last is not None
    if track.at is None:
        track.at = transaction.started_at  # gone on from the journal: a generous bound
    step = track.step(last, read_wh, at, seen_at)
    if step.counted:
        transaction.last_register_wh = step.value_wh
    if step.note is not None:
        anomaly = RegisterAnomaly(
            step.note, last, read_wh, at, first_of_kind=step.note not in transaction.meter_notes
        )
        transaction.meter_notes.add(step.note)
        if anomalies is not None:
            anomalies.append(anomaly)
    return step


def _first_reading(transaction: Transaction, read_wh: float, *, opening: bool) -> None:
    """The session's start, or (not at its start) the reading a later one counts from."""
    if opening:
        transaction.meter_start_wh = read_wh
    else:
        transaction.last_register_wh = read_wh


def _add_sample(
    transaction: Transaction,
    timestamp: datetime,
    group: list[Measurement],
    opening: bool,
    anomalies: list[RegisterAnomaly],
) -> list[Measurement]:
    """Add one moment's readings to the session; returns them as the EVSE should show them."""
    energy: float | None = None
    power: dict[str | None, float] = {}
    current: dict[str | None, float] = {}
    soc: float | None = None
    shown = group
    for measurement in group:
        if not _feeds_session(measurement):
            continue
        match measurement.measurand:
            case Measurand.ENERGY_IMPORT_REGISTER if measurement.phase is None:
                step = take_register(
                    transaction, measurement.value, timestamp, opening=opening, anomalies=anomalies
                )
                energy = step.value_wh
                shown = _shown(group, measurement, step, transaction.register.scale)
            case Measurand.POWER_IMPORT:
                power[measurement.phase] = measurement.value
            case Measurand.CURRENT_IMPORT:
                current[measurement.phase] = measurement.value
            case Measurand.SOC:
                soc = measurement.value
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
    return shown


def _shown(
    group: list[Measurement], register: Measurement, step: Step, scale: float
) -> list[Measurement]:
    """The readings with the register as the session reads it (left out while held)."""
    others = [measurement for measurement in group if measurement is not register]
    if step.held:
        return others
    if scale == 1.0:
        return group
    return [*others, dataclasses.replace(register, value=register.value * scale)]
