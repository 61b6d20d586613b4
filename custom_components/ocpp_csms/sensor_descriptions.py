"""What each sensor shows and when a charger (or EVSE) has it: the descriptions.

The entities that read them are in `sensor` (and `energy_register`, `reservation_sensor`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)

from .csms.events import Change
from .csms.meter_sanity import notes_text
from .csms.station import ConnectorStatus, Evse, Measurand, Station, Transaction
from .entity import OcppEntityDescription
from .entity_manager import (
    ALLOCATION,
    CONNECTION_ONLY,
    MEASUREMENTS,
    RESERVATIONS,
    SESSION_PROGRESS,
    STATUS,
    TRANSACTION,
)

type Value = float | str | datetime | None


@dataclass(frozen=True, kw_only=True)
class OcppSensorDescription(OcppEntityDescription, SensorEntityDescription):
    """A sensor: how to read it, and when a charger has it."""

    value_fn: Callable[[Station, Evse | None], Value]
    has_fn: Callable[[Station, Evse | None], bool] = lambda station, evse: True
    # Attributes beyond the connector (None: none).
    attributes_fn: Callable[[Station, Evse | None], dict[str, Any]] | None = None
    # Journal readings (sessions) stay available while the charger is offline.
    from_journal: bool = False
    # Whether the entity starts enabled, decided when the charger first reveals it (None:
    # `entity_registry_enabled_default`). The registry keeps the answer, and the user's
    # later choice, from then on.
    enabled_fn: Callable[[Station, Evse | None], bool] | None = None


def _measured(measurand: str, phase: str | None = None) -> Callable[[Station, Evse | None], bool]:
    return lambda station, evse: evse is not None and (measurand, phase) in evse.measurements


def _value(
    measurand: str, phase: str | None = None, scale: float = 1.0
) -> Callable[[Station, Evse | None], Value]:
    def read(station: Station, evse: Evse | None) -> Value:
        value = evse.value(measurand, phase) if evse else None
        return None if value is None else value * scale

    return read


def _any_phase(measurand: str) -> Callable[[Station, Evse | None], bool]:
    return lambda station, evse: (
        evse is not None and any(key[0] == measurand for key in evse.measurements)
    )


_LINE_PHASES = ("L1", "L2", "L3")


def _line_values(measurand: str, evse: Evse) -> list[float]:
    """The measurand's readings on L1-L3 (not N, not between phases)."""
    return [
        m.value
        for (name, phase), m in evse.measurements.items()
        if name == measurand and phase in _LINE_PHASES
    ]


def _phases_measured(measurand: str, evse: Evse | None) -> int:
    return len(_line_values(measurand, evse)) if evse is not None else 0


def _several_phases(measurand: str) -> Callable[[Station, Evse | None], bool]:
    """Whether the charger measures more than one phase.

    A single-phase charger's one phase says nothing the plain reading does not; a
    charger first reports all the phases it measures in one message, so this is known
    when the per-phase entities are made.
    """
    return lambda station, evse: _phases_measured(measurand, evse) > 1


def _highest(measurand: str) -> Callable[[Station, Evse | None], Value]:
    """The un-phased value, or the highest phase: what a per-phase limit compares with."""

    def read(station: Station, evse: Evse | None) -> Value:
        if evse is None:
            return None
        if (whole := evse.value(measurand)) is not None:
            return whole
        phases = _line_values(measurand, evse)
        return max(phases) if phases else None

    return read


def _total(measurand: str) -> Callable[[Station, Evse | None], Value]:
    """The un-phased value, or the sum of the phases."""

    def read(station: Station, evse: Evse | None) -> Value:
        if evse is None:
            return None
        if (whole := evse.value(measurand)) is not None:
            return whole
        phases = [
            m.value for (name, phase), m in evse.measurements.items() if name == measurand and phase
        ]
        return sum(phases) if phases else None

    return read


def _voltage(station: Station, evse: Evse | None) -> Value:
    if evse is None:
        return None
    for phase in (None, "L1-N", "L1", "L1-L2"):
        if (value := evse.value(Measurand.VOLTAGE, phase)) is not None:
            return value
    return None


