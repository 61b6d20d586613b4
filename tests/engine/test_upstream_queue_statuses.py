"""A connector's StatusNotifications in the upstream's queue: its latest, not all (item 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue


def status(connector: int, state: str, evse: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"connectorId": connector, "status": state}
    return payload if evse is None else payload | {"evseId": evse}


async def drain(queue: UpstreamQueue) -> list[tuple[str, Any]]:
    sent = []
    while queue.queued:
        entry = await queue.next()
        sent.append((entry.action, entry.payload.get("status", entry.payload.get("n"))))
        queue.done(entry)
    return sent


async def test_a_newer_status_of_a_connector_replaces_the_one_waiting(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db")
    await queue.open()
    queue.put("Heartbeat", {"n": 0}, durable=False, ref=None)  # first: maybe in flight
    queue.put("StatusNotification", status(1, "Charging"), durable=False, ref=None)
    queue.put("StatusNotification", status(2, "Available"), durable=False, ref=None)
    queue.put("StartTransaction", {"n": 1}, durable=True, ref="7")
    queue.put("StatusNotification", status(1, "Finishing"), durable=False, ref=None)
    queue.put("StatusNotification", status(1, "Available"), durable=False, ref=None)
    assert queue.queued == 4
    assert queue.dropped == 0  # replaced, not lost
    assert await drain(queue) == [
        ("Heartbeat", 0),
        ("StatusNotification", "Available"),  # connector 2
        ("StartTransaction", 1),
        ("StatusNotification", "Available"),  # connector 1, its latest, in its new place
    ]
    await queue.close()


async def test_2x_statuses_are_told_apart_by_evse_and_connector(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db")
    await queue.open()
    queue.put("Heartbeat", {"n": 0}, durable=False, ref=None)
    queue.put("StatusNotification", status(1, "Occupied", evse=1), durable=False, ref=None)
    queue.put("StatusNotification", status(1, "Occupied", evse=2), durable=False, ref=None)
    queue.put("StatusNotification", status(1, "Available", evse=1), durable=False, ref=None)
    assert [entry.payload for entry in list(queue._items)[1:]] == [
        status(1, "Occupied", evse=2),
        status(1, "Available", evse=1),
    ]
    await queue.close()


async def test_the_status_in_flight_stays_and_its_successor_follows(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db")
    await queue.open()
    queue.put("StatusNotification", status(1, "Charging"), durable=False, ref=None)
    in_flight = await queue.next()
    queue.put("StatusNotification", status(1, "Finishing"), durable=False, ref=None)
    queue.put("StatusNotification", status(1, "Available"), durable=False, ref=None)
    queue.done(in_flight)
    assert await drain(queue) == [("StatusNotification", "Available")]
    await queue.close()


async def test_past_the_bound_statuses_are_dropped_last(tmp_path: Path) -> None:
    """After an outage of heartbeats, each connector's latest status is still there."""
    queue = UpstreamQueue(tmp_path / "q.db", max_droppable=4)
    await queue.open()
    queue.put("Heartbeat", {"n": 0}, durable=False, ref=None)
    queue.put("StatusNotification", status(1, "Charging"), durable=False, ref=None)
    queue.put("StatusNotification", status(2, "Faulted"), durable=False, ref=None)
    for n in range(1, 50):
        queue.put("Heartbeat", {"n": n}, durable=False, ref=None)
        if n == 25:
            queue.put("StatusNotification", status(1, "Available"), durable=False, ref=None)
    assert await drain(queue) == [
        ("Heartbeat", 0),
        ("StatusNotification", "Faulted"),
        ("StatusNotification", "Available"),
        ("Heartbeat", 49),
    ]
    # Only statuses past the head (which may be in flight): the oldest go first.
    for connector in range(1, 7):
        queue.put("StatusNotification", status(connector, "Available"), durable=False, ref=None)
    assert [entry.payload["connectorId"] for entry in await _all(queue)] == [1, 4, 5, 6]
    await queue.close()


