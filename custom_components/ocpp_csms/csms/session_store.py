"""The SQLite side of the session journal: schema, migrations, reads and writes.

Everything here runs on the journal's own thread (`sessions.SessionJournal` owns it
and the event loop never calls in directly); the connection belongs to that thread.
The records it reads back are in `session_records`; the write queue the event loop
keeps is in `journal_queue`.

Charger input reaches these rows, so one row's values must never cost other rows: text
and numbers are made storable at this edge (`storable`), and a row the database still
refuses for its own values is dropped and reported, while the rest of its batch is
written (`SessionStore.write`).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from .journal_queue import RowKind, WriteBatch
from .journal_rows import ROW_FAULTS, refused_row, storable, write_row, write_rows
from .session_records import (
    RestoredJournal,
    SessionFilter,
    SessionRecord,
    SessionStatus,
    moment_of,
    utc_text,
)
from .station import MeterSample

_LOGGER = logging.getLogger(__name__)

# Each migration takes the schema from the version before it (its index) to the next.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        charger_id TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        evse_id INTEGER NOT NULL,
        connector_id INTEGER NOT NULL,
        id_tag TEXT,
        id_tag_type TEXT,
        tag_name TEXT,
        stop_id_tag TEXT,
        started_at TEXT NOT NULL,
        stopped_at TEXT,
        meter_start_wh REAL,
        meter_stop_wh REAL,
        last_register_wh REAL,
        energy_wh REAL,
        stop_reason TEXT,
        status TEXT NOT NULL,
        offline INTEGER NOT NULL DEFAULT 0,
        charging_state TEXT,
        seq_no INTEGER NOT NULL DEFAULT -1,
        late_messages INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        UNIQUE (charger_id, transaction_id)
    );
    CREATE INDEX sessions_by_start ON sessions (started_at);
    CREATE INDEX sessions_by_status ON sessions (status);
    CREATE TABLE samples (
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        timestamp TEXT NOT NULL,
        energy_wh REAL,
        power_w REAL,
        current_a REAL,
        soc REAL,
        PRIMARY KEY (session_id, timestamp)
    ) WITHOUT ROWID;
    CREATE TABLE late_messages (
        id INTEGER PRIMARY KEY,
        charger_id TEXT NOT NULL,
        transaction_id TEXT NOT NULL,
        action TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    """,
    # 2: why a session's energy is not its register's last reading less its first
    # (`meter_sanity`), and how it reads the register, to go on after a restart.
    # Older rows keep their figures: no note, read as they came.
    """
    ALTER TABLE sessions ADD COLUMN meter_note TEXT;
    ALTER TABLE sessions ADD COLUMN register_offset_wh REAL NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN register_scale REAL NOT NULL DEFAULT 1;
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)

# How many closed transaction ids per charger are restored for spotting replays.
RESTORED_CLOSED_IDS = 200
_SESSION_COLUMNS = (
    "charger_id, transaction_id, evse_id, connector_id, id_tag, id_tag_type, tag_name, "
    "stop_id_tag, started_at, stopped_at, meter_start_wh, meter_stop_wh, last_register_wh, "
    "energy_wh, stop_reason, status, offline, charging_state, seq_no, updated_at, meter_note, "
    "register_offset_wh, register_scale"
)
_UPSERT_SESSION = f"""
    INSERT INTO sessions ({_SESSION_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (charger_id, transaction_id) DO UPDATE SET
        evse_id = excluded.evse_id, connector_id = excluded.connector_id,
        id_tag = excluded.id_tag, id_tag_type = excluded.id_tag_type,
        tag_name = coalesce(excluded.tag_name, tag_name), stop_id_tag = excluded.stop_id_tag,
        started_at = excluded.started_at, stopped_at = excluded.stopped_at,
        meter_start_wh = excluded.meter_start_wh, meter_stop_wh = excluded.meter_stop_wh,
        last_register_wh = excluded.last_register_wh, energy_wh = excluded.energy_wh,
        stop_reason = excluded.stop_reason, status = excluded.status,
        offline = excluded.offline, charging_state = excluded.charging_state,
        seq_no = excluded.seq_no, updated_at = excluded.updated_at,
        meter_note = excluded.meter_note, register_offset_wh = excluded.register_offset_wh,
        register_scale = excluded.register_scale
"""
_INSERT_SAMPLE = """
    INSERT INTO samples (session_id, timestamp, energy_wh, power_w, current_a, soc)
    SELECT id, ?, ?, ?, ?, ? FROM sessions WHERE charger_id = ? AND transaction_id = ?
    ON CONFLICT (session_id, timestamp) DO UPDATE SET
        energy_wh = coalesce(excluded.energy_wh, energy_wh),
        power_w = coalesce(excluded.power_w, power_w),
        current_a = coalesce(excluded.current_a, current_a),
        soc = coalesce(excluded.soc, soc)
"""
_INSERT_LATE = (
    "INSERT INTO late_messages (charger_id, transaction_id, action, received_at) "
    "VALUES (?, ?, ?, ?)"
)
_COUNT_LATE = (
    "UPDATE sessions SET late_messages = late_messages + 1 "
    "WHERE charger_id = ? AND transaction_id = ?"
)


class JournalHealth(StrEnum):
    """Whether the journal can write, and if not, why."""

    OK = "ok"
    LOCKED = "locked"  # another program holds the database
    DAMAGED = "damaged"  # not a database, or a malformed one: never written over
    UNAVAILABLE = "unavailable"  # cannot be opened or written (permissions, disk, newer schema)


class JournalIncompatible(sqlite3.DatabaseError):
    """The file was written by a newer version of the journal."""


class SessionStore:
    """The SQLite side; every method runs on the journal's thread."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        """Open nothing yet: the first call (on the journal's thread) does."""
        self.path = path
        self._busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None

    def connection(self) -> sqlite3.Connection:
        """The open connection, opening (and migrating) the file first if needed."""
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None
            )
            try:
                self._migrate(connection)
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        # Reading the version first fails cleanly on a file that is not a database,
        # before anything could be written to it.
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise JournalIncompatible(
                f"schema version {version} is newer than this version understands"
                f" ({SCHEMA_VERSION})"
            )
        connection.execute("PRAGMA journal_mode = WAL")
        # WAL with NORMAL sync survives a crash of Home Assistant; a power cut may lose
        # the last moments, never the file.
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        for number in range(version, SCHEMA_VERSION):
            connection.executescript(
                f"BEGIN; {_MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;"
            )
            _LOGGER.info("Session journal %s migrated to version %s", self.path, number + 1)

    def close(self) -> None:
        """Close the connection; the next call opens it again."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def write(self, batch: WriteBatch) -> None:
        """Write one batch; a row the database refuses costs only itself.

        The whole batch goes in one SQLite transaction, the usual (fast) case. When that
        fails for a row's own values, the batch is written again in one transaction, row
        by row, each in a savepoint: the rows refused move from the batch to
        `batch.refused` (not written, not to be tried again), the others are written.

        Raises when the database itself cannot be written now (see `ROW_FAULTS`); then
        nothing is written and the batch keeps every row but those already refused.
        """
        connection = self.connection()
        try:
            self._write_together(connection, batch)
        except BaseException as error:
            self._abandon(connection, error)
            if not isinstance(error, ROW_FAULTS):
                raise
        else:
            return
        try:
            self._write_each(connection, batch)
        except BaseException as error:
            self._abandon(connection, error)
            raise

    @staticmethod
    def _write_together(connection: sqlite3.Connection, batch: WriteBatch) -> None:
        late = [storable(row) for row in batch.late]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(_UPSERT_SESSION, map(storable, batch.sessions.values()))
        connection.executemany(_INSERT_SAMPLE, map(storable, batch.samples))
        connection.executemany(_INSERT_LATE, late)
        connection.executemany(_COUNT_LATE, [(c, t) for c, t, _, _ in late])
        connection.execute("COMMIT")

    def _write_each(self, connection: sqlite3.Connection, batch: WriteBatch) -> None:
        # One transaction still (one sync to disk); savepoints undo a refused row alone.
        # Sessions before samples, as in `_write_together`: a sample finds its session row.
        connection.execute("BEGIN IMMEDIATE")
        for key, row in list(batch.sessions.items()):
            error = write_row(connection, ((_UPSERT_SESSION, row),))
            if error is not None:
                del batch.sessions[key]
                batch.refused.append(refused_row(RowKind.SESSION, row[0], row[1], error))
        write_rows(
            connection,
            batch.samples,
            lambda row: ((_INSERT_SAMPLE, row),),
            lambda row, error: refused_row(RowKind.SAMPLE, row[5], row[6], error),
            batch.refused,
        )
        write_rows(
            connection,
            batch.late,
            lambda row: ((_INSERT_LATE, row), (_COUNT_LATE, row[:2])),
            lambda row, error: refused_row(RowKind.LATE_MESSAGE, row[0], row[1], error),
            batch.refused,
        )
        connection.execute("COMMIT")

    def _abandon(self, connection: sqlite3.Connection, error: BaseException) -> None:
        """Undo a failed write; after a fault of the database, reopen before the next."""
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if not isinstance(error, ROW_FAULTS) and classify_error(error) is not JournalHealth.LOCKED:
            # Open afresh next time, checking the file again before writing to it.
            self.close()

    def restore(self) -> RestoredJournal:
        """What the engine goes on from after a restart."""
        connection = self.connection()
        restored = RestoredJournal()
        active = connection.execute(
            f"SELECT id, {_SESSION_COLUMNS}, late_messages FROM sessions "
            "WHERE status = 'active' ORDER BY started_at"
        )
        restored.active = [_record(row) for row in active]
        last = connection.execute(
            f"SELECT id, {_SESSION_COLUMNS}, late_messages FROM sessions "
            "WHERE id IN (SELECT max(id) FROM sessions WHERE status != 'active' "
            "GROUP BY charger_id, evse_id)"
        )
        restored.last_ended = [_record(row) for row in last]
        closed = connection.execute(
            "SELECT charger_id, transaction_id FROM ("
            "  SELECT charger_id, transaction_id, id, row_number() OVER ("
            "    PARTITION BY charger_id ORDER BY id DESC) AS age"
            "  FROM sessions WHERE status != 'active')"
            " WHERE age <= ? ORDER BY id",
            (RESTORED_CLOSED_IDS,),
        )
        for charger_id, transaction_id in closed:
            restored.closed_ids.setdefault(charger_id, []).append(transaction_id)
        highest = connection.execute(
            "SELECT max(CAST(transaction_id AS INTEGER)) FROM sessions "
            "WHERE transaction_id NOT GLOB '*[^0-9]*' AND length(transaction_id) BETWEEN 1 AND 10"
        ).fetchone()[0]
        restored.highest_numeric_id = int(highest or 0)
        return restored

    def last_sample_times(self) -> dict[tuple[str, str], str]:
        """The newest sample stored per running session."""
        rows = self.connection().execute(
            "SELECT s.charger_id, s.transaction_id, max(m.timestamp) FROM sessions s "
            "JOIN samples m ON m.session_id = s.id WHERE s.status = 'active' "
            "GROUP BY s.id"
        )
        return {(charger, transaction): last for charger, transaction, last in rows}

    def query(
        self, selection: SessionFilter, with_samples: bool, limit: int | None = None
    ) -> list[SessionRecord]:
        """The selected sessions, oldest first (the first `limit`), with samples if asked."""
        where, arguments = _where(selection)
        chosen = f"FROM sessions {where} ORDER BY started_at, id LIMIT ?"
        arguments.append(-1 if limit is None else limit)  # SQLite: negative is no limit
        rows = self.connection().execute(
            f"SELECT id, {_SESSION_COLUMNS}, late_messages {chosen}", arguments
        )
        records = [_record(row) for row in rows]
        if with_samples and records:
            by_id = {record.session_id: record for record in records}
            samples = self.connection().execute(
                "SELECT session_id, timestamp, energy_wh, power_w, current_a, soc FROM samples "
                f"WHERE session_id IN (SELECT id {chosen}) ORDER BY session_id, timestamp",
                arguments,
            )
            for session_id, timestamp, energy, power, current, soc in samples:
                by_id[session_id].samples.append(
                    MeterSample(datetime.fromisoformat(timestamp), energy, power, current, soc)
                )
        return records

    def energy_since(self, since: datetime) -> dict[str, float]:
        """Energy (Wh) of completed sessions started at or after `since`, per charger."""
        rows = self.connection().execute(
            "SELECT charger_id, sum(energy_wh) FROM sessions "
            "WHERE started_at >= ? AND status = 'completed' GROUP BY charger_id",
            (utc_text(since),),
        )
        return {charger: float(total or 0.0) for charger, total in rows}

    def move_aside(self) -> Path:
        """Rename the file (and its WAL companions) out of the way; returns the new name."""
        self.close()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                source.rename(target.with_name(target.name + suffix))
        return target


def _where(selection: SessionFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    arguments: list[Any] = []
    if selection.charger_ids is not None:
        marks = ", ".join("?" for _ in selection.charger_ids)
        clauses.append(f"charger_id IN ({marks})")
        arguments.extend(sorted(selection.charger_ids))
    if selection.started_from is not None:
        clauses.append("started_at >= ?")
        arguments.append(utc_text(selection.started_from))
    if selection.started_before is not None:
        clauses.append("started_at < ?")
        arguments.append(utc_text(selection.started_before))
    if selection.running_after is not None:
        clauses.append("(stopped_at IS NULL OR stopped_at > ?)")
        arguments.append(utc_text(selection.running_after))
    if selection.id_tag is not None:
        clauses.append("lower(id_tag) = lower(?)")
        arguments.append(selection.id_tag)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), arguments


def _record(row: Sequence[Any]) -> SessionRecord:
    (
        session_id, charger_id, transaction_id, evse_id, connector_id, id_tag, id_tag_type,
        tag_name, stop_id_tag, started_at, stopped_at, meter_start_wh, meter_stop_wh,
        last_register_wh, energy_wh, stop_reason, status, offline, charging_state, seq_no,
        updated_at, meter_note, register_offset_wh, register_scale, late_messages,
    ) = row  # fmt: skip
    return SessionRecord(
        session_id=session_id,
        charger_id=charger_id,
        transaction_id=transaction_id,
        evse_id=evse_id,
        connector_id=connector_id,
        started_at=datetime.fromisoformat(started_at),
        status=SessionStatus(status),
        id_tag=id_tag,
        id_tag_type=id_tag_type,
        tag_name=tag_name,
        stop_id_tag=stop_id_tag,
        stopped_at=moment_of(stopped_at),
        meter_start_wh=meter_start_wh,
        meter_stop_wh=meter_stop_wh,
        last_register_wh=last_register_wh,
        energy_wh=energy_wh,
        stop_reason=stop_reason,
        offline=bool(offline),
        charging_state=charging_state,
        seq_no=seq_no,
        late_messages=late_messages,
        updated_at=moment_of(updated_at),
        meter_note=meter_note,
        register_offset_wh=register_offset_wh,
        register_scale=register_scale,
    )


def classify_error(error: BaseException) -> JournalHealth:
    """What a failed read or write says about the file."""
    if isinstance(error, JournalIncompatible):
        return JournalHealth.UNAVAILABLE
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return JournalHealth.LOCKED
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return JournalHealth.DAMAGED
    return JournalHealth.UNAVAILABLE
