"""The upstream's queue: order, bounds, and what the file keeps (see `upstream_queue`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

import pytest

from custom_components.ocpp_csms.csms import upstream_queue_file
from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_settings import Backoff
from custom_components.ocpp_csms.csms.upstream_store import PendingWrites
from custom_components.ocpp_csms.csms.upstream_writer import QueueWriter
from tests.chargers import PATIENCE_S

# A window no test waits out: writes go when a test flushes or closes.
NEVER_S = 3600.0


async def drain(queue: UpstreamQueue) -> list[tuple[str, int]]:
    sent = []
    while queue.queued:
        entry = await queue.next()
        sent.append((entry.action, entry.payload["n"]))
        queue.done(entry)
    return sent


async def test_transactions_beyond_memory_wait_in_the_file_in_order(tmp_path: Path) -> None:
    """Three durable ones in memory at most: the rest are read back in order."""
    queue = UpstreamQueue(tmp_path / "q.db", durable_in_memory=3, max_droppable=2)
    await queue.open()
    for n in range(10):
        queue.put("MeterValues", {"n": n}, durable=True, ref=None)
    # Droppable ones behind transactions only in the file cannot keep their place.
    queue.put("Heartbeat", {"n": 99}, durable=False, ref=None)
    assert queue.queued == 10
    assert queue.dropped == 1
    assert await drain(queue) == [("MeterValues", n) for n in range(10)]
    await queue.close()


async def test_droppable_messages_are_bounded_oldest_first(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db", durable_in_memory=3, max_droppable=2)
    await queue.open()
    queue.put("StatusNotification", {"n": 0}, durable=False, ref=None)
    queue.put("StartTransaction", {"n": 1}, durable=True, ref="7")
    for n in range(2, 6):
        queue.put("Heartbeat", {"n": n}, durable=False, ref=None)
    assert queue.dropped == 3  # never the first: it may be in flight
    expected = [("StatusNotification", 0), ("StartTransaction", 1), ("Heartbeat", 5)]
    assert await drain(queue) == expected
    await queue.close()


async def test_the_file_keeps_transactions_and_ids_across_a_restart(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db", durable_in_memory=2)
    await queue.open()
    queue.put("Heartbeat", {"n": 0}, durable=False, ref=None)
    for n in range(1, 5):
        queue.put("StopTransaction", {"n": n}, durable=True, ref=None)
    first = await queue.next()
    queue.done(first)
    queue.map_transaction("17", "9001")
    queue.set_meta("last_boot", "{}")
    await queue.close()

    again = UpstreamQueue(tmp_path / "q.db", durable_in_memory=2)
    await again.open()
    assert again.queued == 4
    assert again.upstream_transaction("17") == "9001"
    assert again.meta("last_boot") == "{}"
    assert await drain(again) == [("StopTransaction", n) for n in range(1, 5)]
    again.put("StopTransaction", {"n": 5}, durable=True, ref=None)
    assert (await again.next()).seq == 6  # numbering goes on after the file's
    await again.close()


async def rows(path: Path) -> list[tuple[int, str]]:
    """What a queue's file holds (read with a queue of its own, as after a restart)."""
    again = UpstreamQueue(path)
    await again.open()
    held = [(entry.seq, entry.action) for entry in list(again._items)]
    await again.close()
    return held


async def test_a_message_answered_within_the_window_never_touches_the_file(
    tmp_path: Path,
) -> None:
    writer = QueueWriter(group_commit_s=NEVER_S)
    queue = UpstreamQueue(tmp_path / "q.db", writer=writer)
    await queue.open()
    queue.put("MeterValues", {"n": 1}, durable=True, ref=None)
    queue.done(await queue.next())
    await queue.close()
    assert writer.handoffs == 0
    assert await rows(tmp_path / "q.db") == []
    await writer.close()


