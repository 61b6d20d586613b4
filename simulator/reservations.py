"""The reservations a simulated charger holds, as OCPP says a charger keeps them.

A ReserveNow is accepted for a free connector (or, for connector 0, while more
connectors are free than "any connector" reservations hold), refused as Occupied
otherwise, and as Rejected for a connector the charger does not have. The same id
replaces a reservation. A session started with the reserved tag uses it; a
CancelReservation for an id the charger does not hold is Rejected; at its expiry the
charger drops it and tells the central system (`on_expired`, per version).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from websockets.exceptions import ConnectionClosed


@dataclass(slots=True)
class HeldReservation:
    """One reservation: a connector (0: any) held for a tag until `expiry`."""

    connector: int
    id_tag: str
    expiry: datetime
    timer: asyncio.Task[None] | None = None


def parse_expiry(text: str) -> datetime:
    """An OCPP timestamp as an aware datetime (a missing zone is UTC)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ReservationBook:
    """What a charger has reserved, and for whom."""

    def __init__(
        self,
        connectors: int,
        busy: Callable[[int], bool],
        on_expired: Callable[[int, HeldReservation], Awaitable[None]],
    ) -> None:
        """Serve `connectors` connectors; `busy` tells one with a session running."""
        self._connectors = connectors
        self._busy = busy
        self._on_expired = on_expired
        self.held: dict[int, HeldReservation] = {}
        # Every expiry task, also one telling of its expiry after it left `held`.
        self._timers: set[asyncio.Task[None]] = set()

    def answer(self, reservation_id: int, connector: int) -> str:
        """The status a charger answers a ReserveNow with (before `answers` overrides)."""
        if not 0 <= connector <= self._connectors:
            return "Rejected"
        others = [held for key, held in self.held.items() if key != reservation_id]
        if connector == 0:
            free = [
                each
                for each in range(1, self._connectors + 1)
                if not self._busy(each) and all(held.connector != each for held in others)
            ]
            anywhere = sum(held.connector == 0 for held in others)
            return "Accepted" if len(free) > anywhere else "Occupied"
        if self._busy(connector) or any(held.connector == connector for held in others):
            return "Occupied"
        return "Accepted"

    def take(self, reservation_id: int, connector: int, id_tag: str, expiry: datetime) -> None:
        """Hold an accepted reservation until its expiry (replacing one with its id)."""
        self._drop(reservation_id)
        held = HeldReservation(connector, id_tag, expiry)
        held.timer = asyncio.create_task(self._expire_at(reservation_id, held))
        self._timers.add(held.timer)
        held.timer.add_done_callback(self._timers.discard)
        self.held[reservation_id] = held

    def cancel(self, reservation_id: int) -> HeldReservation | None:
        """Cancel a reservation; the one cancelled, or None if none had the id."""
        return self._drop(reservation_id)

    def use(self, connector: int, id_tag: str) -> int | None:
        """The id of the reservation a session of `id_tag` on `connector` uses, if any.

        A reservation of that connector first, else one for any connector.
        """
        for wanted in (connector, 0):
            for reservation_id, held in self.held.items():
                if held.connector == wanted and held.id_tag == id_tag:
                    self._drop(reservation_id)
                    return reservation_id
        return None

    def reserved(self, connector: int) -> bool:
        """Whether a reservation holds this connector."""
        return any(held.connector == connector for held in self.held.values())

    async def close(self) -> None:
        """Stop waiting for expiries (the charger is going away)."""
        timers = list(self._timers)
        self.held.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    def _drop(self, reservation_id: int) -> HeldReservation | None:
        held = self.held.pop(reservation_id, None)
        if held is not None and held.timer is not None and held.timer is not asyncio.current_task():
            held.timer.cancel()
        return held

    async def _expire_at(self, reservation_id: int, held: HeldReservation) -> None:
        wait = (held.expiry - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(wait, 0.0))
        if self.held.get(reservation_id) is held:
            self._drop(reservation_id)
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                await self._on_expired(reservation_id, held)
