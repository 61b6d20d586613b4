"""A connection's life: failing listeners, and reconnecting over a dead connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from custom_components.ocpp_csms.csms import connections as live_connections
from custom_components.ocpp_csms.csms.events import Event, StationConnected
from tests.chargers import PATIENCE_S, charger, wait_for
from tests.engine.conftest import ConnectRaw, Recorder, Running, StartSystem


def fail_on(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, when: Callable[[Event], bool]
) -> None:
    """Make the listener record every event, then raise on those `when` picks.

    As Home Assistant does when it refuses a state.
    """
    record = recorder.handle

    def handle(event: Event) -> None:
        record(event)
        if when(event):
            raise RuntimeError("state refused")

    monkeypatch.setattr(recorder, "handle", handle)


def failure_lines(caplog: pytest.LogCaptureFixture, charger_id: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.ERROR and f"Charger {charger_id}: failed" in record.message
    ]


async def test_a_listener_failing_on_connect_does_not_lock_the_charger_out(
    start_system: StartSystem, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Served, reported offline when it leaves, and served again when it comes back."""
    running = await start_system()
    running.directory.admit("CP-1")
    fail_on(monkeypatch, running.recorder, lambda event: isinstance(event, StationConnected))
    station = running.system.ensure_station("CP-1")
    for _ in range(2):
        async with charger(running.url, "CP-1") as client:
            assert await client.boot() == "Accepted"
            assert (await client.heartbeat()).current_time
        await wait_for(lambda: not station.connected)
        assert running.system.connection("CP-1") is None
    expected = ["connected", "updated", "updated", "disconnected"]
    assert running.recorder.names("CP-1") == expected * 2
    assert failure_lines(caplog, "CP-1")
    assert "StationConnected" in failure_lines(caplog, "CP-1")[0].message


async def test_listener_failures_never_reach_the_charger(
    start_system: StartSystem,
    raw_charger: ConnectRaw,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every event of CP-1 fails: its messages are still answered, CP-2 is untouched,
    and the log holds a few lines, not one per message."""
    running = await start_system()
    fail_on(monkeypatch, running.recorder, lambda event: event.station.id == "CP-1")
    failing = await raw_charger(charger_id="CP-1", running=running)
    other = await raw_charger(charger_id="CP-2", running=running)
    for _ in range(20):
        answer = await failing.call("Heartbeat", {})
        assert answer[0] == 3, answer  # a CALLRESULT, not an InternalError
    assert (await other.result("Heartbeat", {}))["currentTime"]
    assert running.system.stations["CP-1"].connected
    assert 1 <= len(failure_lines(caplog, "CP-1")) <= 5
    assert not failure_lines(caplog, "CP-2")
    assert running.recorder.names("CP-2", every=True) == ["connected", "updated", "updated"]
    # Leaving (StationDisconnected fails too) still unregisters it.
    await failing.websocket.close()
    await wait_for(lambda: running.system.connection("CP-1") is None)
    assert not running.system.stations["CP-1"].connected


Dead = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def dead_connection(running: Running, charger_id: str) -> Dead:
    """A connection that completes the handshake, then never reads nor answers anything.

    Its reader ends when the central system cuts the connection. (Keep the writer: a
    writer collected as garbage closes its connection.)
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", running.system.port)
    writer.write(
        f"GET /ocpp/{charger_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n".encode()
    )
    assert (await asyncio.wait_for(reader.readline(), PATIENCE_S)).startswith(b"HTTP/1.1 101")
    await wait_for(lambda: running.system.connection(charger_id) is not None)
    return reader, writer


@pytest.fixture
async def dead_connections() -> AsyncIterator[list[Dead]]:
    """Dead connections of a test, kept until its end and then closed."""
    connections: list[Dead] = []
    yield connections
    for _reader, writer in connections:
        writer.transport.abort()


async def until_cut(reader: asyncio.StreamReader) -> None:
    """Read (the close frame) until the connection ends."""
    async with asyncio.timeout(PATIENCE_S):
        with contextlib.suppress(ConnectionResetError):
            while await reader.read(4096):
                pass


async def test_a_reconnect_over_a_dead_connection_is_served_at_once(
    start_system: StartSystem,
    monkeypatch: pytest.MonkeyPatch,
    dead_connections: list[Dead],
) -> None:
    """The new connection does not wait for the old one to close.

    The close wait is set far beyond the test's patience: only a connection served
    before the old one is closed can boot in time.
    """
    monkeypatch.setattr(live_connections, "_CLOSE_WAIT", 10 * PATIENCE_S)
    running = await start_system(ping_interval=None, close_timeout=10 * PATIENCE_S)
    running.directory.admit("CP-1")
    dead_connections.append(await dead_connection(running, "CP-1"))
    assert running.recorder.names("CP-1") == ["connected"]
    async with charger(running.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        assert (await client.heartbeat()).current_time
        station = running.system.stations["CP-1"]
        assert station.connected
        assert "disconnected" not in running.recorder.names("CP-1")


async def test_an_old_connection_that_never_closes_is_cut(
    start_system: StartSystem,
    monkeypatch: pytest.MonkeyPatch,
    dead_connections: list[Dead],
) -> None:
    """Past the close wait the old socket is cut, not left for pings to find dead.

    Pings are off and the server's own close timeout is longer than the test's
    patience, so only the central system's cut can end the old connection in time.
    """
    monkeypatch.setattr(live_connections, "_CLOSE_WAIT", 0.2)
    running = await start_system(ping_interval=None, close_timeout=10 * PATIENCE_S)
    running.directory.admit("CP-1")
    dead_connections.append(old := await dead_connection(running, "CP-1"))
    async with charger(running.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await until_cut(old[0])
        assert running.system.stations["CP-1"].connected
        assert running.recorder.names("CP-1") == ["connected", "connected", "updated"]
        assert (await client.heartbeat()).current_time
    await wait_for(lambda: "disconnected" in running.recorder.names("CP-1"))


async def test_stop_cuts_a_connection_still_closing(
    start_system: StartSystem,
    monkeypatch: pytest.MonkeyPatch,
    dead_connections: list[Dead],
) -> None:
    """Stopping cancels the background close, and the old socket is cut with it."""
    monkeypatch.setattr(live_connections, "_CLOSE_WAIT", 10 * PATIENCE_S)
    running = await start_system(ping_interval=None, close_timeout=10 * PATIENCE_S)
    running.directory.admit("CP-1")
    dead_connections.append(old := await dead_connection(running, "CP-1"))
    async with charger(running.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        async with asyncio.timeout(PATIENCE_S):
            await running.system.stop()
        await until_cut(old[0])