async def test_writes_of_a_window_go_as_one_batch_for_every_queue(tmp_path: Path) -> None:
    """Two chargers' queues, a burst each: one hand-off to the thread, one commit per file."""
    writer = QueueWriter(group_commit_s=NEVER_S)
    first = UpstreamQueue(tmp_path / "a.db", writer=writer)
    second = UpstreamQueue(tmp_path / "b.db", writer=writer)
    for queue in (first, second):
        await queue.open()
    for queue in (first, second):
        for n in range(5):
            queue.put("StopTransaction", {"n": n}, durable=True, ref=None)
        queue.put("Heartbeat", {"n": 9}, durable=False, ref=None)  # never written
    first.map_transaction("17", "9001")
    first.set_meta("last_boot", "{}")
    writer.flush()
    await writer.run(lambda: None)  # the thread has done what it was handed
    assert (writer.handoffs, writer.batches_written) == (1, 2)
    # Answered after its batch went: deleted with the next.
    first.done(await first.next())
    for queue in (first, second):
        await queue.close()
    assert writer.handoffs == 2
    assert await rows(tmp_path / "a.db") == [(n, "StopTransaction") for n in range(2, 6)]
    assert await rows(tmp_path / "b.db") == [(n, "StopTransaction") for n in range(1, 6)]
    again = UpstreamQueue(tmp_path / "a.db")
    await again.open()
    assert again.upstream_transaction("17") == "9001"
    assert again.meta("last_boot") == "{}"
    await again.close()
    await writer.close()


async def test_a_file_that_cannot_be_written_costs_only_its_own_queue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = QueueWriter(group_commit_s=NEVER_S)
    broken = UpstreamQueue(tmp_path / "broken.db", writer=writer)
    fine = UpstreamQueue(tmp_path / "fine.db", writer=writer)
    await broken.open()
    await fine.open()

    def refuse(batch: PendingWrites) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    broken._store.write = refuse  # type: ignore[method-assign]
    for queue in (broken, fine):
        queue.put("StopTransaction", {"n": 1}, durable=True, ref=None)
    with caplog.at_level(logging.ERROR):
        writer.flush()
        await writer.run(lambda: None)
        async with asyncio.timeout(PATIENCE_S):
            while not broken.store_failures:
                await asyncio.sleep(0.01)
    assert (broken.store_failures, fine.store_failures) == (1, 0)
    assert "disk I/O error" in caplog.text
    assert broken.queued == 1  # still sent, from memory
    await broken.close()
    await fine.close()
    assert await rows(tmp_path / "fine.db") == [(1, "StopTransaction")]
    await writer.close()


