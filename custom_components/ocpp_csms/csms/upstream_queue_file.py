"""One upstream queue's file as the event loop sees it: writes gathered, written, retried.

The queue (`upstream_queue`) hands its writes here; they gather in a `PendingWrites`
until the shared writer (`upstream_writer`) takes them as one batch. A batch that could
not be written (a locked file, a full disk) goes back in front of what gathered since
and is tried again after a backoff (`RETRY_FIRST_S` doubling to `RETRY_MAX_S`), deletes
as well as inserts: a transient failure loses nothing and does not make a message be
sent twice after a restart. Until a message is committed its JSON stays here, so a
message that waits in the file only can still be read back (`unwritten_after`), in
order, while the file fails; `unwritten_bytes` is what the queue bounds. Failures are
counted, the last one kept (`error`, cleared by the next success) and logged within a
budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable

from .log_budget import LogBudget
from .upstream_settings import Backoff
from .upstream_store import PendingWrites, Queued, Row, UpstreamStore, to_text
from .upstream_writer import QueueWriter

_LOGGER = logging.getLogger(__name__)

# A durable message is written once it has waited this long unanswered (at the writer's
# next tick): most are answered before, and never need the file. It is also about what
# a crash of the whole process may lose (see `upstream_queue`).
WRITE_AFTER_S = 0.25
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0
# What a message not written yet costs besides its JSON (its row, the string's header;
# measured with tracemalloc), so that `unwritten_bytes` is close to the memory it takes.
ROW_OVERHEAD = 200
_LOG_BUDGET = LogBudget(per_source=3, overall=30, period_s=600.0)


class QueueFile:
    """The writes of one queue's file, on their way to it (see the module)."""

    def __init__(
        self,
        store: UpstreamStore,
        writer: QueueWriter,
        *,
        retry: Backoff | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        """Prepare; nothing is written until `start`."""
        self.store = store
        self._writer = writer
        self._retry = retry or Backoff(RETRY_FIRST_S, RETRY_MAX_S)
        self._on_failure = on_failure
        self.started = False
        self._pending = PendingWrites()
        # The batch on the writer's thread now, if any.
        self._writing: PendingWrites | None = None
        self._retry_timer: asyncio.TimerHandle | None = None
        # When each message not yet due was added, oldest first: (loop time, seq).
        self._added_at: deque[tuple[float, int]] = deque()
        # The messages up to this seq have waited `WRITE_AFTER_S`: a tick takes them.
        self._due_upto = 0
        # Memory of the durable messages added and not committed yet (see ROW_OVERHEAD).
        self.unwritten_bytes = 0
        self.failures = 0
        self.error = ""

    def start(self) -> None:
        """The file is open: writes go to it from now on."""
        self.started = True

    def stop(self) -> None:
        """The file is closed: nothing more is written (a retry waiting is called off)."""
        self.started = False
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None

    @property
    def pending(self) -> PendingWrites:
        """The writes gathered and not yet taken (the queue appends to them)."""
        return self._pending

    @property
    def unwritten(self) -> int:
        """How many messages wait to be written (none: the file has everything)."""
        writing = len(self._writing.added) if self._writing is not None else 0
        return writing + len(self._pending.added)

    def add(self, seq: int, row: Row) -> None:
        """A durable message to keep."""
        self._pending.added[seq] = row
        self._added_at.append((asyncio.get_running_loop().time(), seq))
        self.unwritten_bytes += _row_cost(row)
        self.gather()

    def remove(self, seq: int) -> None:
        """A durable message answered: out of the file (never in it, if not written yet)."""
        if (row := self._pending.added.pop(seq, None)) is not None:
            self.unwritten_bytes -= _row_cost(row)
            if not self._pending.added:
                self._added_at.clear()  # none of them waits any more
        else:
            self._pending.removed.append(seq)
            self.gather()

    def gather(self) -> None:
        """Have the writer take the pending writes (within its window)."""
        if self.started and self._retry_timer is None:
            self._writer.gather(self)

    def retry_now(self) -> None:
        """A batch waiting for its retry goes now (the queue closes)."""
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None
        if self._pending:
            self._writer.gather(self)

    def unwritten_after(self, seq: int, limit: int, max_bytes: int) -> list[Queued]:
        """The durable messages after `seq` not written yet, in order, as `store.head` reads."""
        batches = [self._pending] if self._writing is None else [self._writing, self._pending]
        head: list[Queued] = []
        total = 0
        for batch in batches:
            for later, (action, kept, ref) in batch.added.items():
                if later <= seq:
                    continue
                # One not measured is always held (so not here), but it would do.
                text = kept if isinstance(kept, str) else to_text(kept)
                total += len(text)
                if len(head) >= limit or (head and total > max_bytes):
                    return head
                head.append(Queued(later, action, json.loads(text), True, ref, len(text)))
        return head

    # -- the writer's side (`upstream_writer.WriteSource`) ---------------------------

    def take_pending(self, *, everything: bool) -> tuple[UpstreamStore, PendingWrites] | None:
        """What to write now; None when nothing (or a retry waits).

        At a tick (not `everything`), the messages that have not waited `WRITE_AFTER_S`
        yet stay back, and the queue stays dirty for them: most will be answered before
        they are due, and so never written.
        """
        if not self._pending or self._retry_timer is not None or self._writing is not None:
            return None
        if everything:
            self._added_at.clear()
            if added := self._pending.added:  # should this batch fail: due at the next tick
                self._due_upto = max(self._due_upto, next(reversed(added)))
        elif self._some_young():
            self.gather()  # they go at a later tick
            later = self._pending.split_after(self._due_upto)
            if not self._pending:  # nothing else to write
                self._pending = later
                return None
            self._writing, self._pending = self._pending, later
            return self.store, self._writing
        self._writing, self._pending = self._pending, PendingWrites()
        return self.store, self._writing

    def _some_young(self) -> bool:
        """Whether messages have not waited `WRITE_AFTER_S` yet (`_due_upto` is set)."""
        added_at = self._added_at
        cutoff = asyncio.get_running_loop().time() - WRITE_AFTER_S
        while added_at and added_at[0][0] <= cutoff:
            self._due_upto = added_at.popleft()[1]
        return bool(added_at)

    def write_ended(self, error: BaseException | None) -> None:
        """The batch taken was written, or (`error`) goes back to be tried again."""
        batch, self._writing = self._writing, None
        if batch is None:
            return
        if error is None:
            self.unwritten_bytes -= _cost(batch)
            self._retry.reset()
            if self.error:
                self.error = ""
                self._failed()
            if self._pending:
                self.gather()
            return
        self._pending = batch.then(self._pending)
        self.unwritten_bytes = _cost(self._pending)
        self.failures += 1
        self.error = f"{type(error).__name__}: {error}"[:200]
        if self.started:
            delay = self._retry.next()
            loop = asyncio.get_running_loop()
            self._retry_timer = loop.call_later(delay, self._retry_due)
        if (left_out := _LOG_BUDGET.take(str(self.store.path))) is not None:
            _LOGGER.error(
                "Upstream queue %s: a write failed and is tried again (%s writes have"
                " failed; %s similar lines left out): %s",
                self.store.path,
                self.failures,
                left_out,
                error,
            )
        self._failed()

    def _retry_due(self) -> None:
        self._retry_timer = None
        self.gather()

    def _failed(self) -> None:
        if self._on_failure is not None:
            self._on_failure()


def _row_cost(row: Row) -> int:
    # A payload not measured counts its row only (see `upstream_queue.UNMEASURED`).
    return (len(row[1]) if isinstance(row[1], str) else 0) + ROW_OVERHEAD


def _cost(batch: PendingWrites) -> int:
    return sum(_row_cost(row) for row in batch.added.values())
