"""A charger's current limit: set the way the charger takes it, and read back.

The limit goes out as a station-wide maximum profile (1.6 ChargePointMaxProfile, 2.x
ChargingStationMaxProfile). A charger that refuses those, or is known to ignore them
(`Quirks.limit_in_default_profile`), has its default profile held to the limit instead:
the one that also carries its weekly schedule and the site's failsafe
(`ChargerUpkeep.set_default_cap`). Reading back asks the charger's composite schedule
for what it applies now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from .charging import limit_now_in_amps, limit_profile
from .commands import (
    Command,
    CommandResult,
    CommandStatus,
    GetCompositeSchedule,
    ProfilePurpose,
    SetChargingProfile,
)
from .station import Station
from .upkeep import ChargerUpkeep

# How far ahead the composite schedule is asked for: only its first period, the limit
# now, is read.
_READ_WINDOW_S = 60

type Execute = Callable[[str, Command], Awaitable[CommandResult]]


class LimitWay(StrEnum):
    """How a current limit went out to a charger."""

    STATION_MAXIMUM = "station_maximum"
    DEFAULT_PROFILE = "default_profile"


@dataclass(frozen=True, slots=True)
class LimitSet:
    """The end of setting a limit: the charger's answer, and the way it went out."""

    result: CommandResult
    way: LimitWay


@dataclass(frozen=True, slots=True)
class LimitRead:
    """What the charger said it applies now (None: it would not say, see `result`)."""

    limit_a: float | None
    result: CommandResult


class CurrentLimits:
    """Sets and reads back chargers' current limits."""

    def __init__(self, execute: Execute, upkeep: ChargerUpkeep) -> None:
        """Send with `execute`; default profiles are kept by `upkeep`."""
        self._execute = execute
        self._upkeep = upkeep

    async def set(self, station: Station, limit_a: float) -> LimitSet:
        """Limit the charger to `limit_a`, as a station maximum or in its default profile."""
        if not station.quirks.limit_in_default_profile:
            profile = limit_profile(station, limit_a, ProfilePurpose.STATION_MAX)
            result = await self._execute(station.id, SetChargingProfile(0, profile))
            if result.status not in (CommandStatus.REJECTED, CommandStatus.NOT_SUPPORTED):
                return LimitSet(result, LimitWay.STATION_MAXIMUM)
        result = await self._upkeep.set_default_cap(station, limit_a)
        return LimitSet(result, LimitWay.DEFAULT_PROFILE)

    def keep_in_default_profile(self, charger_id: str, limit_a: float) -> None:
        """Hold the default profile to a limit set before a restart (sent when ready)."""
        self._upkeep.default_caps[charger_id] = limit_a

    async def read(self, station: Station) -> LimitRead:
        """What the charger applies now, in amperes, from its composite schedule."""
        result = await self._execute(station.id, GetCompositeSchedule(0, _READ_WINDOW_S, "A"))
        limit = limit_now_in_amps(station, result.data) if result.accepted else None
        return LimitRead(limit, result)