async def test_a_closed_queue_writes_nothing_and_counts_it(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db")
    await queue.open()
    await queue.close()
    queue.put("StopTransaction", {"n": 1}, durable=True, ref=None)
    assert queue.store_failures == 1
    assert not await queue.read_spilled()


async def test_a_file_that_cannot_be_opened_is_raised_and_leaves_no_thread(
    tmp_path: Path,
) -> None:
    (tmp_path / "q.db").mkdir()  # a folder where the file should be
    queue = UpstreamQueue(tmp_path / "q.db")
    with pytest.raises(sqlite3.Error):
        await queue.open()
    assert queue._writer._executor is None


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    highest = Backoff(first=1.0, cap=300.0, rng=lambda: 1.0)
    assert [highest.next() for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    lowest = Backoff(first=1.0, cap=300.0, rng=lambda: 0.0)
    assert [lowest.next() for _ in range(3)] == [0.5, 1.0, 2.0]
    lowest.reset()
    assert lowest.next() == 0.5


# -- a message is written only once it has waited (see `upstream_writer`) -------------


@pytest.fixture
def young_for_ever(monkeypatch: pytest.MonkeyPatch) -> None:
    """No message comes of age during the test: a tick writes none of them."""
    monkeypatch.setattr(upstream_queue_file, "WRITE_AFTER_S", NEVER_S)


@pytest.fixture
def of_age_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message is due at the first tick after it was queued."""
    monkeypatch.setattr(upstream_queue_file, "WRITE_AFTER_S", 0.0)


async def job_done(writer: QueueWriter) -> None:
    """Until the job a tick handed over has ended (a read would flush everything)."""
    async with asyncio.timeout(PATIENCE_S):
        while writer.busy:
            await asyncio.sleep(0.005)


@pytest.mark.usefixtures("young_for_ever")
async def test_a_message_in_flight_at_a_tick_is_not_written(tmp_path: Path) -> None:
    """The one in flight at every tick of a steady flow: answered later, never written."""
    writer = QueueWriter(group_commit_s=NEVER_S)
    queue = UpstreamQueue(tmp_path / "q.db", writer=writer)
    await queue.open()
    for n in range(3):
        queue.put("MeterValues", {"n": n}, durable=True, ref=None)
        writer.tick()
        queue.done(await queue.next())
        writer.tick()
    assert writer.handoffs == 0
    await queue.close()
    assert await rows(tmp_path / "q.db") == []
    await writer.close()


@pytest.mark.usefixtures("young_for_ever")
async def test_a_tick_writes_the_rest_and_keeps_young_messages_back(tmp_path: Path) -> None:
    writer = QueueWriter(group_commit_s=NEVER_S)
    queue = UpstreamQueue(tmp_path / "q.db", writer=writer)
    await queue.open()
    queue.put("StopTransaction", {"n": 1}, durable=True, ref=None)
    queue.map_transaction("17", "9001")
    queue.set_meta("last_boot", "{}")
    writer.tick()
    await job_done(writer)
    assert writer.batches_written == 1
    # Restored from the file as it is now: the map and the boot, not the young message.
    again = UpstreamQueue(tmp_path / "q.db")
    await again.open()
    assert (again.queued, again.upstream_transaction("17"), again.meta("last_boot")) == (
        0,
        "9001",
        "{}",
    )
    await again.close()
    # Still waiting: a flush (as `close` does) writes it.
    await queue.close()
    assert await rows(tmp_path / "q.db") == [(1, "StopTransaction")]
    await writer.close()


@pytest.mark.usefixtures("of_age_at_once")
async def test_a_message_that_waited_is_written_at_the_next_tick(tmp_path: Path) -> None:
    writer = QueueWriter(group_commit_s=NEVER_S)
    queue = UpstreamQueue(tmp_path / "q.db", writer=writer)
    await queue.open()
    queue.put("StopTransaction", {"n": 1}, durable=True, ref=None)
    writer.tick()
    await job_done(writer)
    assert await rows(tmp_path / "q.db") == [(1, "StopTransaction")]
    await queue.close()
    await writer.close()


async def test_the_window_passes_without_anyone_flushing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ticks go on by themselves while a message is young, and write it once due."""
    monkeypatch.setattr(upstream_queue_file, "WRITE_AFTER_S", 0.05)
    writer = QueueWriter(group_commit_s=0.01)
    queue = UpstreamQueue(tmp_path / "q.db", writer=writer)
    await queue.open()
    queue.put("StopTransaction", {"n": 1}, durable=True, ref=None)
    async with asyncio.timeout(PATIENCE_S):
        while writer.batches_written < 1:
            await asyncio.sleep(0.01)
    assert writer.handoffs == 1
    await queue.close()
    await writer.close()


@pytest.mark.usefixtures("young_for_ever")
async def test_a_failed_batch_goes_again_before_younger_messages(tmp_path: Path) -> None:
    """What a flush could not write is due at the next tick, young ones behind it or not."""
    writer = QueueWriter(group_commit_s=NEVER_S)
    queue = UpstreamQueue(tmp_path / "q.db", writer=writer, retry=Backoff(NEVER_S, NEVER_S))
    await queue.open()
    real_write = queue._store.write
    failures = [sqlite3.OperationalError("database is locked")]

    def write_once_failing(batch: PendingWrites) -> None:
        if failures:
            raise failures.pop()
        real_write(batch)

    queue._store.write = write_once_failing  # type: ignore[method-assign]
    queue.put("StopTransaction", {"n": 1}, durable=True, ref=None)
    writer.flush()
    async with asyncio.timeout(PATIENCE_S):
        while not queue.store_failures:
            await asyncio.sleep(0.01)
    queue.put("StopTransaction", {"n": 2}, durable=True, ref=None)  # young for ever
    queue._file.retry_now()  # the retry's time has come: its tick
    writer.tick()
    await job_done(writer)
    again = UpstreamQueue(tmp_path / "q.db")
    await again.open()
    assert [entry.payload["n"] for entry in again._items] == [1]
    await again.close()
    await queue.close()
    await writer.close()


async def test_a_file_that_cannot_be_read_is_closed_again(tmp_path: Path) -> None:
    """Opened, then unreadable (a damaged table): no connection is left for each retry."""
    path = tmp_path / "q.db"
    queue = UpstreamQueue(path)
    await queue.open()
    await queue.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # a table not the queue's
        db.execute("DROP TABLE queued")
        db.execute("CREATE TABLE queued (x)")
    again = UpstreamQueue(path)
    with pytest.raises(sqlite3.Error):
        await again.open()
    assert again._store._db is None
