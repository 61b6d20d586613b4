"""The session journal: written once per session, continued across restarts, never lost."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from custom_components.ocpp_csms.csms.meter_sanity import MeterNote
from custom_components.ocpp_csms.csms.metering import take_register
from custom_components.ocpp_csms.csms.sessions import (
    SCHEMA_VERSION,
    JournalHealth,
    JournalState,
    JournalUnavailable,
    SessionFilter,
    SessionJournal,
    SessionStatus,
    session_status,
)
from custom_components.ocpp_csms.csms.station import (
    MeterSample,
    Transaction,
    TransactionState,
)
from tests.engine.conftest import ConnectRaw, Directory, RawCharger, Running, StartSystem
from tests.engine.test_messages_2x import event, sampled
from tests.engine.test_messages_16 import start

T0 = "2026-11-23T10:00:00Z"
T1 = "2026-11-23T10:30:00Z"
T2 = "2026-11-23T11:00:00Z"
T3 = "2026-11-23T11:30:00Z"
MOMENT = datetime(2026, 11, 23, 10, tzinfo=UTC)


def energy(timestamp: str, wh: float, **more: float) -> dict[str, Any]:
    values = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    values += [
        {"value": str(v), "measurand": m.replace("_", "."), "unit": "W"} for m, v in more.items()
    ]
    return {"timestamp": timestamp, "sampledValue": values}


@asynccontextmanager
async def reconnect(
    running: Running, charger_id: str = "CP-1", version: str = "ocpp1.6"
) -> AsyncIterator[RawCharger]:
    """A known charger reconnecting without booting (as after Home Assistant restarted)."""
    async with connect(f"{running.url}/{charger_id}", subprotocols=[version]) as websocket:  # type: ignore[list-item]
        yield RawCharger(websocket, running, charger_id)


def admitted(*charger_ids: str) -> Directory:
    directory = Directory()
    for charger_id in charger_ids:
        directory.admit(charger_id)
    return directory


async def journaled(start_system: StartSystem, journal: SessionJournal | Path) -> Running:
    """A central system with a journal (a file's path, or one made) and CP-1 admitted."""
    if isinstance(journal, Path):
        journal = SessionJournal(journal)
    running: Running = await start_system(journal=journal, directory=admitted("CP-1"))
    return running


def journal_of(running: Running) -> SessionJournal:
    assert running.system.journal is not None
    return running.system.journal


def transaction(tid: str = "T-1", **fields: Any) -> Transaction:
    fields.setdefault("started_at", MOMENT)
    return Transaction(id=tid, evse_id=1, connector_id=1, **fields)


# -- the journal on its own ------------------------------------------------------------


async def test_a_new_journal_has_the_current_schema(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path / "sessions.db")
    assert (await journal.open()).active == []
    await journal.close()
    connection = sqlite3.connect(tmp_path / "sessions.db")
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()
    # Opening again migrates nothing and keeps what is there.
    journal = SessionJournal(tmp_path / "sessions.db")
    await journal.open()
    await journal.close()


async def test_closing_twice_or_concurrently_is_safe(tmp_path: Path) -> None:
    """An unload and a stop may both close the journal, at the same time or one after."""
    journal = SessionJournal(tmp_path / "sessions.db")
    await journal.open()
    journal.record("CP-1", transaction())
    await asyncio.gather(journal.close(), journal.close(), journal.close())
    await journal.close()
    reopened = SessionJournal(tmp_path / "sessions.db")
    assert [record.transaction_id for record in (await reopened.open()).active] == ["T-1"]
    await reopened.close()


async def test_a_session_is_one_row_with_every_sample_once(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path / "sessions.db")
    await journal.open()
    tx = transaction(id_tag="04A2", tag_name="Guest", meter_start_wh=1000, last_register_wh=1000)
    journal.record("CP-1", tx)
    for minutes, register in ((10, 2000), (20, 3500)):
        tx.samples.append(MeterSample(MOMENT + timedelta(minutes=minutes), register, 7000, 10, 50))
        tx.last_register_wh = register
        journal.record("CP-1", tx)
        journal.record("CP-1", tx)  # the same state twice adds nothing
    tx.meter_stop_wh, tx.stopped_at = 4000, MOMENT + timedelta(hours=1)
    tx.state, tx.stop_reason = TransactionState.COMPLETED, "EVDisconnected"
    journal.record("CP-1", tx)
    [record] = await journal.sessions(with_samples=True)
    await journal.close()
    assert (record.charger_id, record.transaction_id, record.status) == (
        "CP-1",
        "T-1",
        SessionStatus.COMPLETED,
    )
    assert (record.id_tag, record.tag_name, record.stop_reason) == (
        "04A2",
        "Guest",
        "EVDisconnected",
    )
    assert (record.meter_start_wh, record.meter_stop_wh, record.energy_wh) == (1000, 4000, 3000)
    assert (record.started_at, record.stopped_at) == (MOMENT, MOMENT + timedelta(hours=1))
    assert [(s.energy_wh, s.power_w, s.current_a, s.soc) for s in record.samples] == [
        (2000, 7000, 10, 50),
        (3500, 7000, 10, 50),
    ]


async def test_filters_select_by_charger_period_and_tag(tmp_path: Path) -> None:
    journal = SessionJournal(tmp_path / "sessions.db")
    await journal.open()
    for number, (charger, tag) in enumerate((("A", "04a2"), ("B", "04A2"), ("A", "FFFF"))):
        journal.record(
            charger,
            transaction(f"T-{number}", id_tag=tag, started_at=MOMENT + timedelta(days=number)),
        )
    by_charger = await journal.sessions(SessionFilter(charger_ids=frozenset({"A"})))
    by_tag = await journal.sessions(SessionFilter(id_tag="04A2"))
    by_period = await journal.sessions(
        SessionFilter(
            started_from=MOMENT + timedelta(days=1), started_before=MOMENT + timedelta(days=2)
        )
    )
    await journal.close()
    assert [r.transaction_id for r in by_charger] == ["T-0", "T-2"]
    assert [r.transaction_id for r in by_tag] == ["T-0", "T-1"]
    assert [r.transaction_id for r in by_period] == ["T-1"]


async def test_sessions_overlapping_a_period_and_a_limit_keeping_the_oldest(
    tmp_path: Path,
) -> None:
    """What a calendar asks for: sessions running at any time in a period, a bounded few."""
    journal = SessionJournal(tmp_path / "sessions.db")
    await journal.open()
    hour = timedelta(hours=1)
    spans = {
        "before": (MOMENT - 3 * hour, MOMENT - hour),  # ended before the period
        "into": (MOMENT - hour, MOMENT + hour),  # started before, ended inside
        "inside": (MOMENT + 2 * hour, MOMENT + 3 * hour),
        "running": (MOMENT - 5 * hour, None),  # still running
        "after": (MOMENT + 5 * hour, MOMENT + 6 * hour),  # starts when the period ends
    }
    for tid, (started, stopped) in spans.items():
        state = TransactionState.ACTIVE if stopped is None else TransactionState.COMPLETED
        tx = transaction(tid, started_at=started, stopped_at=stopped, state=state)
        for minute in range(3):
            tx.samples.append(MeterSample(started + timedelta(minutes=minute), 1000.0 + minute))
        journal.record("CP-1", tx)
    period = SessionFilter(started_before=MOMENT + 5 * hour, running_after=MOMENT)
    overlapping = await journal.sessions(period)
    first_two = await journal.sessions(period, limit=2, with_samples=True)
    await journal.close()
    assert [r.transaction_id for r in overlapping] == ["running", "into", "inside"]
    assert [r.transaction_id for r in first_two] == ["running", "into"]
    # The samples are those of the sessions returned, and all of theirs.
    assert [len(r.samples) for r in first_two] == [3, 3]


def test_refused_tags_and_backward_meters_make_a_session_invalid() -> None:
    assert session_status(transaction()) is SessionStatus.ACTIVE
    done = {"state": TransactionState.COMPLETED}
    assert (
        session_status(transaction(meter_start_wh=10, meter_stop_wh=20, **done))
        is SessionStatus.COMPLETED
    )
    assert session_status(transaction(authorized=False, **done)) is SessionStatus.INVALID
    assert (
        session_status(transaction(meter_start_wh=20, meter_stop_wh=10, **done))
        is SessionStatus.INVALID
    )


# -- restart recovery --------------------------------------------------------------------


async def test_a_16_session_goes_on_across_a_restart(
    tmp_path: Path, start_system: StartSystem, raw_charger: ConnectRaw
) -> None:
    path = tmp_path / "sessions.db"
    running = await journaled(start_system, path)
    charger = await raw_charger(running=running)
    transaction_id = await start(charger, meter=1000)
    await charger.result(
        "MeterValues",
        {"connectorId": 1, "transactionId": transaction_id, "meterValue": [energy(T1, 4000)]},
    )
    await running.system.stop()  # Home Assistant stops; the charger keeps charging

    running = await journaled(start_system, path)
    restored = running.system.stations["CP-1"].evses[1].transaction
    assert restored is not None
    assert (restored.id, restored.energy_wh) == (str(transaction_id), 3000)
    # Ids issued after the restart stay above the ones the journal remembers.
    assert running.system.transaction_ids.next_id() > transaction_id

    async with reconnect(running) as charger:
        await charger.result(
            "MeterValues",
            {"connectorId": 1, "transactionId": transaction_id, "meterValue": [energy(T2, 6000)]},
        )
        assert restored.energy_wh == 5000
        await charger.result(
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": 8000,
                "timestamp": T3,
                "reason": "Local",
            },
        )
        # The charger missed our answer and sends the stop again: noted, not counted.
        await charger.result(
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": 8000,
                "timestamp": T3,
                "reason": "Local",
            },
        )
    [record] = await journal_of(running).sessions(with_samples=True)
    assert record.status is SessionStatus.COMPLETED
    assert (record.energy_wh, record.late_messages) == (7000, 1)
    assert record.started_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert [s.energy_wh for s in record.samples] == [4000, 6000]  # the stop is meter_stop


