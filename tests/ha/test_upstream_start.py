"""Forwarding from the first moment (issue 24): the links start before the server listens.

A charger that connects as soon as the port opens gets its forwarding from its first
message on; a start that cannot listen ends the links it already started. The upstream
is `tests/engine/fake_upstream.py` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue
from tests.chargers import PATIENCE_S, charger, wait_for
from tests.engine.fake_upstream import FakeUpstream
from tests.ha.conftest import SetUpEntry, charger_subentry, free_port
from tests.ha.upstream import CONNECTED, state, upstream_subentry


async def _listening(port: int) -> bool:
    """Whether something accepts TCP connections on this loopback port now."""
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def test_a_charger_connecting_right_at_start_up_is_forwarded(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The links start before the server listens: a charger that is quick loses nothing.

    Opening the queue is made slow: if the server already listened meanwhile, the
    charger gets in and starts its session before the link exists.
    """
    port = free_port()
    session_started = asyncio.Event()
    open_queue = UpstreamQueue.open

    async def slow_open(queue: UpstreamQueue) -> None:
        if await _listening(port):
            async with asyncio.timeout(PATIENCE_S):
                await session_started.wait()
        await open_queue(queue)

    monkeypatch.setattr(UpstreamQueue, "open", slow_open)

    async def quick_charger() -> None:
        async with asyncio.timeout(PATIENCE_S):
            while not await _listening(port):
                await asyncio.sleep(0.01)
        async with charger(f"ws://127.0.0.1:{port}/ocpp", "CP-1") as client:
            assert await client.boot() == "Accepted"
            await client.start_session()
            session_started.set()
            # Whatever the order, the link is there now: what follows is forwarded.
            await wait_for(lambda: state(hass, CONNECTED) == "on")
            await client.send_meter_values(seconds=600)
            await wait_for(lambda: upstream.of("MeterValues"))

    charging = asyncio.create_task(quick_charger())
    await setup_entry(
        port=port, chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)]
    )
    await charging
    assert upstream.actions("StartTransaction", "MeterValues") == [
        "StartTransaction",
        "MeterValues",
    ]


async def test_a_start_that_cannot_listen_ends_the_links_it_started(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    """The links start before the server: a port taken leaves no link (nor its thread)."""
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        entry = await setup_entry(
            port=other_program.getsockname()[1],
            chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)],
        )
        assert entry.state is ConfigEntryState.SETUP_RETRY
    await wait_for(lambda: not upstream.connected)
    assert not [t for t in threading.enumerate() if t.name.startswith("ocpp_csms_upstream")]
