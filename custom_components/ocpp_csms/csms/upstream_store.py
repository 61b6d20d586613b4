"""The SQLite side of an upstream's queue (see `upstream_queue`), and its write batches.

`UpstreamStore` runs on the queue's own thread only (the connection belongs to it).
The event loop gathers the queue's writes in a `PendingWrites` and hands the store a
whole batch at a time, written in one SQLite transaction: one thread hand-off and one
commit for however many messages came and went meanwhile (group commit). A batch that
failed goes back in front of the writes gathered since (`PendingWrites.then`), to be
tried again with them.

SQLite waits at most `BUSY_TIMEOUT_S` for a file another connection has locked, not its
default 5 s: the thread is shared by every charger's queue, and a failed write is tried
again later anyway.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How long a write waits for a file locked by someone else before it fails (and is retried).
BUSY_TIMEOUT_S = 0.5

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
    """A message waiting for the upstream; `ref` is our 1.6 transaction id of a start.

    `size` is its payload's length as JSON (what the queue's memory bounds count).
    """

    seq: int
    action: str
    payload: dict[str, Any]
    durable: bool
    ref: str | None = None
    size: int = 0


# A durable message as the file keeps it: action, payload as JSON, ref. The payload may
# still be the dict (a message the queue did not measure): the thread turns it to JSON.
Row = tuple[str, str | dict[str, Any], str | None]


@dataclass(slots=True)
class PendingWrites:
    """What the queue has yet to hand to its thread, in the order it must be written.

    A message added and then done before its batch left (the upstream answered within
    the group-commit window) is simply taken out of `added`: it never needs the file.
    """

    added: dict[int, Row] = field(default_factory=dict)  # by seq, in order
    removed: list[int] = field(default_factory=list)
    # (ours, theirs, added, ours to forget), in order.
    transactions: list[tuple[str, str, int, str | None]] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        """Whether there is anything to write."""
        return bool(self.added or self.removed or self.transactions or self.meta)

    def split_after(self, seq: int) -> PendingWrites:
        """Take out the messages added after `seq` (kept back), and return them as a batch."""
        later = PendingWrites({s: row for s, row in self.added.items() if s > seq})
        if later.added:
            self.added = {s: row for s, row in self.added.items() if s <= seq}
        return later

    def then(self, newer: PendingWrites) -> PendingWrites:
        """These writes (a batch that failed) followed by `newer`, as one batch.

        A message written here and deleted in `newer` cancels out: the file never had it.
        """
        added = self.added
        removed = self.removed
        for seq in newer.removed:
            if added.pop(seq, None) is None:
                removed.append(seq)
        added.update(newer.added)
        self.transactions.extend(newer.transactions)
        self.meta.update(newer.meta)
        return self


@dataclass(slots=True)
class Restored:
    """What the file kept: the head of the queue (up to a limit) and the rest's count."""

    head: list[Queued]
    durable: int
    last_seq: int
    transactions: list[tuple[str, str]]  # oldest first
    last_mapped: int  # the transaction map's age counter
    meta: dict[str, str]


def to_text(payload: dict[str, Any]) -> str:
    """A payload as the file keeps it (and as the memory bounds measure it)."""
    return json.dumps(payload, separators=(",", ":"))


class UpstreamStore:
    """One queue's SQLite file; every method runs on the queue's thread."""

    def __init__(self, path: Path) -> None:
        """Name the file; it is opened (and created) on first use."""
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()  # a locked or broken file: the next use opens it afresh
                raise
            self._db = db
        return self._db

    def restore(self, limit: int, max_bytes: int) -> Restored:
        """Read the head of the queue, the transaction map and the remembered values.

        A file that cannot be read (damaged, say) is closed again before the error is
        raised: the queue tries to open it again later, and must not leak a connection
        each time.
        """
        try:
            return self._restore(limit, max_bytes)
        except BaseException:
            self.close()
            raise

    def _restore(self, limit: int, max_bytes: int) -> Restored:
        db = self._connection()
        durable, last = db.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM queued").fetchone()
        # `added` is the map's own counter, kept across restarts (`last_mapped`); rowid
        # breaks ties in files written before it was.
        pairs = db.execute(
            "SELECT ours, theirs FROM transaction_map ORDER BY added, rowid"
        ).fetchall()
        (mapped,) = db.execute("SELECT COALESCE(MAX(added), 0) FROM transaction_map").fetchone()
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        head = self.head(0, limit, max_bytes)
        return Restored(head, int(durable), int(last), pairs, int(mapped), meta)

    def head(self, after: int, limit: int, max_bytes: int) -> list[Queued]:
        """Queued messages after `after`, in order: up to `limit` and `max_bytes` of JSON.

        The first is read however large it is (it must go some time).
        """
        rows = self._connection().execute(
            "SELECT seq, action, payload, ref FROM queued WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        head: list[Queued] = []
        total = 0
        for seq, action, text, ref in rows:
            total += len(text)
            if head and total > max_bytes:
                break
            head.append(Queued(seq, action, json.loads(text), True, ref, len(text)))
        return head

    def write(self, batch: PendingWrites) -> None:
        """Write a batch in one transaction: all of it, or (raising) none of it."""
        db = self._connection()
        db.execute("BEGIN")
        try:
            # Only the statements a batch needs: most hold a few rows of one kind or two.
            if batch.added:
                db.executemany(
                    "INSERT OR REPLACE INTO queued VALUES (?, ?, ?, ?)",
                    [
                        (seq, action, text if isinstance(text, str) else to_text(text), ref)
                        for seq, (action, text, ref) in batch.added.items()
                    ],
                )
            if batch.removed:
                db.executemany("DELETE FROM queued WHERE seq = ?", [(s,) for s in batch.removed])
            for ours, theirs, added, forget in batch.transactions:
                db.execute(
                    "INSERT OR REPLACE INTO transaction_map VALUES (?, ?, ?)", (ours, theirs, added)
                )
                if forget is not None:
                    db.execute("DELETE FROM transaction_map WHERE ours = ?", (forget,))
            if batch.meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", batch.meta.items())
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # some errors (a full disk) roll back themselves
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the file (opened again on next use)."""
        if self._db is not None:
            self._db.close()
            self._db = None
