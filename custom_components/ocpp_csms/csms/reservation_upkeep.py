"""Following reservations: what our commands did to them, and their expiry passing.

`follow_command` records what an accepted ReserveNow or CancelReservation did;
`ReservationExpiry` ends reservations when their expiry passes, one timer per station.
The reservations themselves are in `reservations`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from .commands import CancelReservation, Command, CommandResult, CommandStatus, ReserveNow
from .reservations import Reservation, ReservationStatus
from .station import Station

_LOGGER = logging.getLogger(__name__)

# The longest wait of an expiry timer before it looks again: a wall clock set forward
# or back while it waits is noticed within this time.
_LONGEST_WAIT_S = 3600.0


def follow_command(station: Station, command: Command, result: CommandResult) -> bool:
    """Record what a ReserveNow or CancelReservation did; whether reservations changed.

    Any other command changes nothing.
    """
    reservations = station.reservations
    match command:
        case ReserveNow() if result.accepted:
            # 1.6 reserves "any connector" as connector 0; the model says None.
            evse_id = command.evse_id or None
            reservations.add(
                Reservation(command.reservation_id, evse_id, command.id_tag, command.expiry)
            )
            return True
        case CancelReservation() if result.accepted or result.status is CommandStatus.REJECTED:
            # Both versions refuse a cancellation only for a reservation they do not hold
            # (used, expired, or never made): either way it holds nothing any more.
            ended = reservations.end(command.reservation_id, ReservationStatus.CANCELLED)
            return ended is not None
    return False


class ReservationExpiry:
    """Ends reservations when their expiry passes, one timer per station.

    `watch` (after every change of a station's reservations) times the station's next
    expiry; when it passes, the expired reservations end and `announce` tells of it.
    """

    def __init__(
        self,
        announce: Callable[[Station], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Announce ended reservations through `announce`; `clock` tells the time."""
        self._announce = announce
        self._clock = clock
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def watch(self, station: Station) -> None:
        """Time the station's next expiry (or nothing, when it holds no reservation)."""
        self.forget(station.id)
        expiry = station.reservations.next_expiry()
        if expiry is None:
            return
        wait = min(max((expiry - self._clock()).total_seconds(), 0.0), _LONGEST_WAIT_S)
        loop = asyncio.get_running_loop()
        self._timers[station.id] = loop.call_later(wait, self._expire, station)

    def _expire(self, station: Station) -> None:
        self._timers.pop(station.id, None)
        ended = station.reservations.expire(self._clock())
        for reservation in ended:
            _LOGGER.debug("Charger %s: reservation %s expired", station.id, reservation.id)
        if ended:
            self._announce(station)  # which watches again
        else:
            self.watch(station)  # woken early (a long wait, or the clock moved)

    def forget(self, charger_id: str) -> None:
        """Stop timing a station's reservations (removed, or watched anew)."""
        if (timer := self._timers.pop(charger_id, None)) is not None:
            timer.cancel()

    def stop(self) -> None:
        """Stop every timer."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