async def test_a_replay_after_a_restart_is_recorded_not_counted(
    tmp_path: Path, start_system: StartSystem, raw_charger: ConnectRaw
) -> None:
    path = tmp_path / "sessions.db"
    running = await journaled(start_system, path)
    charger = await raw_charger(running=running)
    transaction_id = await start(charger, meter=0)
    stop = {"transactionId": transaction_id, "meterStop": 5000, "timestamp": T1}
    await charger.result("StopTransaction", stop)
    await running.system.stop()

    running = await journaled(start_system, path)
    last = running.system.stations["CP-1"].evses[1].last_transaction
    assert last is not None  # "last session" survives too
    assert last.energy_wh == 5000
    async with reconnect(running) as charger:
        await charger.result("StopTransaction", {**stop, "meterStop": 9000})
    [record] = await journal_of(running).sessions()
    assert (record.energy_wh, record.late_messages) == (5000, 1)
    assert running.system.stations["CP-1"].warnings == {"replayed_transaction_message": 1}


async def test_a_2x_session_goes_on_across_a_restart(
    tmp_path: Path, start_system: StartSystem, raw_charger: ConnectRaw
) -> None:
    path = tmp_path / "sessions.db"
    running = await journaled(start_system, path)
    charger = await raw_charger("ocpp2.0.1", running=running)
    await charger.result(
        "TransactionEvent",
        event(
            "Started", 0, idToken={"idToken": "TAG1", "type": "ISO14443"},
            evse={"id": 1, "connectorId": 1},
            meterValue=[{"timestamp": T0, "sampledValue": [sampled(1000)]}],
        ),
    )  # fmt: skip
    await charger.result(
        "TransactionEvent",
        event(
            "Updated",
            1,
            timestamp=T1,
            meterValue=[{"timestamp": T1, "sampledValue": [sampled(3000)]}],
        ),
    )
    await running.system.stop()

    running = await journaled(start_system, path)
    async with reconnect(running, version="ocpp2.0.1") as charger:
        await charger.result(
            "TransactionEvent",
            event(
                "Updated",
                2,
                timestamp=T2,
                meterValue=[{"timestamp": T2, "sampledValue": [sampled(5000)]}],
            ),
        )
        await charger.result(
            "TransactionEvent",
            event("Ended", 3, timestamp=T3, info={"stoppedReason": "EVDisconnected"},
                  meterValue=[{"timestamp": T3, "sampledValue": [sampled(6000)]}]),
        )  # fmt: skip
    assert running.system.stations["CP-1"].warnings == {}  # not repeated, not unknown
    [record] = await journal_of(running).sessions()
    assert (record.transaction_id, record.id_tag_type, record.energy_wh) == (
        "TX-1",
        "ISO14443",
        5000,
    )
    assert (record.status, record.stop_reason) == (SessionStatus.COMPLETED, "EVDisconnected")


