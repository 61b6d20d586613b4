"""Cars the site balancer starts itself: plugged in and waiting, or paused by stopping.

Some chargers wait to be told before a car plugged in charges, and some go on charging
at 0 A, so the balancer pauses their sessions by stopping them (see `plug_in` and the
`Quirks` behind it). `WaitingCars` finds the cars waiting to be started, starts them
with their share as the session's profile, and pauses a session by stopping it,
remembering its tag so that it starts again as the same user's. What the balancer
shares among them stays in `site`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from .charging import limit_profile
from .commands import (
    Command,
    CommandResult,
    ProfileKind,
    ProfilePurpose,
    RemoteStart,
    RemoteStop,
)
from .plug_in import START_GRACE_S, evse_key, waiting_to_start
from .solar import ChargingMode
from .station import PLUGGED_IN, Evse, Station, Transaction

_LOGGER = logging.getLogger(__name__)

type Execute = Callable[[str, Command], Awaitable[CommandResult]]


@dataclass(frozen=True, slots=True)
class WaitingCar:
    """A plugged-in car whose session the balancer starts when it has current for it."""

    key: str
    station: Station
    evse: Evse
    tag: str
    mode: ChargingMode
    since: float


@dataclass(frozen=True, slots=True)
class _Paused:
    """A session stopped to pause it: its tag (to start it again) and its id."""

    tag: str
    transaction_id: str

    def goes_on(self, evse: Evse) -> bool:
        """Whether the pause still holds: its stop is on its way, or its car waits."""
        if evse.transaction is not None:
            return evse.transaction.id == self.transaction_id
        return evse.status in PLUGGED_IN


class WaitingCars:
    """Finds, starts and pauses (by stopping) the cars of chargers that need telling."""

    def __init__(
        self,
        execute: Execute,
        *,
        start_tag: Callable[[str], str],
        mode: Callable[[str], ChargingMode],
        clock: Callable[[], float],
    ) -> None:
        """Send with `execute`; the chargers' start tags and modes as the user set them."""
        self._execute = execute
        self._start_tag = start_tag
        self._mode = mode
        self._clock = clock
        # Sessions stopped to pause them, by key, until their car leaves or they start
        # again.
        self._paused: dict[str, _Paused] = {}
        # When each waiting car was first seen waiting, and when the charger accepted the
        # start of a car's session (see START_GRACE_S).
        self._since: dict[str, float] = {}
        self._started_at: dict[str, float] = {}

    def is_paused(self, key: str) -> bool:
        """Whether the session (or car) under `key` was stopped to pause it."""
        return key in self._paused

    def find(self, stations: Iterable[Station]) -> list[WaitingCar]:
        """Cars waiting to be started; forgets pauses whose car left or started again."""
        now = self._clock()
        self._started_at = {
            key: at for key, at in self._started_at.items() if now - at < START_GRACE_S
        }
        waiting = []
        paused_now: dict[str, _Paused] = {}
        for station in stations:
            for evse in station.evses.values():
                key = evse_key(station, evse)
                paused = self._paused.get(key)
                if paused is not None and paused.goes_on(evse):
                    paused_now[key] = paused
                else:
                    paused = None
                if key in self._started_at:
                    continue  # its start is on its way: not to be told twice
                if waiting_to_start(station, evse, paused_by_stop=paused is not None):
                    since = self._since.setdefault(key, now)
                    tag = paused.tag if paused else self._start_tag(station.id)
                    mode = self._mode(station.id)
                    waiting.append(WaitingCar(key, station, evse, tag, mode, since))
        self._paused = paused_now
        keys = {car.key for car in waiting}
        self._since = {key: at for key, at in self._since.items() if key in keys}
        return waiting

    async def start(self, car: WaitingCar, limit_a: float, duration_s: int) -> bool:
        """Start a waiting car's session with its share as the session's profile."""
        profile = limit_profile(
            car.station,
            limit_a,
            ProfilePurpose.TX,
            kind=ProfileKind.RELATIVE,
            duration_s=duration_s,
        )
        result = await self._execute(
            car.station.id, RemoteStart(car.tag, evse_id=car.evse.id, profile=profile)
        )
        if result.accepted:
            self._started_at[car.key] = self._clock()
            return True
        _LOGGER.info(
            "Charger %s did not start the session waiting on %s (%s %s)",
            car.station.id,
            car.evse.id,
            result.status,
            result.detail,
        )
        car.station.warn("site_start_refused")
        return False

    async def pause(self, key: str, station: Station, transaction: Transaction) -> bool:
        """Pause a session of a charger that goes on at 0 A: stop it."""
        result = await self._execute(station.id, RemoteStop(transaction.id))
        if result.accepted:
            tag = transaction.id_tag or self._start_tag(station.id)
            self._paused[key] = _Paused(tag, transaction.id)
            return True
        _LOGGER.warning(
            "Charger %s did not stop the session the site pauses (%s %s)",
            station.id,
            result.status,
            result.detail or "",
        )
        station.warn("site_limit_not_applied")
        return False
