"""What waits to be sent to a charger's upstream central system, in order (see `upstream`).

Two kinds of message wait here. *Durable* ones (transactions) are never dropped: each
is written to a SQLite file of its own and deleted once the upstream answered, so an
outage or a restart of Home Assistant loses none. The rest (heartbeats, statuses,
readings outside a session) are kept in memory only, never touch the file, at most
`MAX_DROPPABLE` of them, the oldest dropped (and counted) past that. A connector's
StatusNotification replaces the one before it still waiting (its place in line too),
and is the last kind dropped: after an outage the upstream gets each connector's latest
status, not a stale one or none.

Memory stays bounded however long the upstream is away: at most `DURABLE_IN_MEMORY`
durable messages are held, the later ones wait in the file only and are read back, in
order, once those are sent. While some wait only in the file, droppable messages are
dropped on arrival, as they could not be sent in their place.

Like the session journal, all SQLite work runs on a thread (a `QueueWriter`'s, shared
by every charger's queue); the event loop hands it writes, in order, and never waits
for them, except at `open`. Writes are grouped (group commit): what is queued,
answered, mapped or remembered within `GROUP_COMMIT_S` goes to the thread as one batch
and one SQLite transaction, instead of a thread hand-off and a commit for each
message's insert and its delete. A message the upstream answers within that window is
never written at all: it no longer needs keeping. The price is the session journal's:
a crash of the whole process within the window, or before the thread has committed,
loses the durable messages of that window, which the charger was already answered for
(10 ms at most; `close`, as on Home Assistant's stop, writes everything); and a delete not
yet committed has its message sent again after such a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .log_budget import LogBudget
from .upstream_store import PendingWrites, Queued, UpstreamStore
from .upstream_writer import GROUP_COMMIT_S, QueueWriter

__all__ = ["DURABLE_IN_MEMORY", "GROUP_COMMIT_S", "MAX_DROPPABLE", "Queued", "UpstreamQueue"]

_LOGGER = logging.getLogger(__name__)

DURABLE_IN_MEMORY = 500
MAX_DROPPABLE = 100
# Our 1.6 transaction ids and the upstream's, kept for the newest sessions.
MAX_TRANSACTION_MAP = 1000
_LOG_BUDGET = LogBudget(per_source=3, overall=30, period_s=600.0)


class UpstreamQueue:
    """The ordered, bounded, partly durable queue of one charger's upstream."""

    def __init__(
        self,
        path: Path,
        *,
        durable_in_memory: int = DURABLE_IN_MEMORY,
        max_droppable: int = MAX_DROPPABLE,
        writer: QueueWriter | None = None,
    ) -> None:
        """Prepare; `open` reads what the file kept.

        `writer` is the thread to write with, shared with other queues; without one the
        queue has a writer of its own, ended at `close`.
        """
        self.path = path
        self._store = UpstreamStore(path)
        self._durable_bound = durable_in_memory
        self._droppable_bound = max_droppable
        self._own_writer = writer is None
        self._writer = writer or QueueWriter()
        self._open = False
        self._pending = PendingWrites()
        self._items: deque[Queued] = deque()
        self._droppable = 0
        # The StatusNotification waiting (droppable, in `_items`) per connector.
        self._statuses: dict[tuple[int | None, int], Queued] = {}
        # Durable messages only in the file (after `_cursor`, the last one held here).
        self._spilled = 0
        self._cursor = 0
        self._seq = 0
        self._transactions: OrderedDict[str, str] = OrderedDict()
        self._meta: dict[str, str] = {}
        self._ready = asyncio.Event()
        self.dropped = 0
        self.store_failures = 0
        self.on_change: Callable[[], None] | None = None

    @property
    def queued(self) -> int:
        """How many messages wait, in memory and in the file."""
        return len(self._items) + self._spilled

    @property
    def spilled(self) -> int:
        """How many durable messages wait in the file only (`next` reads them back)."""
        return self._spilled

    async def open(self) -> None:
        """Open the file on the queue's thread and take up what it kept."""
        try:
            restored = await self._writer.run(self._store.restore, self._durable_bound)
        except BaseException:
            if self._own_writer:  # no thread left behind
                await self._writer.close()
            raise
        self._open = True
        self._items.extend(restored.head)
        self._spilled = restored.durable - len(restored.head)
        self._cursor = restored.head[-1].seq if restored.head else restored.last_seq
        self._seq = restored.last_seq
        self._transactions.update(restored.transactions)
        self._meta = restored.meta
        if self._items or self._spilled:
            self._ready.set()

    async def close(self) -> None:
        """Write what is gathered and close the file (and the writer, if the queue's own)."""
        if not self._open:
            return
        self._writer.flush()
        self._open = False
        await self._writer.run(self._store.close)
        if self._own_writer:
            await self._writer.close()

    def put(self, action: str, payload: dict[str, Any], *, durable: bool, ref: str | None) -> None:
        """Queue a message behind everything before it."""
        self._seq += 1
        entry = Queued(self._seq, action, payload, durable, ref)
        if durable:
            self._pending.added[entry.seq] = entry
            self._gather()
            if self._spilled or self._durable_count() >= self._durable_bound:
                self._spilled += 1
            else:
                self._items.append(entry)
                self._cursor = entry.seq
        elif self._spilled:
            self.dropped += 1
        else:
            if action == "StatusNotification":
                self._replace_status(entry)
            self._items.append(entry)
            self._droppable += 1
            if self._droppable > self._droppable_bound:
                self._drop_oldest()
        self._ready.set()
        self._changed()

    def _durable_count(self) -> int:
        return len(self._items) - self._droppable

    def _drop_oldest(self) -> None:
        # The head may be in flight: it stays, and is dropped by being answered. A
        # connector's latest status goes last (one per connector, see `_replace_status`).
        first_status = None
        for index, entry in enumerate(self._items):
            if index and not entry.durable:
                if entry.action == "StatusNotification":
                    first_status = index if first_status is None else first_status
                    continue
                self._drop(index)
                return
        if first_status is not None:
            self._drop(first_status)

    def _drop(self, index: int) -> None:
        entry = self._items[index]
        del self._items[index]
        self._forget_status(entry)
        self._droppable -= 1
        self.dropped += 1

    def _replace_status(self, entry: Queued) -> None:
        """A newer status of the same connector: the older one, still waiting, leaves."""
        if (key := _connector(entry)) is None:
            return  # not one we can tell the connector of: it just waits its turn
        older = self._statuses.get(key)
        self._statuses[key] = entry
        # Not the head, which may be in flight (it leaves by being answered).
        if older is not None and self._items and self._items[0] is not older:
            for index, waiting in enumerate(self._items):
                if waiting is older:
                    del self._items[index]
                    self._droppable -= 1
                    return

    def _forget_status(self, entry: Queued) -> None:
        key = _connector(entry) if entry.action == "StatusNotification" else None
        if key is not None and self._statuses.get(key) is entry:
            del self._statuses[key]

    def peek(self) -> Queued | None:
        """The oldest message held in memory, if any (`next` also reads the file)."""
        return self._items[0] if self._items else None

    async def next(self) -> Queued:
        """The oldest message that waits (it stays queued until `done`)."""
        while True:
            if self._items:
                return self._items[0]
            if self._spilled and await self.read_spilled():
                continue
            self._ready.clear()
            await self._ready.wait()

    async def read_spilled(self) -> bool:
        """Take up the next messages that wait in the file only; False: the file is closed.

        Nothing is read while messages are held in memory: those go first.
        """
        if not self._open:
            return False
        if self._items or not self._spilled:
            return True
        # What was gathered goes first: the thread writes it, then reads.
        self._writer.flush()
        batch = await self._writer.run(self._store.head, self._cursor, self._durable_bound)
        if not self._items:  # nothing came in while the file was read
            self._items.extend(batch)
            self._spilled = max(self._spilled - len(batch), 0) if batch else 0
            self._cursor = batch[-1].seq if batch else self._cursor
        return True

    def done(self, entry: Queued) -> None:
        """The upstream answered `entry`: it leaves the queue (and the file)."""
        if self._items and self._items[0] is entry:
            self._items.popleft()
            if not entry.durable:
                self._droppable -= 1
                self._forget_status(entry)
        # Not written yet (answered within the window): then it never needs to be.
        if entry.durable and self._pending.added.pop(entry.seq, None) is None:
            self._pending.removed.append(entry.seq)
            self._gather()
        self._changed()

    def map_transaction(self, ours: str, theirs: str) -> None:
        """Remember the upstream's id for one of our 1.6 transactions."""
        self._transactions[ours] = theirs
        self._transactions.move_to_end(ours)
        forget = None
        if len(self._transactions) > MAX_TRANSACTION_MAP:
            forget, _ = self._transactions.popitem(last=False)
        self._pending.transactions.append((ours, theirs, self._seq, forget))
        self._gather()

    def upstream_transaction(self, ours: str) -> str | None:
        """The upstream's id of our 1.6 transaction, when it has answered its start."""
        return self._transactions.get(ours)

    def our_transaction(self, theirs: str) -> str | None:
        """Our 1.6 transaction id of one the upstream names by its own id (the newest)."""
        # A scan of at most MAX_TRANSACTION_MAP pairs, only for the upstream's commands
        # (one at a time): cheaper than a second map to keep in step.
        for ours, mapped in reversed(self._transactions.items()):
            if mapped == theirs:
                return ours
        return None

    def meta(self, key: str) -> str | None:
        """A remembered value (the last boot, for one)."""
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        """Remember a value across restarts."""
        if self._meta.get(key) != value:
            self._meta[key] = value
            self._pending.meta[key] = value
            self._gather()

    # -- group commit (see `upstream_writer`) ----------------------------------------

    def _gather(self) -> None:
        if self._open:
            self._writer.gather(self)
        else:
            # Not open (or closed): nothing can be written.
            self._pending = PendingWrites()
            self.store_failures += 1

    def take_pending(self) -> tuple[UpstreamStore, PendingWrites] | None:
        """What was gathered since last asked (the writer's), None when nothing."""
        if not self._pending:
            return None
        batch, self._pending = self._pending, PendingWrites()
        return self._store, batch

    def write_failed(self, error: BaseException) -> None:
        """A batch could not be written: counted, and logged within a budget."""
        self.store_failures += 1
        if (left_out := _LOG_BUDGET.take(str(self.path))) is not None:
            _LOGGER.error(
                "Upstream queue %s: a write failed (%s writes have failed; %s similar lines"
                " left out): %s",
                self.path,
                self.store_failures,
                left_out,
                error,
            )

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def _connector(entry: Queued) -> tuple[int | None, int] | None:
    """A status's connector: 1.6 (None, connectorId), 2.x (evseId, connectorId)."""
    evse, connector = entry.payload.get("evseId"), entry.payload.get("connectorId")
    if isinstance(connector, int) and (evse is None or isinstance(evse, int)):
        return evse, connector
    return None
