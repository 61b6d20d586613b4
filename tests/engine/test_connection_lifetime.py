"""A connection that ended is freed by reference counting, never left to the cycle collector.

The cycle collector frees what is left in reference cycles in passes over the whole heap;
in Home Assistant, with 10,000 entities, the pass that freed a thousand connections
dropped at once stopped the event loop for about a second. So nothing of a connection
(its adapter, RPC conversation and WebSocket) may be left in a cycle once it ends: with
the collector switched off, each must be gone as soon as the central system lets go.
"""

from __future__ import annotations

import gc
import json
import logging
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from custom_components.ocpp_csms.csms.host import AdmissionPolicy
from custom_components.ocpp_csms.csms.server import ChargerConnection
from tests.chargers import wait_for
from tests.engine.conftest import Running, StartSystem

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_2X = {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}


async def _connect(running: Running, version: str) -> ClientConnection:
    websocket = await connect(f"{running.url}/CP-1", subprotocols=[Subprotocol(version)])
    boot = BOOT if version == "ocpp1.6" else BOOT_2X
    await websocket.send(json.dumps([2, "b", "BootNotification", boot]))
    # A central system that learns sends its CALLs now: left unanswered, in flight.
    while json.loads(await websocket.recv())[0] != 3:
        pass
    return websocket


def _references(running: Running) -> list[weakref.ref[Any]]:
    session = running.system.connection("CP-1")
    assert session is not None
    socket = running.system._connections._sockets[session]
    return [
        weakref.ref(session),
        weakref.ref(session.rpc),
        weakref.ref(socket),
        weakref.ref(socket.protocol),  # websockets' state machine, its buffers
    ]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("ending", ["closed", "cut", "replaced", "closed by us"])
async def test_a_connection_that_ended_is_freed_without_the_cycle_collector(
    start_system: StartSystem, caplog: pytest.LogCaptureFixture, version: str, ending: str
) -> None:
    # Log records hold the connection they are about (websockets adds it to each).
    caplog.set_level(logging.WARNING, logger="websockets")
    running = await start_system(learn_capabilities=True, call_timeout=30)
    running.directory.admit("CP-1")
    websocket = await _connect(running, version)
    references = _references(running)
    gone: Callable[[], bool] = lambda: all(reference() is None for reference in references)  # noqa: E731
    later = None
    gc.collect()
    gc.disable()
    try:
        match ending:
            case "closed":
                await websocket.close()
            case "cut":
                websocket.transport.abort()
            case "replaced":
                later = await _connect(running, version)
            case "closed by us":
                session = running.system.connection("CP-1")
                assert session is not None
                await session.close()
                del session
        await wait_for(gone)
    finally:
        gc.enable()
        await websocket.close()
        if later is not None:
            await later.close()


async def test_a_refused_connection_is_freed_without_the_cycle_collector(
    start_system: StartSystem, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="websockets")
    made: list[weakref.ref[Any]] = []
    init = ChargerConnection.__init__

    def recording(self: ChargerConnection, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.extend([weakref.ref(self), weakref.ref(self.protocol)])

    monkeypatch.setattr(ChargerConnection, "__init__", recording)
    running = await start_system(AdmissionPolicy.REJECT)
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(InvalidStatus):
            async with connect(f"{running.url}/CP-X", subprotocols=[Subprotocol("ocpp1.6")]):
                pass
        assert made
        await wait_for(lambda: all(reference() is None for reference in made))
    finally:
        gc.enable()
