"""What waits to be sent to a charger's upstream central system, in order (see `upstream`).

Two kinds of message wait here. *Durable* ones (transactions) are never dropped: each
is written to a SQLite file of its own before it is sent and deleted once the upstream
answered, so an outage or a restart of Home Assistant loses none. The rest (heartbeats,
statuses, readings outside a session) are kept in memory only, at most
`MAX_DROPPABLE`, the oldest dropped (and counted) past that.

Memory stays bounded however long the upstream is away: at most `DURABLE_IN_MEMORY`
durable messages are held, the later ones wait in the file only and are read back, in
order, once those are sent. While some wait only in the file, droppable messages are
dropped on arrival, as they could not be sent in their place.

Like the session journal, all SQLite work runs on one thread of the queue's own; the
event loop hands it writes (in order) and never waits for them, except at `open`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

DURABLE_IN_MEMORY = 500
MAX_DROPPABLE = 100
# Our 1.6 transaction ids and the upstream's, kept for the newest sessions.
MAX_TRANSACTION_MAP = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queued (
    seq INTEGER PRIMARY KEY, action TEXT NOT NULL, payload TEXT NOT NULL, ref TEXT
);
CREATE TABLE IF NOT EXISTS transaction_map (
    ours TEXT PRIMARY KEY, theirs TEXT NOT NULL, added INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Queued:
    """A message waiting for the upstream; `ref` is our 1.6 transaction id of a start."""

    seq: int
    action: str
    payload: dict[str, Any]
    durable: bool
    ref: str | None = None


@dataclass(slots=True)
class _Restored:
    head: list[Queued]
    durable: int
    last_seq: int
    transactions: list[tuple[str, str]]
    meta: dict[str, str]


class _Store:
    """The SQLite side; every method runs on the queue's thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def restore(self, limit: int) -> _Restored:
        db = self._connection()
        durable, last = db.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM queued").fetchone()
        pairs = db.execute("SELECT ours, theirs FROM transaction_map ORDER BY added").fetchall()
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        return _Restored(self.head(0, limit), int(durable), int(last), pairs, meta)

    def head(self, after: int, limit: int) -> list[Queued]:
        rows = self._connection().execute(
            "SELECT seq, action, payload, ref FROM queued WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [Queued(seq, action, json.loads(text), True, ref) for seq, action, text, ref in rows]

    def add(self, entry: Queued) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO queued VALUES (?, ?, ?, ?)",
            (entry.seq, entry.action, json.dumps(entry.payload), entry.ref),
        )

    def remove(self, seq: int) -> None:
        self._connection().execute("DELETE FROM queued WHERE seq = ?", (seq,))

    def map_transaction(self, ours: str, theirs: str, added: int, forget: str | None) -> None:
        db = self._connection()
        db.execute("INSERT OR REPLACE INTO transaction_map VALUES (?, ?, ?)", (ours, theirs, added))
        if forget is not None:
            db.execute("DELETE FROM transaction_map WHERE ours = ?", (forget,))

    def set_meta(self, key: str, value: str) -> None:
        self._connection().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class UpstreamQueue:
    """The ordered, bounded, partly durable queue of one charger's upstream."""

    def __init__(
        self,
        path: Path,
        *,
        durable_in_memory: int = DURABLE_IN_MEMORY,
        max_droppable: int = MAX_DROPPABLE,
    ) -> None:
        """Prepare; `open` reads what the file kept."""
        self.path = path
        self._store = _Store(path)
        self._durable_bound = durable_in_memory
        self._droppable_bound = max_droppable
        self._executor: ThreadPoolExecutor | None = None
        self._items: deque[Queued] = deque()
        self._droppable = 0
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

    async def open(self) -> None:
        """Open the file on the queue's thread and take up what it kept."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ocpp_csms_upstream")
        restored = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._store.restore, self._durable_bound
        )
        self._items.extend(restored.head)
        self._spilled = restored.durable - len(restored.head)
        self._cursor = restored.head[-1].seq if restored.head else restored.last_seq
        self._seq = restored.last_seq
        self._transactions.update(restored.transactions)
        self._meta = restored.meta
        if self._items or self._spilled:
            self._ready.set()

    async def close(self) -> None:
        """Finish the writes handed over, close the file and the thread."""
        if (executor := self._executor) is None:
            return
        self._executor = None
        await asyncio.get_running_loop().run_in_executor(executor, self._store.close)
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    def put(self, action: str, payload: dict[str, Any], *, durable: bool, ref: str | None) -> None:
        """Queue a message behind everything before it."""
        self._seq += 1
        entry = Queued(self._seq, action, payload, durable, ref)
        if durable:
            self._write(self._store.add, entry)
            if self._spilled or self._durable_count() >= self._durable_bound:
                self._spilled += 1
            else:
                self._items.append(entry)
                self._cursor = entry.seq
        elif self._spilled:
            self.dropped += 1
        else:
            self._items.append(entry)
            self._droppable += 1
            if self._droppable > self._droppable_bound:
                self._drop_oldest()
        self._ready.set()
        self._changed()

    def _durable_count(self) -> int:
        return len(self._items) - self._droppable

    def _drop_oldest(self) -> None:
        # The head may be in flight: it stays, and is dropped by being answered.
        for index, entry in enumerate(self._items):
            if index and not entry.durable:
                del self._items[index]
                self._droppable -= 1
                self.dropped += 1
                return

    def peek(self) -> Queued | None:
        """The oldest message held in memory, if any (`next` also reads the file)."""
        return self._items[0] if self._items else None

    async def next(self) -> Queued:
        """The oldest message that waits (it stays queued until `done`)."""
        while True:
            if self._items:
                return self._items[0]
            if self._spilled and self._executor is not None:
                batch = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._store.head, self._cursor, self._durable_bound
                )
                if not self._items:  # nothing came in while the file was read
                    self._items.extend(batch)
                    self._spilled = max(self._spilled - len(batch), 0) if batch else 0
                    self._cursor = batch[-1].seq if batch else self._cursor
                continue
            self._ready.clear()
            await self._ready.wait()

    def done(self, entry: Queued) -> None:
        """The upstream answered `entry`: it leaves the queue (and the file)."""
        if self._items and self._items[0] is entry:
            self._items.popleft()
            if not entry.durable:
                self._droppable -= 1
        if entry.durable:
            self._write(self._store.remove, entry.seq)
        self._changed()

    def map_transaction(self, ours: str, theirs: str) -> None:
        """Remember the upstream's id for one of our 1.6 transactions."""
        self._transactions[ours] = theirs
        self._transactions.move_to_end(ours)
        forget = None
        if len(self._transactions) > MAX_TRANSACTION_MAP:
            forget, _ = self._transactions.popitem(last=False)
        self._write(self._store.map_transaction, ours, theirs, self._seq, forget)

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
            self._write(self._store.set_meta, key, value)

    def _write(self, work: Callable[..., None], *arguments: Any) -> None:
        if self._executor is None:
            self.store_failures += 1
            return
        future = self._executor.submit(work, *arguments)
        future.add_done_callback(self._written)

    def _written(self, future: Future[None]) -> None:
        # On the queue's thread: count, log; the event loop's state is not touched.
        if (error := future.exception()) is not None:
            self.store_failures += 1
            _LOGGER.error("Upstream queue %s: a write failed: %s", self.path, error)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
