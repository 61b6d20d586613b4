"""The session journal: every charging session, durable across restarts, in SQLite.

One row per transaction and its meter samples, in a WAL-mode SQLite file. All SQLite
work runs on one thread of the journal's own (the connection belongs to it); the event
loop only queues writes, which the writer task drains in batches: whatever queued while
one batch was written goes in the next, one SQLite transaction each. Rows are written
as whole snapshots (upserts), so a batch that fails stays queued and can be written
again later, to this file or a fresh one, without losing or doubling anything. A row
the database refuses for its own values (hostile charger input) is not retried: it
alone is dropped, logged and counted (`rows_refused`), and the rest of its batch is
written. While the database cannot be written the queue is bounded (`writes_shed`).

A database that is locked by another program, damaged, or cannot be opened never
stops the central system: the journal reports the problem to its observer, keeps the
queued writes in memory, retries, and never writes over a damaged file.
`start_afresh` moves a damaged file aside (keeping it) and starts a new one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from .journal_queue import RefusalLog, WriteBatch
from .meter_sanity import notes_text
from .session_records import (
    RestoredJournal,
    SessionFilter,
    SessionRecord,
    SessionStatus,
    session_status,
    utc_text,
)
from .session_store import SCHEMA_VERSION, JournalHealth, SessionStore, classify_error
from .station import MeterSample, Transaction

__all__ = [
    "SCHEMA_VERSION",
    "JournalHealth",
    "JournalState",
    "JournalUnavailable",
    "RestoredJournal",
    "SessionFilter",
    "SessionJournal",
    "SessionRecord",
    "SessionStatus",
    "session_status",
]

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

# Waits between attempts while the database refuses writes, in seconds.
RETRY_DELAYS: tuple[float, ...] = (2.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class JournalState:
    """The journal's health, what went wrong and how much waits to be written."""

    health: JournalHealth
    path: Path
    detail: str = ""
    queued: int = 0


class JournalUnavailable(Exception):
    """The journal cannot be read now (see its state)."""


