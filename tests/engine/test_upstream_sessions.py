"""Sessions as the upstream is told of them, and its word on them (review of issue 24).

Item 7: a start the charger sends again is relayed once; ConcurrentTx is no refusal.
Item 12: whose session it is depends on its start tag, not on a later event's token.
Against the minimal OCPP-J server of `fake_upstream`, with exact charger frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from custom_components.ocpp_csms.csms.events import TransactionEnded, TransactionStarted
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from tests.chargers import charger, wait_for
from tests.engine.conftest import ConnectRaw, StartSystem
from tests.engine.fake_upstream import FakeUpstream, fake_upstream
from tests.engine.forwarding import asks_upstream, forwarding, received, registry, status

_START = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


async def test_a_start_the_charger_sends_again_is_relayed_once(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, raw_charger: ConnectRaw
) -> None:
    ours, _ = await forwarding(
        start_system, upstream.url, tmp_path, policy=CommandPolicy.MIRROR_ONLY
    )
    client = await raw_charger(running=ours)
    await wait_for(lambda: upstream.of("BootNotification"))
    first = await client.result("StartTransaction", _START)
    again = await client.result("StartTransaction", _START)  # it missed our answer
    assert again["transactionId"] == first["transactionId"]
    stop = {"transactionId": first["transactionId"], "meterStop": 10}
    await client.result("StopTransaction", stop | {"timestamp": "2026-01-01T01:00:00Z"})
    await wait_for(lambda: upstream.of("StopTransaction"))
    assert len(upstream.of("StartTransaction")) == 1
    # The stop names the one id the upstream gave.
    assert [sent["transactionId"] for sent in upstream.of("StopTransaction")] == [9001]


async def test_concurrent_tx_in_the_answer_to_a_start_does_not_stop_the_session(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """The upstream accepted the tag, then thinks it busy: no refusal of the session."""
    upstream.replies["StartTransaction"] = {
        "transactionId": 77,
        "idTagInfo": {"status": "ConcurrentTx"},
    }
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
    )
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        await client.start_session(id_tag="EMPLOYER")
        await wait_for(lambda: upstream.of("StartTransaction") and status(ours).queued == 0)
        assert await client.heartbeat()
        await wait_for(lambda: upstream.of("Heartbeat"))
        assert "RemoteStopTransaction" not in received(client)
    [started] = ours.recorder.of_type(TransactionStarted, "CP-1")
    assert started.transaction.authorized
    assert not ours.recorder.of_type(TransactionEnded, "CP-1")


def _event(event_type: str, seq_no: int, tag: str) -> dict[str, object]:
    return {
        "eventType": event_type,
        "timestamp": f"2026-01-01T00:0{seq_no}:00Z",
        "triggerReason": "Authorized",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-1"},
        "idToken": {"idToken": tag, "type": "ISO14443"},
        "evse": {"id": 1, "connectorId": 1},
    }


async def test_a_refused_token_in_a_later_event_does_not_stop_a_session_started_with_ours(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, raw_charger: ConnectRaw
) -> None:
    upstream.replies["TransactionEvent"] = {"idTokenInfo": {"status": "Invalid"}}
    upstream.replies["Authorize"] = {"idTokenInfo": {"status": "Accepted"}}
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        version=OcppVersion.V201,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
    )
    client = await raw_charger("ocpp2.0.1", running=ours)
    await wait_for(lambda: upstream.of("BootNotification"))
    await client.result("TransactionEvent", _event("Started", 1, "HOME"))
    # Another token shown during the session, which only the upstream could know.
    await client.result("TransactionEvent", _event("Updated", 2, "VISITOR"))
    await wait_for(lambda: len(upstream.of("TransactionEvent")) == 2 and status(ours).queued == 0)
    await client.result("Heartbeat", {})
    await wait_for(lambda: upstream.of("Heartbeat"))
    # A stop would have been sent by now; the charger reads it with its next answer.
    await client.result("Heartbeat", {})
    assert "RequestStopTransaction" not in [frame[2] for frame in client._calls]
    transaction = client.station.transaction("tx-1")
    assert transaction is not None
    assert transaction.active
    assert not ours.recorder.of_type(TransactionEnded, "CP-1")
