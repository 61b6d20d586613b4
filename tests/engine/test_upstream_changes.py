"""Forwarding while links change: replaced, stopped, or unable to open their queue.

Issue 24's review, findings 5, 6 and 7: what a charger sends in these windows is
forwarded (or held for the link to come), never silently dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from custom_components.ocpp_csms.csms.schemas import VersionSchemas
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_settings import (
    Backoff,
    UpstreamSettings,
    UpstreamState,
    UpstreamStatus,
)
from tests.chargers import wait_for
from tests.engine.conftest import RawCharger, Running, StartSystem
from tests.engine.fake_upstream import FakeUpstream, fake_upstream
from tests.engine.forwarding import forwarding, registry

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
START = {"connectorId": 1, "idTag": "HOME", "meterStart": 0, "timestamp": "2026-01-01T10:00:00Z"}

Schemas = Callable[[], Awaitable[Mapping[OcppVersion, VersionSchemas]]]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


async def forwarded(start_system: StartSystem, upstream: FakeUpstream, tmp_path: Path) -> Running:
    ours, _ = await forwarding(start_system, upstream.url, tmp_path, authorizer=registry("HOME"))
    return ours


def gate_schemas(ours: Running) -> asyncio.Event:
    """Hold the next link change of `ours` between the old link's end and the new one's start.

    The schemas are what a change awaits after it ended the old link; set the event to
    let it go on.
    """
    upstreams = ours.system.upstreams
    schemas: Schemas = upstreams._schemas
    gate = asyncio.Event()

    async def gated() -> Mapping[OcppVersion, VersionSchemas]:
        await gate.wait()
        return await schemas()

    upstreams._schemas = gated
    return gate


@pytest.mark.parametrize("starts", [1, 2])
async def test_a_charger_connecting_while_its_link_is_replaced_is_forwarded(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, starts: int
) -> None:
    """Held while the link changes, relayed once it is there: a start sent again too, once.

    (A charger that missed our answer sends its start again: both are held, relayed in
    order, the repeat recognised then.)
    """
    ours = await forwarded(start_system, upstream, tmp_path)
    gate = gate_schemas(ours)
    settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
    replacing = asyncio.create_task(
        ours.system.set_upstream("CP-1", settings, queue_path=tmp_path / "upstream-CP-1.db")
    )
    await wait_for(lambda: ours.system.upstreams.status("CP-1") is None)  # the old one ended
    async with connect(f"{ours.url}/CP-1", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, ours, "CP-1")
        assert (await charger.result("BootNotification", BOOT))["status"] == "Accepted"
        answers = [await charger.result("StartTransaction", START) for _ in range(starts)]
        assert all(answer == answers[0] for answer in answers)
        gate.set()
        await replacing
        await charger.result("Heartbeat", {})
    await wait_for(lambda: upstream.of("Heartbeat"))
    assert upstream.of("StartTransaction") == [START]


async def queued_in(path: Path) -> list[str]:
    """The actions a stopped link's queue file holds."""
    queue = UpstreamQueue(path)
    await queue.open()
    actions = []
    try:
        while queue.queued:
            entry = await queue.next()
            actions.append(entry.action)
            queue.done(entry)
    finally:
        await queue.close()
    return actions


async def test_what_chargers_send_while_the_central_system_stops_is_forwarded(
    start_system: StartSystem,
    tmp_path: Path,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Until its connection is closed, a charger's answered messages reach its queue.

    Forwarding stopped first used to leave a window (up to seconds, while connections
    close) in which even a StopTransaction was answered and never forwarded.
    """
    ours = await forwarded(start_system, upstream, tmp_path)
    async with connect(f"{ours.url}/CP-1", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, ours, "CP-1")
        assert (await charger.result("BootNotification", BOOT))["status"] == "Accepted"
        started = await charger.result("StartTransaction", START)
        await wait_for(lambda: upstream.of("StartTransaction"))
        upstream.silent.add("StopTransaction")  # it waits in the queue, then in the file
        server = ours.system._server
        close_chargers = server.stop

        async def last_words_then_close() -> None:
            monkeypatch.undo()  # once: the fixture stops the system again
            stop = {"transactionId": started["transactionId"], "meterStop": 100}
            await charger.result("StopTransaction", stop | {"timestamp": START["timestamp"]})
            await close_chargers()

        monkeypatch.setattr(server, "stop", last_words_then_close)
        await ours.system.stop()
    assert "StopTransaction" in upstream.actions() + await queued_in(tmp_path / "upstream-CP-1.db")


async def test_a_queue_file_that_does_not_open_is_tried_again_and_shown(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """The link starts anyway: the failure is its status, the open is tried again later.

    What the charger sends meanwhile is held for the link (it used to be dropped, with
    forwarding off and nothing shown until the next change of its settings).
    """
    ours = await start_system(authorizer=registry("HOME"))
    ours.directory.admit("CP-1")
    upstreams = ours.system.upstreams
    upstreams.open_backoff = lambda: Backoff(first=0.05, cap=0.2)
    folder = tmp_path / "queues"
    await asyncio.to_thread(folder.write_text, "")  # a file where its folder should be
    reported: list[UpstreamStatus] = []
    settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
    await ours.system.set_upstream(
        "CP-1", settings, queue_path=folder / "upstream-CP-1.db", on_status=reported.append
    )
    status = upstreams.status("CP-1")
    assert status is not None
    assert status.state is UpstreamState.CONNECTING
    assert status.last_error.startswith("Queue file: ")
    assert reported == [status]
    async with connect(f"{ours.url}/CP-1", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, ours, "CP-1")
        assert (await charger.result("BootNotification", BOOT))["status"] == "Accepted"
        await charger.result("StartTransaction", START)
        held = upstreams.status("CP-1")
        assert held is not None
        assert held.queued == 2  # the boot and the start
        await asyncio.to_thread(folder.unlink)  # the folder can be made now
        await wait_for(lambda: upstream.of("StartTransaction"))
    assert upstream.of("StartTransaction") == [START]
    await wait_for(lambda: reported[-1].connected)
    assert reported[-1].last_error == ""


async def test_a_queue_that_never_opens_is_tried_until_replaced(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours = await start_system()
    upstreams = ours.system.upstreams
    upstreams.open_backoff = lambda: Backoff(first=0.01, cap=0.01)
    settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
    folder = tmp_path / "queues"
    await asyncio.to_thread(folder.write_text, "")  # a file where its folder should be
    await ours.system.set_upstream("CP-1", settings, queue_path=folder / "q.db")
    status = upstreams.status("CP-1")
    assert status is not None
    assert status.last_error
    await ours.system.set_upstream("CP-1", None)
    assert upstreams.status("CP-1") is None
    await ours.system.set_upstream("CP-1", settings, queue_path=folder / "q.db")
    await ours.system.stop()  # ends the tries, too
    assert upstreams.status("CP-1") is None
    assert not upstreams._retries
    assert not upstreams._held  # nothing is held for a link that will never come
