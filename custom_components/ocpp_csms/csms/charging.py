"""Charging profiles and the conversion between amperes and watts.

Home Assistant speaks amperes (the current-limit number, per-tag limits); chargers
may accept only watts. Conversions use the voltage and the number of phases the
charger measures.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .commands import ChargingProfile, ProfileKind, ProfilePurpose, SchedulePeriod
from .station import Measurand, Station

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
    transaction_id: str | None = None,
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
        transaction_id=transaction_id,
    )
