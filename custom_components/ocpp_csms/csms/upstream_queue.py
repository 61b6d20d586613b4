"""What waits to be sent to a charger's upstream central system, in order (see `upstream`).

Two kinds of message wait here. *Durable* ones (transactions) are not dropped: each is
written to a SQLite file of its own and deleted once the upstream answered, so an
outage or a restart of Home Assistant loses none (only a file failing for long does,
see below). The rest (heartbeats, statuses, readings outside a session) are kept in
memory only, never touch the file, at most `MAX_DROPPABLE` of them, the oldest dropped
(and counted) past that, each connector's latest status last (see `upstream_droppable`).

Memory stays bounded however long the upstream is away, by size as well as by count
(sizes are the payloads' JSON lengths): at most `DURABLE_IN_MEMORY` durable messages
and `DURABLE_BYTES` of them are held, the later ones wait in the file only and are read
back, in order, once those are sent; droppable ones at most `MAX_DROPPABLE` and
`DROPPABLE_BYTES`. The first `UNMEASURED` durable messages held, the next to go, are
held whatever their size and not measured (JSON costs a few µs a message, and they are
mostly answered before they would be written), so up to that many frames come on top
of the durable bound; a droppable one larger than its bound is held as the only one.
While some wait only in the file, droppable messages are dropped on arrival, as they
could not be sent in their place, except each connector's latest status: it waits
aside, within the droppable bounds, and takes its place in line once the file's
messages that came before it are read back.

A failed write is tried again (see `upstream_queue_file`); until it is committed a
message's JSON stays in memory too, at most `UNWRITTEN_BYTES` of it (with each row's
overhead) while the file fails, `SLOW_FILE_FACTOR` times that while it is only slow: a
durable message past that is held in memory only when the bounds above have room for it
(sent in its turn, not kept across a restart; counted in `not_kept`, logged), else lost,
counted in `dropped` and `lost`, and logged. The last failure shows as `store_error`
until a write succeeds again.

Worst case per charger, measured with tracemalloc (20,000 MeterValues of 187 bytes,
5,000 of 3 KB, 60 of 630 KB, sent during an outage, with the file working and with it
failing every write; `test_memory_per_charger_stays_bounded` checks the 3 KB case):
parsed JSON takes 3 to 5 times its length, so the held durable messages take at most
about 0.9 MiB, the droppable ones about 0.3 MiB, and the JSON not yet written 1 MiB
(4 MiB while the file only stalls): measured 1.4 to 1.9 MiB while the file fails,
under 1.4 MiB while it works, about 5 MiB while it stalls. Frames near the 1 MiB limit
add about 3 MiB each parsed for the `UNMEASURED` messages and the droppable one held
past their bounds: 630 KB MeterValues measured 4.2 MiB (failing) to 4.8 MiB (working).

Like the session journal, all SQLite work runs on a thread (a `QueueWriter`'s, shared
by every charger's queue); the event loop hands it writes, in order, and never waits
for them, except at `open`. Writes are grouped (group commit): every `GROUP_COMMIT_S`
while there are some, what is due goes to the thread as one batch and one SQLite
transaction, instead of a thread hand-off and a commit for each message's insert and
its delete. A durable message is due once it has waited `WRITE_AFTER_S` unanswered;
one the upstream answers before is never written at all: it no longer needs keeping.
The price is the session journal's: a crash of the whole process loses the durable
messages not yet written (those of the last `WRITE_AFTER_S` and a tick or two), which
the charger was already answered for (`close`, as on Home Assistant's stop, writes
everything, a failed write tried once more, and logs what it could not); and a delete
not yet committed has its message sent again after such a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .log_budget import LogBudget
from .upstream_droppable import Droppables
from .upstream_queue_file import QueueFile
from .upstream_settings import Backoff
from .upstream_store import Queued, UpstreamStore, to_text
from .upstream_writer import CLOSE_TIMEOUT_S, GROUP_COMMIT_S, QueueWriter

__all__ = [
    "DROPPABLE_BYTES",
    "DURABLE_BYTES",
    "DURABLE_IN_MEMORY",
    "GROUP_COMMIT_S",
    "MAX_DROPPABLE",
    "UNWRITTEN_BYTES",
    "Queued",
    "UpstreamQueue",
]

_LOGGER = logging.getLogger(__name__)

DURABLE_IN_MEMORY = 500
DURABLE_BYTES = 256 * 1024
MAX_DROPPABLE = 100
DROPPABLE_BYTES = 64 * 1024
UNWRITTEN_BYTES = 1024 * 1024
SLOW_FILE_FACTOR = 4
# The first durable messages held are not measured (see the module).
UNMEASURED = 2
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
        durable_bytes: int = DURABLE_BYTES,
        droppable_bytes: int = DROPPABLE_BYTES,
        unwritten_bytes: int = UNWRITTEN_BYTES,
        writer: QueueWriter | None = None,
        store: UpstreamStore | None = None,
        retry: Backoff | None = None,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
    ) -> None:
        """Prepare; `open` reads what the file kept.

        `writer` is the thread to write with, shared with other queues; without one the
        queue has a writer of its own, ended at `close`. `store` (the file's SQLite
        side) and `retry` (the backoff of failed writes) are for tests.
        """
        self.path = path
        self._store = store or UpstreamStore(path)
        self._durable_bound = durable_in_memory
        self._durable_bytes = durable_bytes
        self._unwritten_bound = unwritten_bytes
        self._close_timeout_s = close_timeout_s
        self._own_writer = writer is None
        self._writer = writer or QueueWriter()
        self._file = QueueFile(self._store, self._writer, retry=retry, on_failure=self._changed)
        self._open = False
        self._items: deque[Queued] = deque()
        self._droppables = Droppables(self._items, max_droppable, droppable_bytes)
        # JSON length of the durable messages in `_items`.
        self._held_bytes = 0
        # Durable messages only in the file (after `_cursor`, the last one held here).
        self._spilled = 0
        self._cursor = 0
        self._seq = 0
        # The transaction map's age, kept in the file (its eviction is oldest first).
        self._mapped = 0
        self._transactions: OrderedDict[str, str] = OrderedDict()
        self._meta: dict[str, str] = {}
        self._ready = asyncio.Event()
        self._dropped = 0
        # Durable messages lost: the file failed too long (also counted in `dropped`).
        self.lost = 0
        # Durable messages held in memory only, as the file failed too long (see
        # `_hold_unkept`), and those of them still waiting, by seq (at most the bound).
        self.not_kept = 0
        self._unkept: set[int] = set()
        self._not_open = 0
        self.on_change: Callable[[], None] | None = None

    @property
    def queued(self) -> int:
        """How many messages wait, in memory and in the file."""
        return len(self._items) + self._spilled + self._droppables.aside

    @property
    def dropped(self) -> int:
        """How many messages were dropped: droppable ones past their bounds, and `lost`."""
        return self._dropped + self._droppables.dropped

    @property
    def store_failures(self) -> int:
        """How many writes have failed (each is tried again), or came while closed."""
        return self._file.failures + self._not_open

    @property
    def store_error(self) -> str:
        """The last write's failure, "" once a write succeeded again."""
        return self._file.error

    @property
    def spilled(self) -> int:
        """How many durable messages wait in the file only (`next` reads them back)."""
        return self._spilled

    async def open(self) -> None:
        """Open the file on the queue's thread and take up what it kept."""
        try:
            restored = await self._writer.run(
                self._store.restore, self._durable_bound, self._durable_bytes
            )
        except BaseException:
            if self._own_writer:  # no thread left behind
                await self._writer.close()
            raise
        self._open = True
        self._file.start()
        self._items.extend(restored.head)
        self._held_bytes = sum(entry.size for entry in restored.head)
        self._spilled = restored.durable - len(restored.head)
        self._cursor = restored.head[-1].seq if restored.head else restored.last_seq
        self._seq = restored.last_seq
        self._mapped = restored.last_mapped
        self._transactions.update(restored.transactions)
        self._meta = restored.meta
        if self._items or self._spilled:
            self._ready.set()

    async def close(self) -> None:
        """Write what is gathered and close the file (and the writer, if the queue's own).

        A write waiting for its retry is tried once more now. Waits at most
        `close_timeout_s` for the thread; what is not written by then is logged as lost.
        """
        if not self._open:
            return
        self._file.retry_now()
        self._open = False
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await self._writer.run(self._store.close)
        except TimeoutError:
            _LOGGER.error(
                "Upstream queue %s: its file did not finish within %s s; what it had"
                " not written is lost if Home Assistant stops now",
                self.path,
                self._close_timeout_s,
            )
        self._file.stop()
        if unwritten := self._file.unwritten:
            _LOGGER.error(
                "Upstream queue %s: %s messages could not be written to its file (%s)"
                " and are not kept across the restart",
                self.path,
                unwritten,
                self._file.error or "not finished",
            )
        if self._unkept:
            _LOGGER.error(
                "Upstream queue %s: %s transaction messages held only in memory are lost"
                " (its file had failed too long)",
                self.path,
                len(self._unkept),
            )
        if self._own_writer:
            await self._writer.close()

    def put(self, action: str, payload: dict[str, Any], *, durable: bool, ref: str | None) -> None:
        """Queue a message behind everything before it."""
        if durable:
            self._put_durable(action, payload, ref)
        else:
            self._seq += 1
            entry = Queued(self._seq, action, payload, False, ref, len(to_text(payload)))
            # Behind messages in the file only it could not keep its place: aside or out.
            (self._droppables.put_aside if self._spilled else self._droppables.put)(entry)
        self._ready.set()
        self._changed()

    def _put_durable(self, action: str, payload: dict[str, Any], ref: str | None) -> None:
        if not self._open:
            self._not_open += 1  # nothing can be written: the link has stopped
            return
        held = self._durable_count()
        if held < UNMEASURED and not self._spilled:
            # Next to go (the upstream mostly answers it within the window): held
            # whatever its size, and turned to JSON only if it is written, on the thread.
            self._seq += 1
            self._file.add(self._seq, (action, payload, ref))
            self._items.append(Queued(self._seq, action, payload, True, ref))
            self._cursor = self._seq
            return
        text = to_text(payload)
        size = len(text)
        unwritten = self._file.unwritten_bytes
        # A file merely slow (large messages, a busy disk) gets more room than a failing one.
        bound = self._unwritten_bound * (1 if self._file.error else SLOW_FILE_FACTOR)
        if unwritten and unwritten + size > bound:
            if not self._hold_unkept(action, payload, ref, size, held):
                self._lose(action)
            return
        self._seq += 1
        self._file.add(self._seq, (action, text, ref))
        if (
            self._spilled
            or held >= self._durable_bound
            or self._held_bytes + size > self._durable_bytes
        ):
            self._spilled += 1
        else:
            self._items.append(Queued(self._seq, action, payload, True, ref, size))
            self._held_bytes += size
            self._cursor = self._seq

    def _hold_unkept(
        self, action: str, payload: dict[str, Any], ref: str | None, size: int, held: int
    ) -> bool:
        """Past the bound of JSON not written: held in memory only, if it has room there.

        Sent in its turn like the others, only not kept across a restart: better than
        lost at once. False: no room (it comes after messages in the file only, or the
        memory bounds are reached), it is lost.
        """
        if (
            self._spilled
            or held >= self._durable_bound
            or self._held_bytes + size > self._durable_bytes
        ):
            return False
        self._seq += 1
        self._items.append(Queued(self._seq, action, payload, True, ref, size))
        self._held_bytes += size
        self._cursor = self._seq
        self._unkept.add(self._seq)
        self.not_kept += 1
        if (left_out := _LOG_BUDGET.take(str(self.path))) is not None:
            _LOGGER.warning(
                "Upstream queue %s: its file has failed too long (%s); a %s is held only"
                " in memory: sent, but not kept across a restart (%s so far; %s similar"
                " lines left out)",
                self.path,
                self._file.error,
                action,
                self.not_kept,
                left_out,
            )
        return True

    def _lose(self, action: str) -> None:
        self.lost += 1
        self._dropped += 1
        if (left_out := _LOG_BUDGET.take(str(self.path))) is not None:
            _LOGGER.error(
                "Upstream queue %s: its file has failed too long (%s); a %s is lost (%s"
                " lost in all; %s similar lines left out)",
                self.path,
                self._file.error,
                action,
                self.lost,
                left_out,
            )

    def _durable_count(self) -> int:
        return len(self._items) - self._droppables.count

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
        # What was gathered goes first: the thread writes it, then reads. What is not
        # written yet (a write failed) is newer than all that is: it follows from memory.
        limit, max_bytes = self._durable_bound, self._durable_bytes
        batch = await self._writer.run(self._store.head, self._cursor, limit, max_bytes)
        if not self._items:  # nothing came in while the file was read
            batch = batch or self._file.unwritten_after(self._cursor, limit, max_bytes)
            self._held_bytes += sum(entry.size for entry in batch)
            self._spilled = max(self._spilled - len(batch), 0) if batch else 0
            self._cursor = batch[-1].seq if batch else self._cursor
            # The statuses set aside that came before the last one read (all, once the
            # file has none left) join in their place.
            self._items.extend(
                self._droppables.join(batch, self._cursor if self._spilled else None)
            )
        return True

    def done(self, entry: Queued) -> None:
        """The upstream answered `entry`: it leaves the queue (and the file)."""
        if self._items and self._items[0] is entry:
            self._items.popleft()
            if entry.durable:
                self._held_bytes -= entry.size
            else:
                self._droppables.left(entry)
        if entry.seq in self._unkept:
            self._unkept.discard(entry.seq)  # never given to the file
        # Not written yet (answered within the window): then it never needs to be.
        elif entry.durable and self._open:
            self._file.remove(entry.seq)
        self._changed()

    def map_transaction(self, ours: str, theirs: str) -> None:
        """Remember the upstream's id for one of our 1.6 transactions."""
        self._transactions[ours] = theirs
        self._transactions.move_to_end(ours)
        forget = None
        if len(self._transactions) > MAX_TRANSACTION_MAP:
            forget, _ = self._transactions.popitem(last=False)
        self._mapped += 1
        self._file.pending.transactions.append((ours, theirs, self._mapped, forget))
        self._file.gather()

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
            self._file.pending.meta[key] = value
            self._file.gather()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
