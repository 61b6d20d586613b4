"""Reservations: what a station holds for a tag, as the central system made it.

A reservation is recorded when a charger accepts our ReserveNow, and ends when a
transaction starts with it, when we cancel it (or the charger says it has no such
reservation), when a 2.x charger reports it expired or removed, or when its expiry
passes (`reservation_upkeep` follows our commands and the expiry). Only active
reservations are kept; they are not journaled, so a restart of the central system
forgets them (the chargers still hold theirs). Nothing here knows a message name: the
version adapters report what happened in these words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

# Reservations kept per station. A charger holds at most one per EVSE and one for the
# whole station, so this bound is only reached by a charger accepting everything.
MAX_RESERVATIONS = 100


class ReservationStatus(StrEnum):
    """Where a reservation is: held, or how it ended."""

    RESERVED = "reserved"
    USED = "used"  # a transaction started with it
    CANCELLED = "cancelled"  # cancelled by us, or the charger no longer held it
    EXPIRED = "expired"
    REMOVED = "removed"  # the charger removed it (2.x), for example by going inoperative


@dataclass(frozen=True, slots=True)
class Reservation:
    """An EVSE (1.6: connector), or any EVSE of the station, held for a tag until `expiry`."""

    id: int
    evse_id: int | None  # None: any EVSE of the station (1.6 connector 0)
    id_tag: str
    expiry: datetime
    status: ReservationStatus = ReservationStatus.RESERVED

    def active_at(self, now: datetime) -> bool:
        """Whether the reservation still holds at `now`."""
        return self.status is ReservationStatus.RESERVED and self.expiry > now


class Reservations:
    """A station's active reservations, in the order they were made (bounded)."""

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        """Start with none."""
        self._by_id: dict[int, Reservation] = {}

    def __len__(self) -> int:
        """How many are kept (expired ones included until `expire` runs)."""
        return len(self._by_id)

    def add(self, reservation: Reservation) -> None:
        """Record a reservation; one with the same id is replaced, as OCPP says.

        Beyond MAX_RESERVATIONS the oldest is forgotten.
        """
        self._by_id.pop(reservation.id, None)
        self._by_id[reservation.id] = reservation
        while len(self._by_id) > MAX_RESERVATIONS:
            del self._by_id[next(iter(self._by_id))]

    def end(self, reservation_id: int, status: ReservationStatus) -> Reservation | None:
        """End a reservation; the ended one (with `status`), or None if we held none."""
        ended = self._by_id.pop(reservation_id, None)
        return None if ended is None else replace(ended, status=status)

    def expire(self, now: datetime) -> list[Reservation]:
        """End every reservation whose expiry has passed; the ended ones."""
        expired = [
            reservation for reservation in self._by_id.values() if not reservation.active_at(now)
        ]
        return [
            replace(self._by_id.pop(reservation.id), status=ReservationStatus.EXPIRED)
            for reservation in expired
        ]

    def active(self, now: datetime) -> list[Reservation]:
        """The reservations holding at `now`, oldest first (expired ones are not)."""
        return [reservation for reservation in self._by_id.values() if reservation.active_at(now)]

    def on_evse(self, evse_id: int | None, now: datetime) -> Reservation | None:
        """The newest reservation holding `evse_id` (None: any EVSE) at `now`."""
        found = [r for r in self.active(now) if r.evse_id == evse_id]
        return found[-1] if found else None

    def next_expiry(self) -> datetime | None:
        """When the next reservation expires, if any is kept."""
        return min((reservation.expiry for reservation in self._by_id.values()), default=None)
