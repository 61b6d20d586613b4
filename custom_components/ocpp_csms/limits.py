"""Charging profiles made in Home Assistant.

Limits in the unit a charger accepts, and profiles users write themselves (validated).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import voluptuous as vol
from homeassistant.helpers import config_validation as cv

from .csms.commands import ChargingProfile, ProfileKind, ProfilePurpose, SchedulePeriod
from .csms.station import Measurand, Station

NOMINAL_VOLTAGE_V = 230.0
# Profile ids this integration owns, one per purpose, so a new limit replaces the old.
LIMIT_PROFILE_ID = 1001


def phase_count(station: Station) -> int:
    """How many phases the charger uses, as its meter values show (1 when unknown)."""
    phases = {
        phase
        for evse in station.evses.values()
        for (measurand, phase), measurement in evse.measurements.items()
        if measurand == Measurand.CURRENT_IMPORT
        and phase in ("L1", "L2", "L3")
        and measurement.value > 0.5
    }
    return max(len(phases), 1)


def line_voltage(station: Station) -> float:
    """The measured phase voltage, or the nominal 230 V."""
    for evse in station.evses.values():
        for phase in (None, "L1-N", "L1"):
            value = evse.value(Measurand.VOLTAGE, phase)
            if value is not None and 100 < value < 300:
                return value
    return NOMINAL_VOLTAGE_V


def in_charger_unit(station: Station, value: float, unit: str = "A") -> tuple[str, float]:
    """A limit given in A or W, in the unit the charger accepts (A when it says nothing).

    Conversions use the voltage and the number of phases the charger measures.
    """
    capabilities = station.capabilities
    units = capabilities.charging_rate_units if capabilities else frozenset()
    accepted = units or frozenset({"A"})
    if unit in accepted:
        return unit, float(value)
    watts_per_amp = line_voltage(station) * phase_count(station)
    if unit == "A":
        return "W", float(round(value * watts_per_amp))
    return "A", round(value / watts_per_amp, 1)


def limit_profile(
    station: Station,
    value: float,
    purpose: ProfilePurpose,
    *,
    unit: str = "A",
    duration_s: int | None = None,
    kind: ProfileKind = ProfileKind.ABSOLUTE,
) -> ChargingProfile:
    """A profile limiting the charger (or a session) to `value` A or W, from now on."""
    charger_unit, limit = in_charger_unit(station, value, unit)
    return ChargingProfile(
        id=LIMIT_PROFILE_ID + list(ProfilePurpose).index(purpose),
        stack_level=0,
        purpose=purpose,
        kind=kind,
        start_schedule=(
            datetime.now(UTC).replace(microsecond=0) if kind is ProfileKind.ABSOLUTE else None
        ),
        duration_s=duration_s,
        unit=charger_unit,
        periods=(SchedulePeriod(0, limit),),
    )


_PERIOD = vol.Schema(
    {
        vol.Required("start"): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Required("limit"): vol.All(vol.Coerce(float), vol.Range(min=0)),
        vol.Optional("phases"): vol.In((1, 2, 3)),
    }
)
PROFILE_SCHEMA = vol.Schema(
    {
        vol.Required("id"): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("stack_level", default=0): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Required("purpose"): vol.In([purpose.value for purpose in ProfilePurpose]),
        vol.Optional("kind", default="Relative"): vol.In([kind.value for kind in ProfileKind]),
        vol.Optional("recurrency"): vol.In(("Daily", "Weekly")),
        vol.Optional("unit", default="A"): vol.In(("A", "W")),
        vol.Required("periods"): vol.All([_PERIOD], vol.Length(min=1)),
        vol.Optional("start_schedule"): cv.datetime,
        vol.Optional("duration"): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("valid_from"): cv.datetime,
        vol.Optional("valid_to"): cv.datetime,
        vol.Optional("transaction_id"): cv.string,
        vol.Optional("min_rate"): vol.Coerce(float),
    }
)


def profile_from_input(raw: Any) -> ChargingProfile:
    """A charging profile a user wrote (YAML / JSON), validated. Raises vol.Invalid."""
    data = PROFILE_SCHEMA(raw)
    return ChargingProfile(
        id=data["id"],
        stack_level=data["stack_level"],
        purpose=ProfilePurpose(data["purpose"]),
        kind=ProfileKind(data["kind"]),
        recurrency=data.get("recurrency"),
        unit=data["unit"],
        periods=tuple(
            SchedulePeriod(period["start"], period["limit"], period.get("phases"))
            for period in data["periods"]
        ),
        start_schedule=data.get("start_schedule"),
        duration_s=data.get("duration"),
        valid_from=data.get("valid_from"),
        valid_to=data.get("valid_to"),
        transaction_id=data.get("transaction_id"),
        min_rate=data.get("min_rate"),
    )
