"""Sessions of chargers that wait to be told: started on plug-in, paused by stopping.

A charger whose quirk profile says `starts_only_remotely` (a Wallbox) sits in Preparing
with a car plugged in until a remote start comes, where others start by themselves.
Without a site, `PlugInStarter` sends that start at once, with the charger's tag for
remote starts, unless the user set the charger's mode to Off. With a site the balancer
decides when there is current for it (`SiteBalancer`): a waiting car is one more
demand, started when its share reaches the minimum.

A charger that does not pause at 0 A (`pauses_at_zero_current` false: a Wallbox goes
on at 6 A) has a session the balancer pauses stopped instead; the car, still plugged
in, then waits like a new one and its session is started again (with its own tag) when
there is current. `waiting_to_start` is the one rule for both. A start the charger
accepted has `START_GRACE_S` to begin its transaction before the car counts as waiting
again, so a status sent twice meanwhile does not start it twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .commands import Command, CommandResult, RemoteStart
from .solar import ChargingMode
from .station import PLUGGED_IN, ConnectorStatus, Evse, Station

_LOGGER = logging.getLogger(__name__)

# How long a remote start the charger accepted has to begin its transaction before the
# car counts as waiting again: a charger that sends its status again meanwhile is not
# told to start twice.
START_GRACE_S = 60.0

# What a car just plugged in looks like: 1.6 Preparing, 2.x Occupied.
_JUST_PLUGGED_IN = frozenset({ConnectorStatus.PREPARING, ConnectorStatus.OCCUPIED})

type Execute = Callable[[str, Command], Awaitable[CommandResult]]
type Spawn = Callable[[Coroutine[Any, Any, None]], None]


def evse_key(station: Station, evse: Evse) -> str:
    """The key of an EVSE's session among all chargers' (as the site balancer's)."""
    return f"{station.id}/{evse.id}"


def waiting_to_start(station: Station, evse: Evse, *, paused_by_stop: bool) -> bool:
    """Whether a car on this EVSE waits for the central system to start its session.

    A car just plugged into a charger that starts only remotely waits; so does the car
    of a session we stopped to pause it, while it stays plugged in.
    """
    if not (station.connected and station.accepted) or evse.transaction is not None:
        return False
    if paused_by_stop:
        return evse.status in PLUGGED_IN
    # Only a car just plugged in: one still plugged in after its session ended (the
    # user stopped it) is not started again behind their back.
    return (
        station.quirks.starts_only_remotely
        and evse.status in _JUST_PLUGGED_IN
        and evse.previous_status not in PLUGGED_IN
    )


class PlugInStarter:
    """Starts the sessions of chargers that wait for a remote start (no site)."""

    def __init__(
        self,
        execute: Execute,
        spawn: Spawn,
        *,
        mode: Callable[[str], ChargingMode],
        start_tag: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start sessions with `execute`, in tasks `spawn` owns."""
        self._execute = execute
        self._spawn = spawn
        self._mode = mode
        self._start_tag = start_tag
        self._clock = clock
        # Starts on their way, by EVSE key, and when each was accepted: one at a time
        # per EVSE (a status sent twice must not start two sessions).
        self._starting: set[str] = set()
        self._started_at: dict[str, float] = {}

    def evse_changed(self, station: Station, evse: Evse) -> None:
        """An EVSE's status changed: start its session if a car waits for one."""
        key = evse_key(station, evse)
        now = self._clock()
        self._started_at = {
            started: at for started, at in self._started_at.items() if now - at < START_GRACE_S
        }
        if key in self._starting or key in self._started_at:
            return
        if not waiting_to_start(station, evse, paused_by_stop=False):
            return
        if self._mode(station.id) is ChargingMode.OFF:
            return  # the user does not want it to charge now
        self._starting.add(key)
        self._spawn(self._start(station, evse, key))

    async def _start(self, station: Station, evse: Evse, key: str) -> None:
        try:
            command = RemoteStart(self._start_tag(station.id), evse_id=evse.id)
            result = await self._execute(station.id, command)
        finally:
            self._starting.discard(key)
        if result.accepted:
            self._started_at[key] = self._clock()
            return
        _LOGGER.info(
            "Charger %s did not start the session of the car plugged into %s (%s %s)",
            station.id,
            evse.id,
            result.status,
            result.detail,
        )
        station.warn("plug_in_start_refused")
