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
from typing import Any

import pytest
from websockets.asyncio.client import connect

from custom_components.ocpp_csms.csms.adapter import RepeatedAnswer
from custom_components.ocpp_csms.csms.commands import Command, CommandResult
from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from custom_components.ocpp_csms.csms.upstreams import MAX_RELAYED_STARTS, Upstreams
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


async def test_a_start_whose_answer_was_lost_is_forwarded_when_sent_again(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours = await forwarded(start_system, upstream, tmp_path)
    await start_and_drop(ours, upstream)
    await wait_for(lambda: not ours.system.stations["CP-1"].connected)
    async with connect(f"{ours.url}/CP-1", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, ours, "CP-1")
        first = await charger.result("StartTransaction", START)  # the charger sends it again
        await charger.result("Heartbeat", {})
    await wait_for(lambda: upstream.of("Heartbeat"))
    assert ours.system.stations["CP-1"].warnings["repeated_start_transaction"] == 1
    assert upstream.of("StartTransaction") == [START]
    # The upstream heard of it once, however often the charger repeats it.
    async with connect(f"{ours.url}/CP-1", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, ours, "CP-1")
        assert await charger.result("StartTransaction", START) == first
        await charger.result("Heartbeat", {})
    await wait_for(lambda: len(upstream.of("Heartbeat")) == 2)
    assert upstream.of("StartTransaction") == [START]


async def test_the_record_of_relayed_starts_is_bounded() -> None:
    async def no_schemas() -> dict[Any, Any]:
        return {}

    upstreams = Upstreams(no_schemas, call_timeout=1.0)
    for transaction_id in range(MAX_RELAYED_STARTS + 10):
        upstreams._relayed("CP-1", {"transactionId": transaction_id})
    assert len(upstreams._relayed_starts["CP-1"]) == MAX_RELAYED_STARTS
    assert upstreams._relayed_before("CP-1", RepeatedAnswer({"transactionId": 10}))
    assert not upstreams._relayed_before("CP-1", RepeatedAnswer({"transactionId": 9}))
    await upstreams.set("CP-1", None)  # no upstream any more: nothing kept
    assert "CP-1" not in upstreams._relayed_starts
    await upstreams.stop()