def _session(evse: Evse | None) -> Transaction | None:
    if evse is None:
        return None
    return evse.transaction or evse.last_transaction


def _session_energy(station: Station, evse: Evse | None) -> Value:
    session = _session(evse)
    energy = session.energy_wh if session else None
    return None if energy is None else energy / 1000


def _session_duration(station: Station, evse: Evse | None) -> Value:
    session = _session(evse)
    if session is None:
        return None
    end = session.stopped_at or datetime.now(UTC)
    return round((end - session.started_at).total_seconds() / 60, 1)


def _noted(session: Transaction | None) -> dict[str, Any]:
    """Why a session's energy is not simply its register's last reading less its first.

    Only when there is a why (`csms/meter_sanity`): the journal and the export say the same.
    """
    note = notes_text(session.meter_notes) if session else None
    return {"meter_note": note} if note else {}


def _session_note(station: Station, evse: Evse | None) -> dict[str, Any]:
    return _noted(_session(evse))


def _last_session_note(station: Station, evse: Evse | None) -> dict[str, Any]:
    return _noted(evse.last_transaction if evse else None)


def _last_session_energy(station: Station, evse: Evse | None) -> Value:
    last = evse.last_transaction if evse else None
    energy = last.energy_wh if last else None
    return None if energy is None else energy / 1000


def _status(station: Station, evse: Evse | None) -> Value:
    return evse.status.value if evse else None


SENSORS: tuple[OcppSensorDescription, ...] = (
    OcppSensorDescription(
        key="status",
        follows=STATUS,
        translation_key="status",
        per_evse=True,
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in ConnectorStatus],
        value_fn=_status,
    ),
    OcppSensorDescription(
        key="error_code",
        follows=STATUS,
        translation_key="error_code",
        per_evse=True,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda station, evse: (evse.error_code or "NoError") if evse else None,
    ),
    OcppSensorDescription(
        key="power",
        follows=MEASUREMENTS,
        translation_key="power",
        per_evse=True,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        has_fn=_any_phase(Measurand.POWER_IMPORT),
        value_fn=_total(Measurand.POWER_IMPORT),
    ),
    *(
        OcppSensorDescription(
            key=f"current_{phase.lower()}",
            follows=MEASUREMENTS,
            translation_key=f"current_{phase.lower()}",
            per_evse=True,
            device_class=SensorDeviceClass.CURRENT,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
            suggested_display_precision=1,
            has_fn=_measured(Measurand.CURRENT_IMPORT, phase),
            enabled_fn=_several_phases(Measurand.CURRENT_IMPORT),
            value_fn=_value(Measurand.CURRENT_IMPORT, phase),
        )
        for phase in ("L1", "L2", "L3")
    ),
    OcppSensorDescription(
        key="current",
        follows=MEASUREMENTS,
        translation_key="current",
        per_evse=True,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        has_fn=_any_phase(Measurand.CURRENT_IMPORT),
        value_fn=_highest(Measurand.CURRENT_IMPORT),
    ),
    OcppSensorDescription(
        key="voltage",
        follows=MEASUREMENTS,
        translation_key="voltage",
        per_evse=True,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
        has_fn=_any_phase(Measurand.VOLTAGE),
        value_fn=_voltage,
    ),
    OcppSensorDescription(
        key="current_offered",
        follows=MEASUREMENTS,
        translation_key="current_offered",
        per_evse=True,
        # What the charger offers the car follows the limit the user already sees.
        entity_registry_enabled_default=False,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        has_fn=_any_phase(Measurand.CURRENT_OFFERED),
        value_fn=_total(Measurand.CURRENT_OFFERED),
    ),
    OcppSensorDescription(
        key="power_offered",
        follows=MEASUREMENTS,
        translation_key="power_offered",
        per_evse=True,
        # What the charger offers the car follows the limit the user already sees.
        entity_registry_enabled_default=False,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        has_fn=_any_phase(Measurand.POWER_OFFERED),
        value_fn=_total(Measurand.POWER_OFFERED),
    ),
    OcppSensorDescription(
        key="session_energy",
        follows=TRANSACTION | SESSION_PROGRESS,
        translation_key="session_energy",
        from_journal=True,
        per_evse=True,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_session_energy,
        attributes_fn=_session_note,
    ),
    OcppSensorDescription(
        key="session_duration",
        follows=TRANSACTION | SESSION_PROGRESS,
        translation_key="session_duration",
        from_journal=True,
        per_evse=True,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_display_precision=0,
        value_fn=_session_duration,
    ),
    OcppSensorDescription(
        key="soc",
        follows=MEASUREMENTS,
        translation_key="soc",
        per_evse=True,
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        has_fn=_measured(Measurand.SOC),
        value_fn=_value(Measurand.SOC),
    ),
    OcppSensorDescription(
        key="temperature",
        follows=MEASUREMENTS,
        translation_key="temperature",
        per_evse=True,
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        entity_category=EntityCategory.DIAGNOSTIC,
        has_fn=_measured(Measurand.TEMPERATURE),
        value_fn=_value(Measurand.TEMPERATURE),
    ),
    OcppSensorDescription(
        key="last_heartbeat",
        follows=frozenset({Change.LAST_HEARTBEAT}),
        translation_key="last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda station, evse: station.last_heartbeat,
    ),
    OcppSensorDescription(
        key="firmware_status",
        follows=frozenset({Change.FIRMWARE_STATUS}),
        translation_key="firmware_status",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda station, evse: station.firmware_status,
    ),
    OcppSensorDescription(
        key="diagnostics_status",
        follows=frozenset({Change.DIAGNOSTICS_STATUS}),
        translation_key="diagnostics_status",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda station, evse: station.diagnostics_status,
    ),
)

