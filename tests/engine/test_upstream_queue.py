"""The upstream's queue: order, bounds, and what the file keeps (see `upstream_queue`)."""

from __future__ import annotations

from pathlib import Path

from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_settings import Backoff


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


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    highest = Backoff(first=1.0, cap=300.0, rng=lambda: 1.0)
    assert [highest.next() for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    lowest = Backoff(first=1.0, cap=300.0, rng=lambda: 0.0)
    assert [lowest.next() for _ in range(3)] == [0.5, 1.0, 2.0]
    lowest.reset()
    assert lowest.next() == 0.5