async def test_a_status_without_a_connector_waits_its_turn(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db")
    await queue.open()
    queue.put("Heartbeat", {"n": 0}, durable=False, ref=None)
    queue.put("StatusNotification", {"status": "Available"}, durable=False, ref=None)
    queue.put("StatusNotification", {"status": "Faulted"}, durable=False, ref=None)
    assert queue.queued == 3
    await queue.close()


async def _all(queue: UpstreamQueue) -> list[Any]:
    found = []
    while queue.queued:
        entry = await queue.next()
        found.append(entry)
        queue.done(entry)
    return found


# -- while transactions wait in the file only (review of issue 24, item 3) ------------


async def test_a_status_while_transactions_are_in_the_file_only_still_goes(
    tmp_path: Path,
) -> None:
    """A long outage: the connector's last status reaches the upstream, after the stop."""
    queue = UpstreamQueue(tmp_path / "q.db", durable_in_memory=3)
    await queue.open()
    queue.put("StatusNotification", status(1, "Charging"), durable=False, ref=None)
    for n in range(10):
        queue.put("MeterValues", {"n": n}, durable=True, ref=None)
    assert queue.spilled
    queue.put("StatusNotification", status(1, "SuspendedEV"), durable=False, ref=None)
    queue.put("StopTransaction", {"n": 10}, durable=True, ref=None)
    queue.put("StatusNotification", status(1, "Finishing"), durable=False, ref=None)
    queue.put("StatusNotification", status(2, "Faulted"), durable=False, ref=None)
    queue.put("Heartbeat", {"n": 11}, durable=False, ref=None)  # cannot keep its place
    queue.put("StatusNotification", status(1, "Available"), durable=False, ref=None)
    assert (queue.queued, queue.dropped) == (14, 1)
    assert await drain(queue) == [
        ("StatusNotification", "Charging"),
        *[("MeterValues", n) for n in range(10)],
        ("StopTransaction", 10),
        ("StatusNotification", "Faulted"),
        ("StatusNotification", "Available"),
    ]
    await queue.close()


async def test_a_status_set_aside_keeps_its_place_among_what_the_file_gives_back(
    tmp_path: Path,
) -> None:
    """Read back two at a time: the status goes where it came, not at the end."""
    queue = UpstreamQueue(tmp_path / "q.db", durable_in_memory=2)
    await queue.open()
    for n in range(6):
        queue.put("StartTransaction" if n == 0 else "MeterValues", {"n": n}, durable=True, ref=None)
    queue.put("StatusNotification", status(1, "Charging"), durable=False, ref=None)
    for n in range(6, 10):
        queue.put("MeterValues", {"n": n}, durable=True, ref=None)
    sent = await drain(queue)
    assert sent.index(("StatusNotification", "Charging")) == 6
    assert [n for action, n in sent if action != "StatusNotification"] == list(range(10))
    await queue.close()


async def test_statuses_set_aside_stay_within_the_droppable_bounds(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db", durable_in_memory=2, max_droppable=3)
    await queue.open()
    queue.put("Heartbeat", {"n": 0}, durable=False, ref=None)
    queue.put("Heartbeat", {"n": 1}, durable=False, ref=None)
    for n in range(2, 6):
        queue.put("MeterValues", {"n": n}, durable=True, ref=None)
    for connector in range(1, 5):
        queue.put("StatusNotification", status(connector, "Available"), durable=False, ref=None)
    # Three droppable ones in all: the head stays, the oldest go, statuses last.
    assert queue.dropped == 3
    assert await _all_statuses(queue) == [0, 3, 4]
    await queue.close()


async def _all_statuses(queue: UpstreamQueue) -> list[int]:
    """The connectors of the statuses sent, and the droppable head's n first."""
    found = []
    for entry in await _all(queue):
        if entry.action == "StatusNotification":
            found.append(entry.payload["connectorId"])
        elif entry.action == "Heartbeat":
            found.append(entry.payload["n"])
    return found
