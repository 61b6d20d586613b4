"""A charger that drops while its answer waits for the upstream (issue 24's review).

Under sessions-and-auth a StartTransaction with a tag we do not know is answered only
once the upstream has decided on it; a charger may be gone by then. Our answer is then
lost: the connection must still end (and free the loop), and the start the charger
sends again after reconnecting must still reach the upstream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from custom_components.ocpp_csms.csms.commands import Command, CommandResult
from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from tests.chargers import wait_for
from tests.engine.conftest import RawCharger, Running, StartSystem
from tests.engine.fake_upstream import FakeUpstream, fake_upstream
from tests.engine.forwarding import asks_upstream, forwarding, registry

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
START = {
    "connectorId": 1,
    "idTag": "STRANGER",
    "meterStart": 0,
    "timestamp": "2026-01-01T10:00:00Z",
}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    """An upstream that answers on tags only once told (`release`)."""
    async with fake_upstream() as server:
        server.held.add("Authorize")
        yield server


async def forwarded(start_system: StartSystem, upstream: FakeUpstream, tmp_path: Path) -> Running:
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
    )
    return ours


async def start_and_drop(ours: Running, upstream: FakeUpstream) -> None:
    """Boot, start with a tag only the upstream knows, and drop before our answer."""
    async with connect(f"{ours.url}/CP-1", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, ours, "CP-1")
        assert (await charger.result("BootNotification", BOOT))["status"] == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        await websocket.send(json.dumps([2, "start-1", "StartTransaction", START]))
        await wait_for(lambda: upstream.of("Authorize"))
    # Closed (the handshake is done): our answer can only fail now.
    await upstream.release()


async def test_a_charger_gone_while_its_answer_waits_is_let_go(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """Its connection ends; what waited to talk to it does not ask again and again.

    The local-list sync's command ended OFFLINE on the dead connection, which stayed
    registered until it had a turn to end: asking again at once held the loop for good.
    """
    ours = await forwarded(start_system, upstream, tmp_path)
    lists = ours.system.local_lists
    assert lists is not None
    execute, asked = lists.execute, []

    async def counted(charger_id: str, command: Command) -> CommandResult:
        asked.append(type(command).__name__)
        if len(asked) > 100:
            raise RuntimeError("asked again and again")  # ends the sync: fail, not hang
        return await execute(charger_id, command)

    lists.execute = counted
    await start_and_drop(ours, upstream)
    await wait_for(lambda: not ours.system.stations["CP-1"].connected)
    await wait_for(lambda: not lists._running)
    assert asked == ["GetLocalListVersion"]