async def test_offline_2x_transactions_keep_their_own_times(
    tmp_path: Path, start_system: StartSystem, raw_charger: ConnectRaw
) -> None:
    running = await journaled(start_system, tmp_path / "s.db")
    charger = await raw_charger("ocpp2.0.1", running=running)
    await charger.result(
        "TransactionEvent",
        event("Started", 0, offline=True, evse={"id": 1, "connectorId": 1},
              meterValue=[{"timestamp": T0, "sampledValue": [sampled(0)]}]),
    )  # fmt: skip
    await charger.result(
        "TransactionEvent",
        event(
            "Ended",
            1,
            timestamp=T1,
            offline=True,
            meterValue=[{"timestamp": T1, "sampledValue": [sampled(2500)]}],
        ),
    )
    [record] = await journal_of(running).sessions()
    assert record.offline
    assert (record.started_at, record.stopped_at, record.energy_wh) == (
        datetime(2026, 11, 23, 10, tzinfo=UTC),
        datetime(2026, 11, 23, 10, 30, tzinfo=UTC),
        2500,
    )


async def test_a_late_16_stop_of_an_unknown_session_is_journaled(
    tmp_path: Path, start_system: StartSystem, raw_charger: ConnectRaw
) -> None:
    running = await journaled(start_system, tmp_path / "s.db")
    charger = await raw_charger(running=running)
    await charger.result(
        "StopTransaction",
        {"transactionId": 77, "meterStop": 9000, "timestamp": T2,
         "transactionData": [energy(T0, 1000), energy(T1, 5000)]},
    )  # fmt: skip
    [record] = await journal_of(running).sessions()
    assert (record.transaction_id, record.offline, record.energy_wh) == ("77", True, 8000)
    assert (record.started_at, record.stopped_at) == (
        datetime(2026, 11, 23, 10, tzinfo=UTC),
        datetime(2026, 11, 23, 11, tzinfo=UTC),
    )


