"""The droppable messages in an upstream's queue: bounded, each connector's latest status kept.

The queue (`upstream_queue`) holds its messages in one line; `Droppables` does the
bookkeeping of those that are not durable (heartbeats, statuses, readings outside a
session): at most `bound` of them and `max_bytes` of their JSON, the oldest dropped
(and counted) past that. The first in line may be in flight: it stays, and leaves by
being answered; so does the one just queued (larger than the bound, it is held alone).
A connector's StatusNotification replaces the one still waiting for it (its place in
line too) and statuses are dropped last: after an outage the upstream gets each
connector's latest status, not a stale one or none.

While durable messages wait in the queue's file only, a droppable message cannot be
queued in its place (it would go before them) and is dropped on arrival, except a
status: the latest per connector waits *aside* (`put_aside`), in the order they came,
and joins the line once the file's messages that came before it are read back
(`join`). So even after a long outage the upstream ends with each connector's latest
status, after the transaction messages that came before it. Those aside count towards
the same bounds, dropped oldest first (after those in line) past them: the queue's
droppable memory stays what its module states, however many connectors a charger
claims.
"""

from __future__ import annotations

from collections import deque

from .upstream_store import Queued

# A status's connector: 1.6 (None, connectorId), 2.x (evseId, connectorId).
StatusKey = tuple[int | None, int]


def connector_of(entry: Queued) -> StatusKey | None:
    """The connector a StatusNotification is about; None when it names none we can tell."""
    evse, connector = entry.payload.get("evseId"), entry.payload.get("connectorId")
    if isinstance(connector, int) and (evse is None or isinstance(evse, int)):
        return evse, connector
    return None


class Droppables:
    """The droppable messages of one queue's line, and the statuses aside (see module)."""

    def __init__(self, line: deque[Queued], bound: int, max_bytes: int) -> None:
        """Keep the books of `line` (the queue's, shared): at most `bound` and `max_bytes`."""
        self._line = line
        self._bound = bound
        self._max_bytes = max_bytes
        # How many droppable messages are in the line, and their JSON length.
        self.count = 0
        self._bytes = 0
        # The status waiting in the line per connector.
        self._statuses: dict[StatusKey, Queued] = {}
        # The latest status per connector aside, oldest first (a dict keeps its order).
        self._aside: dict[StatusKey, Queued] = {}
        self._aside_bytes = 0
        self.dropped = 0

    @property
    def aside(self) -> int:
        """How many statuses wait aside."""
        return len(self._aside)

    def put(self, entry: Queued) -> None:
        """Queue `entry` at the end of the line; the oldest leave past the bounds."""
        if entry.action == "StatusNotification" and (key := connector_of(entry)) is not None:
            self._remove_waiting(key)
            self._statuses[key] = entry
        # Not one we can tell the connector of: it just waits its turn.
        self._line.append(entry)
        self.count += 1
        self._bytes += entry.size
        while self._over() and self._drop_oldest(entry):
            pass

    def put_aside(self, entry: Queued) -> None:
        """Durable messages wait in the file only: a status waits aside, the rest is dropped."""
        key = connector_of(entry) if entry.action == "StatusNotification" else None
        if key is None:
            self.dropped += 1
            return
        self._remove_waiting(key)  # an older one still in line: this one is newer
        if (older := self._aside.pop(key, None)) is not None:
            self._aside_bytes -= older.size
        self._aside[key] = entry
        self._aside_bytes += entry.size
        # Those in line go first (statuses last), then the oldest aside.
        while self._over() and not self._drop_oldest(entry):
            oldest = next((k for k, kept in self._aside.items() if kept is not entry), None)
            if oldest is None:
                return
            self._aside_bytes -= self._aside.pop(oldest).size
            self.dropped += 1

    def join(self, batch: list[Queued], before: int | None) -> list[Queued]:
        """`batch`, read back from the file, and the statuses aside that came before it.

        Those aside before `before` (None: all, the file has none left) join, in the
        order everything came.
        """
        joined = []
        for key, entry in list(self._aside.items()):
            if before is not None and entry.seq >= before:
                break
            del self._aside[key]
            self._aside_bytes -= entry.size
            self._statuses[key] = entry
            self.count += 1
            self._bytes += entry.size
            joined.append(entry)
        return sorted(batch + joined, key=lambda entry: entry.seq) if joined else batch

    def left(self, entry: Queued) -> None:
        """`entry`, first in line, was answered and left it."""
        self.count -= 1
        self._bytes -= entry.size
        self._forget_status(entry)

    def _over(self) -> bool:
        return (
            self.count + len(self._aside) > self._bound
            or self._bytes + self._aside_bytes > self._max_bytes
        )

    def _drop_oldest(self, newest: Queued) -> bool:
        first_status = None
        for index, entry in enumerate(self._line):
            if index and not entry.durable and entry is not newest:
                if entry.action == "StatusNotification":
                    first_status = index if first_status is None else first_status
                    continue
                self._drop(index)
                return True
        if first_status is not None:
            self._drop(first_status)
            return True
        return False

    def _drop(self, index: int) -> None:
        entry = self._line[index]
        del self._line[index]
        self._forget_status(entry)
        self.count -= 1
        self._bytes -= entry.size
        self.dropped += 1

    def _remove_waiting(self, key: StatusKey) -> None:
        """The status of `key` waiting in line leaves, unless first (it may be in flight)."""
        older = self._statuses.get(key)
        if older is not None and self._line and self._line[0] is not older:
            for index, waiting in enumerate(self._line):
                if waiting is older:
                    del self._line[index]
                    del self._statuses[key]
                    self.count -= 1
                    self._bytes -= older.size
                    return

    def _forget_status(self, entry: Queued) -> None:
        key = connector_of(entry) if entry.action == "StatusNotification" else None
        if key is not None and self._statuses.get(key) is entry:
            del self._statuses[key]