LAST_SESSION_ENERGY = OcppSensorDescription(
    key="last_session_energy",
    follows=TRANSACTION,
    translation_key="last_session_energy",
    per_evse=True,
    device_class=SensorDeviceClass.ENERGY,
    native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
    suggested_display_precision=2,
    value_fn=_last_session_energy,
    attributes_fn=_last_session_note,
)
LAST_SESSION_COST = OcppSensorDescription(
    key="last_session_cost",
    follows=TRANSACTION,
    translation_key="last_session_cost",
    per_evse=True,
    device_class=SensorDeviceClass.MONETARY,
    suggested_display_precision=2,
    value_fn=_last_session_energy,  # in kWh; the entity prices it
)
MONTH_ENERGY = OcppSensorDescription(
    key="energy_this_month",
    follows=CONNECTION_ONLY,
    translation_key="energy_this_month",
    device_class=SensorDeviceClass.ENERGY,
    state_class=SensorStateClass.TOTAL,
    native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
    suggested_display_precision=2,
    value_fn=lambda station, evse: None,  # the entity reads the session book
)

ALLOCATED_CURRENT = OcppSensorDescription(
    key="allocated_current",
    follows=ALLOCATION,
    translation_key="allocated_current",
    per_evse=True,
    value_fn=lambda station, evse: None,  # the entity reads the site's allocation
)

RESERVATION = OcppSensorDescription(
    key="reservation",
    follows=RESERVATIONS,
    translation_key="reservation",
    per_evse=True,
    value_fn=lambda station, evse: None,  # the entity reads the station's reservations
)
RESERVATION_ANY_CONNECTOR = OcppSensorDescription(
    key="reservation_any_connector",
    follows=RESERVATIONS,
    translation_key="reservation_any_connector",
    value_fn=lambda station, evse: None,  # the entity reads the station's reservations
)

ENERGY = OcppSensorDescription(
    key="energy",
    follows=MEASUREMENTS,
    translation_key="energy",
    per_evse=True,
    device_class=SensorDeviceClass.ENERGY,
    state_class=SensorStateClass.TOTAL_INCREASING,
    native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
    suggested_display_precision=2,
    value_fn=_value(Measurand.ENERGY_IMPORT_REGISTER, scale=1 / 1000),
)
