"""The sessions the site balances, and the current they are measured drawing per phase."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .charging import ALL_PHASES
from .site_settings import ChargerLimits
from .solar import ChargingMode
from .station import Evse, Measurand, Station, Transaction

_PHASE_NAMES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class BalancedSession:
    """A running, authorized session of a connected charger, as the balancer sees it."""

    key: str
    station: Station
    evse: Evse
    transaction: Transaction
    mode: ChargingMode
    # Whether the charger switches phases: then each profile says how many to use.
    switchable: bool


def charging_sessions(
    stations: Iterable[Station], chargers: ChargerLimits
) -> list[BalancedSession]:
    """The sessions to balance: authorized ones of connected chargers."""
    return [
        BalancedSession(
            f"{station.id}/{evse.id}",
            station,
            evse,
            evse.transaction,
            chargers.mode(station.id),
            chargers.switches_phases(station.id),
        )
        for station in stations
        if station.connected
        for evse in station.evses.values()
        if evse.transaction is not None and evse.transaction.authorized
    ]


def measured_phases(evse: Evse) -> frozenset[int]:
    """The phases (0-2 for L1-L3) a session is measured drawing on now; none: not known."""
    return frozenset(
        index
        for index, name in enumerate(_PHASE_NAMES)
        if (evse.value(Measurand.CURRENT_IMPORT, name) or 0.0) > 0.5
    )


def phases_of(evse: Evse) -> frozenset[int]:
    """The phases a session draws on: as measured, else all three (the safe guess)."""
    return measured_phases(evse) or ALL_PHASES


def draw_of(sessions: list[BalancedSession]) -> list[float]:
    """What the chargers draw now, per phase."""
    draw = [0.0, 0.0, 0.0]
    for session in sessions:
        evse = session.evse
        per_phase = [evse.value(Measurand.CURRENT_IMPORT, name) for name in _PHASE_NAMES]
        if any(value is not None for value in per_phase):
            for index, value in enumerate(per_phase):
                draw[index] += value or 0.0
        elif (total := evse.value(Measurand.CURRENT_IMPORT)) is not None:
            for index in phases_of(evse):
                draw[index] += total
    return draw