# -- a database that will not be written -------------------------------------------------


async def test_a_damaged_file_is_reported_kept_and_can_be_replaced(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    damage = b"this is not a database " * 100
    path.write_bytes(damage)
    states: list[JournalState] = []
    journal = SessionJournal(path, observer=states.append, retry_delays=(60,))
    assert (await journal.open()).active == []
    assert [s.health for s in states] == [JournalHealth.DAMAGED]
    journal.record("CP-1", transaction(meter_start_wh=0, last_register_wh=500))
    assert not await journal.flush()
    assert journal.state.queued == 1
    assert path.read_bytes() == damage  # never written over
    with pytest.raises(JournalUnavailable):
        await journal.sessions()

    moved = await journal.start_afresh()
    assert moved is not None
    assert moved.read_bytes() == damage
    assert [s.health for s in states][-1] is JournalHealth.OK
    [record] = await journal.sessions()
    assert record.energy_wh == 500
    await journal.close()


async def test_a_locked_file_keeps_writes_queued_until_it_is_free(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    journal = SessionJournal(path, busy_timeout=0.05, retry_delays=(60,))
    await journal.open()
    journal.record("CP-1", transaction("T-1", meter_start_wh=0, last_register_wh=100))
    assert await journal.flush()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        journal.record("CP-1", transaction("T-2", meter_start_wh=0, last_register_wh=200))
        assert not await journal.flush()
        assert journal.state.health is JournalHealth.LOCKED
        assert journal.state.queued == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await journal.flush()
    assert journal.state.health is JournalHealth.OK
    assert [r.energy_wh for r in await journal.sessions()] == [100, 200]
    await journal.close()


async def test_a_file_from_a_newer_version_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    before = path.read_bytes()
    journal = SessionJournal(path, retry_delays=(60,))
    await journal.open()
    assert journal.state.health is JournalHealth.UNAVAILABLE
    assert "newer" in journal.state.detail
    await journal.close()
    assert path.read_bytes() == before


async def test_the_engine_runs_on_when_the_journal_is_damaged(
    tmp_path: Path, start_system: StartSystem, raw_charger: ConnectRaw
) -> None:
    path = tmp_path / "sessions.db"
    path.write_bytes(b"garbage" * 1000)
    running = await journaled(start_system, SessionJournal(path, retry_delays=(60,)))
    charger = await raw_charger(running=running)
    await start(charger, meter=0)  # accepted, though nothing can be journaled yet
    moved = await running.system.start_journal_afresh()
    assert moved is not None
    assert moved.read_bytes() == b"garbage" * 1000
    [record] = await journal_of(running).sessions()
    assert record.status is SessionStatus.ACTIVE


# -- the schema of older versions ----------------------------------------------------------

# The journal as the first version wrote it (schema 1), kept here as it was: a file
# written then must open with every row, and take the new columns.
SCHEMA_1 = """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY, charger_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
        evse_id INTEGER NOT NULL, connector_id INTEGER NOT NULL, id_tag TEXT,
        id_tag_type TEXT, tag_name TEXT, stop_id_tag TEXT, started_at TEXT NOT NULL,
        stopped_at TEXT, meter_start_wh REAL, meter_stop_wh REAL, last_register_wh REAL,
        energy_wh REAL, stop_reason TEXT, status TEXT NOT NULL,
        offline INTEGER NOT NULL DEFAULT 0, charging_state TEXT,
        seq_no INTEGER NOT NULL DEFAULT -1, late_messages INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL, UNIQUE (charger_id, transaction_id)
    );
    CREATE INDEX sessions_by_start ON sessions (started_at);
    CREATE INDEX sessions_by_status ON sessions (status);
    CREATE TABLE samples (
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        timestamp TEXT NOT NULL, energy_wh REAL, power_w REAL, current_a REAL, soc REAL,
        PRIMARY KEY (session_id, timestamp)
    ) WITHOUT ROWID;
    CREATE TABLE late_messages (
        id INTEGER PRIMARY KEY, charger_id TEXT NOT NULL, transaction_id TEXT NOT NULL,
        action TEXT NOT NULL, received_at TEXT NOT NULL
    );
    PRAGMA user_version = 1;
"""


def write_schema_1_file(path: Path) -> None:
    """A journal of schema 1 with one ended session (and a sample) and one running."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SCHEMA_1)
        rows = [
            ("T-1", T0, T1, 1000, 4000, 4000, 3000, "completed"),
            ("T-2", T2, None, 4000, None, 4500, 500, "active"),
        ]
        for tid, started, stopped, start_wh, stop_wh, last_wh, energy, status in rows:
            connection.execute(
                "INSERT INTO sessions (charger_id, transaction_id, evse_id, connector_id,"
                " started_at, stopped_at, meter_start_wh, meter_stop_wh, last_register_wh,"
                " energy_wh, status, updated_at) VALUES ('CP-1', ?, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tid, started, stopped, start_wh, stop_wh, last_wh, energy, status, T3),
            )
        connection.execute(
            "INSERT INTO samples (session_id, timestamp, energy_wh) VALUES (1, ?, 2500)", (T0,)
        )
        connection.commit()
    finally:
        connection.close()


async def test_a_journal_of_schema_1_opens_with_every_row_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    write_schema_1_file(path)
    journal = SessionJournal(path)
    restored = await journal.open()
    # The running session comes back as it was: read as it came, no note.
    [running] = restored.active
    transaction = running.to_transaction()
    assert (transaction.id, transaction.energy_wh, transaction.meter_notes) == ("T-2", 500, set())
    assert (transaction.register.scale, transaction.register.offset_wh) == (1.0, 0.0)
    ended, _ = await journal.sessions(with_samples=True)
    assert (ended.energy_wh, ended.status, ended.meter_note) == (
        3000,
        SessionStatus.COMPLETED,
        None,
    )
    assert [sample.energy_wh for sample in ended.samples] == [2500]
    # New rows take the new columns.
    transaction.register.scale = 1000.0
    transaction.meter_notes.add(MeterNote.REGISTER_IN_KWH)
    journal.record("CP-1", transaction)
    [_, again] = await journal.sessions()
    await journal.close()
    assert (again.meter_note, again.register_scale) == ("register_in_kwh", 1000.0)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        connection.close()


async def test_a_session_reads_its_register_on_after_a_restart(tmp_path: Path) -> None:
    """A session whose charger sends kWh without a unit still reads it so when restored."""
    journal = SessionJournal(tmp_path / "sessions.db")
    await journal.open()
    tx = transaction(meter_start_wh=12_500)
    tx.register.at = MOMENT
    take_register(tx, 12.9, MOMENT + timedelta(minutes=30))
    assert tx.meter_notes == {MeterNote.REGISTER_IN_KWH}
    journal.record("CP-1", tx)
    await journal.close()
    reopened = SessionJournal(tmp_path / "sessions.db")
    [record] = (await reopened.open()).active
    await reopened.close()
    restored = record.to_transaction()
    take_register(restored, 13.3, MOMENT + timedelta(minutes=60))
    assert restored.energy_wh == pytest.approx(800)
    assert restored.meter_notes == {MeterNote.REGISTER_IN_KWH}
