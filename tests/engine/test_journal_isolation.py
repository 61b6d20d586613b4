"""The session journal against hostile values: one charger's bad row costs only itself.

A batch holds the writes of every charger that spoke while the one before was written,
so a row the database refuses must cost neither the rest of its batch nor later
batches; values SQLite cannot take as they are (a lone surrogate, an int beyond 64 bits)
are journaled in a harmless form; and errors of the database itself (locked, full) still
keep every row for later.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_csms.csms import journal_queue
from custom_components.ocpp_csms.csms.sessions import (
    JournalHealth,
    SessionFilter,
    SessionJournal,
    SessionRecord,
    SessionStatus,
)
from custom_components.ocpp_csms.csms.station import (
    MeterSample,
    Transaction,
    TransactionState,
)
from tests.engine.test_sessions import MOMENT

# Beyond SQLite's 64-bit INTEGER: binding it raises OverflowError.
HUGE = 2**70
_STORE_LOGGER = "custom_components.ocpp_csms.csms.journal_queue"


def tx(tid: str, **fields: Any) -> Transaction:
    fields.setdefault("evse_id", 1)
    fields.setdefault("started_at", MOMENT)
    return Transaction(id=tid, connector_id=1, **fields)


def poisoned(tid: str = "T-A") -> Transaction:
    """A snapshot no edge can save: its EVSE id (NOT NULL) is beyond 64 bits."""
    return tx(tid, evse_id=HUGE, meter_start_wh=0, last_register_wh=10)


async def opened(path: Path, **settings: Any) -> SessionJournal:
    journal = SessionJournal(path, retry_delays=(600,), **settings)
    await journal.open()
    return journal


async def by_key(journal: SessionJournal) -> dict[tuple[str, str], SessionRecord]:
    return {(r.charger_id, r.transaction_id): r for r in await journal.sessions(with_samples=True)}


def refusals_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == _STORE_LOGGER and record.levelno == logging.WARNING
    ]


async def test_a_poisoned_row_costs_only_itself_not_its_batch_nor_later_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    journal = await opened(tmp_path / "sessions.db")
    # Queued without yielding to the loop: one batch, with A's bad row in the middle.
    journal.record("CP-B", tx("T-B", meter_start_wh=0, last_register_wh=100))
    journal.record("CP-A", poisoned())
    journal.record("CP-C", tx("T-C", meter_start_wh=0, last_register_wh=300))
    journal.record_late_message("CP-C", "T-C", "MeterValues")
    assert await journal.flush()  # nothing stays queued: the bad row is not retried
    assert journal.batches_written == 1
    sessions = await by_key(journal)
    assert set(sessions) == {("CP-B", "T-B"), ("CP-C", "T-C")}
    assert sessions["CP-B", "T-B"].energy_wh == 100
    assert (sessions["CP-C", "T-C"].energy_wh, sessions["CP-C", "T-C"].late_messages) == (300, 1)
    assert journal.rows_refused == {"CP-A": 1}
    assert journal.state.health is JournalHealth.OK
    [logged] = refusals_logged(caplog)
    assert "CP-A" in logged
    assert "session" in logged

    # A later batch: A's same bad snapshot again, with good rows of A and B.
    journal.record("CP-A", poisoned())
    journal.record("CP-A", tx("T-A2", meter_start_wh=0, last_register_wh=50))
    journal.record("CP-B", tx("T-B", meter_start_wh=0, last_register_wh=150))
    assert await journal.flush()
    assert journal.batches_written == 2
    sessions = await by_key(journal)
    assert set(sessions) == {("CP-B", "T-B"), ("CP-C", "T-C"), ("CP-A", "T-A2")}
    assert (sessions["CP-A", "T-A2"].energy_wh, sessions["CP-B", "T-B"].energy_wh) == (50, 150)
    assert journal.rows_refused == {"CP-A": 2}
    assert len(refusals_logged(caplog)) == 1  # counted, not logged again
    await journal.close()


async def test_a_refused_sample_costs_only_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    journal = await opened(tmp_path / "sessions.db")
    bad = tx("T-A", meter_start_wh=0, last_register_wh=20)
    bad.samples.extend(
        [
            MeterSample(MOMENT + timedelta(minutes=1), 10),
            # Not a number at all (a JSON object where a reading was expected): no edge
            # can make it one, so the journal drops this sample alone.
            MeterSample(MOMENT + timedelta(minutes=2), {"Wh": 15}),  # type: ignore[arg-type]
            MeterSample(MOMENT + timedelta(minutes=3), 20),
        ]
    )
    good = tx("T-B", meter_start_wh=0, last_register_wh=5)
    good.samples.append(MeterSample(MOMENT + timedelta(minutes=1), 5))
    journal.record("CP-A", bad)
    journal.record("CP-B", good)
    assert await journal.flush()
    sessions = await by_key(journal)
    assert [s.energy_wh for s in sessions["CP-A", "T-A"].samples] == [10, 20]
    assert [s.energy_wh for s in sessions["CP-B", "T-B"].samples] == [5]
    assert journal.rows_refused == {"CP-A": 1}
    [logged] = refusals_logged(caplog)
    assert "sample" in logged
    await journal.close()


async def test_lone_surrogates_are_journaled_as_the_replacement_character(
    tmp_path: Path,
) -> None:
    journal = await opened(tmp_path / "sessions.db")
    bad = tx(
        "T-\ud800",
        id_tag="\ud800-04A2",
        tag_name="Guest \udfff",
        stop_id_tag="\udbff",
        stop_reason="Local\udc00",
        meter_start_wh=0,
        meter_stop_wh=700,
        state=TransactionState.COMPLETED,
        stopped_at=MOMENT + timedelta(hours=1),
    )
    journal.record("CP-A", bad)
    journal.record("CP-B", tx("T-B", id_tag="04B1", meter_start_wh=0, last_register_wh=5))
    # A message after the end, naming the same (uncleaned) transaction id.
    journal.record_late_message("CP-A", "T-\ud800", "StopTransaction\ud800")
    assert await journal.flush()
    sessions = await by_key(journal)
    record = sessions["CP-A", "T-\ufffd"]
    assert (record.id_tag, record.tag_name, record.stop_id_tag, record.stop_reason) == (
        "\ufffd-04A2",
        "Guest \ufffd",
        "\ufffd",
        "Local\ufffd",
    )
    assert (record.energy_wh, record.status, record.late_messages) == (
        700,
        SessionStatus.COMPLETED,
        1,
    )
    assert sessions["CP-B", "T-B"].id_tag == "04B1"
    assert [
        r.transaction_id for r in await journal.sessions(SessionFilter(id_tag="\ufffd-04a2"))
    ] == ["T-\ufffd"]
    assert journal.rows_refused == {}
    await journal.close()


async def test_ints_beyond_64_bits_are_journaled_as_unknown_or_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    journal = await opened(tmp_path / "sessions.db")
    readings = tx("T-1", meter_start_wh=-HUGE, last_register_wh=HUGE)
    readings.samples.append(
        MeterSample(MOMENT + timedelta(minutes=1), HUGE, 7000, float("inf"), 55)
    )
    journal.record("CP-1", readings)
    # A sequence number has no "unknown" (NOT NULL): that snapshot is refused instead.
    journal.record("CP-1", tx("T-2", seq_no=HUGE, meter_start_wh=0, last_register_wh=1))
    journal.record("CP-2", tx("T-3", meter_start_wh=0, last_register_wh=3))
    assert await journal.flush()
    sessions = await by_key(journal)
    assert set(sessions) == {("CP-1", "T-1"), ("CP-2", "T-3")}
    record = sessions["CP-1", "T-1"]
    # NULL, not clamped: no false reading enters the sums (energy_since skips NULL).
    assert (record.meter_start_wh, record.last_register_wh, record.energy_wh) == (
        None,
        None,
        None,
    )
    [sample] = record.samples
    assert (sample.energy_wh, sample.power_w, sample.current_a, sample.soc) == (
        None,
        7000,
        None,
        55,
    )
    assert journal.rows_refused == {"CP-1": 1}
    [logged] = refusals_logged(caplog)
    assert "T-2" in logged
    assert "IntegrityError" in logged
    await journal.close()


async def test_a_locked_database_keeps_every_row_then_refuses_only_the_bad_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"
    journal = await opened(path, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        journal.record("CP-A", poisoned())
        journal.record("CP-B", tx("T-B", meter_start_wh=0, last_register_wh=100))
        assert not await journal.flush()
        # Locked is the database's state, not the rows' fault: nothing is dropped.
        assert journal.state.health is JournalHealth.LOCKED
        assert journal.state.queued == 2
        assert journal.rows_refused == {}
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await journal.flush()
    assert journal.state.health is JournalHealth.OK
    assert set(await by_key(journal)) == {("CP-B", "T-B")}
    assert journal.rows_refused == {"CP-A": 1}
    await journal.close()


async def test_a_full_disk_while_writing_row_by_row_keeps_the_good_rows(
    tmp_path: Path,
) -> None:
    journal = await opened(tmp_path / "sessions.db")
    journal.record("CP-0", tx("T-0"))
    assert await journal.flush()

    def fill_the_disk() -> None:
        # The limit holds for the journal's own connection only (SQLite keeps it per
        # connection), which is opened afresh after such an error: a disk made free.
        connection = journal._store.connection()
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    await journal._run(fill_the_disk)
    # The bad row first, so the batch goes row by row before the disk is found full.
    journal.record("CP-A", poisoned())
    for number in range(20):
        journal.record("CP-B", tx(f"T-{number}", id_tag="x" * 4000))
    assert not await journal.flush()
    # A full disk is no row's fault: the good rows wait, only the bad one went.
    assert journal.state.health is JournalHealth.UNAVAILABLE
    assert "full" in journal.state.detail
    assert journal.state.queued == 20
    assert journal.rows_refused == {"CP-A": 1}

    assert await journal.flush()
    assert journal.state.health is JournalHealth.OK
    assert len(await journal.sessions(SessionFilter(charger_ids=frozenset({"CP-B"})))) == 20
    assert journal.rows_refused == {"CP-A": 1}
    await journal.close()


async def test_the_queue_is_bounded_while_the_database_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_queue, "MAX_QUEUED_SAMPLES", 10)
    path = tmp_path / "sessions.db"
    path.write_bytes(b"this is not a database " * 100)
    journal = await opened(path)
    assert journal.state.health is JournalHealth.DAMAGED
    running = tx("T-1", meter_start_wh=0, last_register_wh=30)
    running.samples.extend(
        MeterSample(MOMENT + timedelta(minutes=minute), minute) for minute in range(1, 31)
    )
    journal.record("CP-1", running)
    assert not await journal.flush()
    assert journal.state.queued == 1 + 10
    assert journal.writes_shed == 20
    # While it waits to try again, what keeps coming is bounded too.
    running.samples.extend(
        MeterSample(MOMENT + timedelta(minutes=minute), minute) for minute in range(31, 41)
    )
    journal.record("CP-1", running)
    assert journal.state.queued == 1 + 10
    assert journal.writes_shed == 30

    await journal.start_afresh()
    [record] = await journal.sessions(with_samples=True)
    assert [s.energy_wh for s in record.samples] == list(range(31, 41))  # the newest kept
    await journal.close()


async def test_refusals_are_logged_briefly_and_counted_within_bounds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(journal_queue, "MAX_REFUSING_CHARGERS", 2)
    journal = await opened(tmp_path / "sessions.db")
    journal.record("CP-1", poisoned("T" * 100_000 + "\ud800"))
    for charger in ("CP-2", "CP-3", "CP-4"):
        journal.record(charger, poisoned())
    journal.record("CP-1", tx("T-ok"))
    assert await journal.flush()
    assert journal.rows_refused == {"CP-1": 1, "CP-2": 1, journal_queue.OTHER_CHARGERS: 2}
    logged = refusals_logged(caplog)
    # One line per charger and kind, the chargers beyond the bound sharing one.
    assert len(logged) == 3
    assert all(len(line) < 1000 for line in logged)
    assert "\ud800" not in logged[0]
    assert [r.transaction_id for r in await journal.sessions()] == ["T-ok"]
    await journal.close()