class SessionJournal:
    """Queues session writes from the event loop and writes them in batches."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = 5.0,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        observer: Callable[[JournalState], None] | None = None,
    ) -> None:
        """Prepare; `open` reads the file (creating or migrating it)."""
        self.path = path
        self._store = SessionStore(path, busy_timeout)
        self._retry_delays = tuple(retry_delays)
        self._observer = observer
        self._executor: ThreadPoolExecutor | None = None
        self._pending = WriteBatch()
        # The newest sample written (or queued) per active session.
        self._sample_marks: dict[tuple[str, str], datetime] = {}
        self._writer: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._failures = 0
        self._state = JournalState(JournalHealth.OK, path)
        self.batches_written = 0
        self._refusals = RefusalLog(path)
        self._writes_shed = 0
        self._shedding_logged = False
        # An unload and Home Assistant's stop can both close the journal, even at once.
        self._closing = asyncio.Lock()

    @property
    def state(self) -> JournalState:
        """The journal's health now."""
        return JournalState(self._state.health, self.path, self._state.detail, len(self._pending))

    @property
    def rows_refused(self) -> dict[str, int]:
        """Rows the database refused for their own values and the journal dropped.

        Per charger id (a copy); bounded, with chargers beyond the bound counted together
        under `journal_queue.OTHER_CHARGERS`.
        """
        return self._refusals.counts

    @property
    def writes_shed(self) -> int:
        """Queued writes dropped because the database could not be written for too long."""
        return self._writes_shed

    # -- life cycle ---------------------------------------------------------------------

    async def open(self) -> RestoredJournal:
        """Open (create, migrate) the file and read what the engine should go on from.

        A file that cannot be read is reported, not raised: the journal then starts
        empty, queues what happens and keeps trying.
        """
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ocpp_csms_journal")
        try:
            restored = await self._run(self._store.restore)
            marks = await self._run(self._store.last_sample_times)
        except (sqlite3.Error, OSError) as error:
            self._failed(error)
            return RestoredJournal()
        self._sample_marks = {key: datetime.fromisoformat(last) for key, last in marks.items()}
        self._set_state(JournalHealth.OK)
        return restored

    async def close(self) -> None:
        """Write what is queued (one attempt) and release the file and the thread.

        Closing again is a no-op; a close while another is under way waits for it.
        """
        async with self._closing:
            if self._executor is not None:
                await self._close(self._executor)

    async def _close(self, executor: ThreadPoolExecutor) -> None:
        await self.flush()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if len(self._pending):
            _LOGGER.error(
                "Session journal %s: %s queued writes could not be saved (%s)",
                self.path,
                len(self._pending),
                self._state.detail,
            )
        await self._run(self._store.close)
        self._executor = None
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    async def start_afresh(self) -> Path | None:
        """Move a damaged file aside (kept, renamed) and start a new one.

        Returns the name the old file was given, or None when there was no file.
        Queued writes go to the new file.
        """
        existed = self.path.exists()
        target = await self._run(self._store.move_aside)
        _LOGGER.warning("Session journal %s moved aside to %s", self.path, target)
        self._sample_marks.clear()
        try:
            await self._run(self._store.connection)
        except (sqlite3.Error, OSError) as error:
            self._failed(error)
            return target if existed else None
        self._set_state(JournalHealth.OK)
        await self.flush()
        return target if existed else None

    # -- writing (event loop) -------------------------------------------------------------

    def record(self, charger_id: str, transaction: Transaction) -> None:
        """Queue a snapshot of a transaction and the samples it gained since the last."""
        key = (charger_id, transaction.id)
        self._pending.sessions[key] = (
            charger_id,
            transaction.id,
            transaction.evse_id,
            transaction.connector_id,
            transaction.id_tag,
            transaction.id_tag_type,
            transaction.tag_name,
            transaction.stop_id_tag,
            utc_text(transaction.started_at),
            utc_text(transaction.stopped_at),
            transaction.meter_start_wh,
            transaction.meter_stop_wh,
            transaction.last_register_wh,
            transaction.energy_wh,
            transaction.stop_reason,
            session_status(transaction).value,
            int(transaction.offline),
            transaction.charging_state,
            transaction.seq_no,
            utc_text(datetime.now(UTC)),
            notes_text(transaction.meter_notes),
            transaction.register.offset_wh,
            transaction.register.scale,
        )
        self._queue_samples(key, transaction.samples)
        if not transaction.active:
            self._sample_marks.pop(key, None)
        self._kick()

    def _queue_samples(self, key: tuple[str, str], samples: Sequence[MeterSample]) -> None:
        mark = self._sample_marks.get(key)
        fresh: list[MeterSample] = []  # newest first
        for sample in reversed(samples):
            if mark is not None and sample.timestamp <= mark:
                break
            fresh.append(sample)
        if not fresh:
            return
        self._sample_marks[key] = fresh[0].timestamp
        charger_id, transaction_id = key
        self._pending.samples.extend(
            (
                utc_text(sample.timestamp),
                sample.energy_wh,
                sample.power_w,
                sample.current_a,
                sample.soc,
                charger_id,
                transaction_id,
            )
            for sample in reversed(fresh)
        )

    def record_late_message(self, charger_id: str, transaction_id: str, action: str) -> None:
        """Queue a note that a message came for a session already closed."""
        received = datetime.now(UTC).isoformat(timespec="seconds")
        self._pending.late.append((charger_id, transaction_id, action, received))
        self._kick()

    async def flush(self) -> bool:
        """Write everything queued now; whether it all went (else it stays queued)."""
        if self._executor is None:
            return False
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._kick()
        if self._writer is not None:
            await asyncio.shield(self._writer)
        return not len(self._pending)

    def _kick(self) -> None:
        if self._executor is None or self._retry is not None:
            # Not open yet, or waiting to retry: the queue keeps, within its bounds.
            self._shed()
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_queued())

    async def _write_queued(self) -> None:
        while len(self._pending):
            batch, self._pending = self._pending, WriteBatch()
            try:
                await self._run(self._store.write, batch)
            except Exception as error:
                # The store drops the rows at fault itself: what is raised is the
                # database's state, which may change, so the rest is tried again later.
                if not isinstance(error, sqlite3.Error | OSError):
                    # Not the database: a bug of ours. Keep the rows all the same, and
                    # say where it happened.
                    _LOGGER.error("Session journal %s: writing failed", self.path, exc_info=error)
                self._refusals.report(batch.refused)
                batch.refused.clear()
                batch.put_back(self._pending)
                self._pending = batch
                self._shed()
                self._failed(error)
                return
            self._refusals.report(batch.refused)
            self._shedding_logged = False
            self.batches_written += 1
            if self._state.health is not JournalHealth.OK:
                self._set_state(JournalHealth.OK)

    def _shed(self) -> None:
        shed = self._pending.shed()
        if not shed:
            return
        self._writes_shed += shed
        if not self._shedding_logged:
            self._shedding_logged = True  # once until a batch is written again
            _LOGGER.warning(
                "Session journal %s cannot be written for too long: the oldest of its queued"
                " writes are dropped to bound memory (%s so far)",
                self.path,
                self._writes_shed,
            )

    def _failed(self, error: Exception) -> None:
        health = classify_error(error)
        delay = self._retry_delays[min(self._failures, len(self._retry_delays) - 1)]
        self._failures += 1
        if self._state.health is not health:
            _LOGGER.error(
                "Session journal %s cannot be written (%s: %s); %s writes are kept in memory"
                " and tried again in %.0f s",
                self.path,
                health,
                error,
                len(self._pending),
                delay,
            )
        self._set_state(health, str(error))
        self._retry = asyncio.get_running_loop().call_later(delay, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self._kick()

    def _set_state(self, health: JournalHealth, detail: str = "") -> None:
        if health is JournalHealth.OK:
            if self._state.health is not JournalHealth.OK:
                _LOGGER.info("Session journal %s is written again", self.path)
            self._failures = 0
        changed = health is not self._state.health
        self._state = JournalState(health, self.path, detail)
        if changed and self._observer is not None:
            self._observer(self.state)

    # -- reading --------------------------------------------------------------------------

    async def sessions(
        self,
        selection: SessionFilter | None = None,
        *,
        with_samples: bool = False,
        limit: int | None = None,
    ) -> list[SessionRecord]:
        """The sessions matching `selection`, oldest first, with what is queued written first.

        With `limit`, only the first (oldest) that many. Raises JournalUnavailable when the
        file cannot be read.
        """
        await self.flush()
        try:
            return await self._run(
                self._store.query, selection or SessionFilter(), with_samples, limit
            )
        except (sqlite3.Error, OSError) as error:
            raise JournalUnavailable(str(error)) from error

    async def energy_since(self, since: datetime) -> dict[str, float]:
        """Energy (Wh) of completed sessions started at or after `since`, per charger."""
        await self.flush()
        try:
            return await self._run(self._store.energy_since, since)
        except (sqlite3.Error, OSError) as error:
            raise JournalUnavailable(str(error)) from error

    async def _run(self, function: Callable[..., _T], *arguments: Any) -> _T:
        if self._executor is None:
            raise JournalUnavailable("the journal is closed")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, function, *arguments
        )
