"""What an upstream may have the charger do, per command policy (issue 24).

Against a real second central system: our own engine in another server, or the
minimal OCPP-J server of `fake_upstream` where a test needs exact frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.commands import (
    CommandStatus,
    GetConfiguration,
    RemoteStart,
    RemoteStop,
    Reset,
    SetConfiguration,
    UpdateFirmware,
)
from custom_components.ocpp_csms.csms.events import TransactionEnded, TransactionStarted
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_policy import CommandOutcome, UpstreamCommand
from custom_components.ocpp_csms.csms.upstream_settings import (
    DEFAULT_ALLOWED_COMMANDS,
    CommandPolicy,
)
from tests.chargers import charger, wait_for
from tests.engine.conftest import ConnectRaw, StartSystem
from tests.engine.fake_upstream import FakeUpstream, fake_upstream
from tests.engine.forwarding import (
    VERSIONS,
    forwarding,
    our_engine_upstream,
    outcomes,
    received,
    registry,
    status,
)

# What changes a charger: none of it may reach one unless the allow-list says so.
_CHANGING = {"Reset", "ChangeConfiguration", "SetVariables", "UpdateFirmware"}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


# -- MIRROR_ONLY -----------------------------------------------------------------------


async def test_mirror_only_refuses_every_command_and_reports_each(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours, reported = await forwarding(
        start_system, upstream.url, tmp_path, policy=CommandPolicy.MIRROR_ONLY
    )
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification"))
        start = await upstream.send_call("RemoteStartTransaction", {"idTag": "T"})
        read = await upstream.send_call("GetConfiguration", {})
        assert start[0] == 3
        assert start[2] == {"status": "Rejected"}
        assert read[:3] == [4, read[1], "NotSupported"]
        assert await client.heartbeat()
        assert received(client) == []
    assert outcomes(reported, "RemoteStartTransaction", "GetConfiguration") == [
        ("RemoteStartTransaction", False, CommandOutcome.REFUSED),
        ("GetConfiguration", False, CommandOutcome.REFUSED),
    ]
    assert [command.detail for command in reported] == ["Rejected", "NotSupported"]
    assert status(ours).commands_refused == 2


# -- SESSIONS_AND_AUTH -----------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_sessions_and_auth_passes_remote_start_and_stop_and_refuses_reset(
    start_system: StartSystem, tmp_path: Path, version: OcppVersion
) -> None:
    """The upstream starts a session with its own tag, which only it knows, and stops it."""
    theirs = await our_engine_upstream(start_system, "EMPLOYER")
    ours, reported = await forwarding(
        start_system,
        theirs.url,
        tmp_path,
        version=version,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
    )
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: theirs.system.connection("UP-1") is not None)
        started = await theirs.system.execute("UP-1", RemoteStart("EMPLOYER", evse_id=1))
        assert started.accepted
        await wait_for(lambda: theirs.recorder.of_type(TransactionStarted, "UP-1"))
        # The charger took in our answer to its start (it knows its transaction id): a
        # stop that overtook it would be refused, by a real charger too.
        await wait_for(lambda: 1 in client.transactions)
        [mine] = ours.recorder.of_type(TransactionStarted, "CP-1")
        # We do not know the tag; the upstream does, and its word counted.
        assert mine.transaction.id_tag == "EMPLOYER"
        assert mine.transaction.authorized
        [mirrored] = theirs.recorder.of_type(TransactionStarted, "UP-1")
        stopped = await theirs.system.execute("UP-1", RemoteStop(mirrored.transaction.id))
        assert stopped.accepted
        await wait_for(lambda: ours.recorder.of_type(TransactionEnded, "CP-1"))
        reset = await theirs.system.execute("UP-1", Reset(hard=True))
        assert reset.status is CommandStatus.REJECTED
        assert await client.heartbeat()
        assert "Reset" not in received(client)
    start_action, stop_action = (
        ("RequestStartTransaction", "RequestStopTransaction")
        if version.is_2x
        else ("RemoteStartTransaction", "RemoteStopTransaction")
    )
    assert outcomes(reported, start_action, stop_action, "Reset") == [
        (start_action, True, CommandOutcome.FORWARDED),
        (stop_action, True, CommandOutcome.FORWARDED),
        ("Reset", False, CommandOutcome.REFUSED),
    ]


# -- FULL ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_full_passes_reads_and_refuses_what_changes_the_charger(
    start_system: StartSystem, tmp_path: Path, version: OcppVersion
) -> None:
    theirs = await our_engine_upstream(start_system)
    ours, reported = await forwarding(start_system, theirs.url, tmp_path, version=version)
    key = "LocalAuthListCtrlr/Entries" if version.is_2x else "LocalAuthListMaxLength"
    read_action = "GetVariables" if version.is_2x else "GetConfiguration"
    set_action = "SetVariables" if version.is_2x else "ChangeConfiguration"
    firmware = UpdateFirmware("http://127.0.0.1/fw.bin", datetime(2026, 1, 1, tzinfo=UTC))
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: theirs.system.connection("UP-1") is not None)
        read = await theirs.system.execute("UP-1", GetConfiguration((key,)))
        assert read.accepted
        # The charger's own answer reached the upstream.
        assert theirs.system.stations["UP-1"].configuration[key] == "100"
        for command in (Reset(hard=True), SetConfiguration(key, "5"), firmware):
            result = await theirs.system.execute("UP-1", command)
            assert not result.accepted
        assert await client.heartbeat()
        assert client.configuration[key] == "100"
        assert not set(received(client)) & _CHANGING
        assert read_action in received(client)
    assert outcomes(reported, read_action, "Reset", set_action, "UpdateFirmware") == [
        (read_action, True, CommandOutcome.FORWARDED),
        ("Reset", False, CommandOutcome.REFUSED),
        (set_action, False, CommandOutcome.REFUSED),
        ("UpdateFirmware", False, CommandOutcome.REFUSED),
    ]


@pytest.mark.parametrize("version", VERSIONS)
async def test_full_passes_reset_when_the_allow_list_names_it(
    start_system: StartSystem, tmp_path: Path, version: OcppVersion
) -> None:
    theirs = await our_engine_upstream(start_system)
    ours, reported = await forwarding(
        start_system,
        theirs.url,
        tmp_path,
        version=version,
        allowed=DEFAULT_ALLOWED_COMMANDS | {"Reset"},
    )
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: theirs.system.connection("UP-1") is not None)
        reset = await theirs.system.execute("UP-1", Reset(hard=True))
        assert reset.accepted
        assert "Reset" in received(client)
        # The charger reboots, as a reset makes it.
        await wait_for(lambda: len(client.boot_statuses) == 2)
    assert outcomes(reported, "Reset") == [("Reset", True, CommandOutcome.FORWARDED)]
    assert reported[-1].detail == "Accepted"


async def test_a_flood_cannot_change_what_the_policy_forbids(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """500 Resets and configuration changes under FULL: all refused, the charger untouched."""
    ours, reported = await forwarding(start_system, upstream.url, tmp_path)
    flood: list[tuple[str, dict[str, Any]]] = [
        ("Reset", {"type": "Hard"}),
        ("ChangeConfiguration", {"key": "AuthorizeRemoteTxRequests", "value": "false"}),
    ]
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification"))
        answers = await upstream.send_calls(flood * 250)
        assert await client.heartbeat()
        await wait_for(lambda: upstream.of("Heartbeat"))
        assert received(client) == []
        assert "AuthorizeRemoteTxRequests" not in client.configuration
    assert {(answer[0], answer[2]["status"]) for answer in answers} == {(3, "Rejected")}
    assert status(ours).commands_refused == 500
    assert status(ours).connected
    # Reported, but not one by one: a bounded number a minute.
    assert 0 < len(reported) <= 20
    assert all(not command.allowed for command in reported)


async def test_one_command_at_a_time_reaches_the_charger_the_rest_are_busy(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, raw_charger: ConnectRaw
) -> None:
    """While the charger holds one command, the upstream's next ones are answered busy."""
    ours, reported = await forwarding(start_system, upstream.url, tmp_path)
    client = await raw_charger(running=ours)
    await wait_for(lambda: upstream.of("BootNotification"))
    ids = await upstream.post([("GetConfiguration", {"key": ["K"]})] * 100)
    unique_id, payload = await client.expect_call("GetConfiguration")
    assert payload == {"key": ["K"]}
    busy = await upstream.answers_to(ids[1:])
    assert {(answer[0], answer[2]) for answer in busy} == {(4, "GenericError")}
    # The charger's connection is as responsive as ever meanwhile.
    assert (await client.result("Heartbeat", {}))["currentTime"]
    await client.answer(unique_id, {"configurationKey": [], "unknownKey": ["K"]})
    [first] = await upstream.answers_to(ids[:1])
    assert first == [3, ids[0], {"configurationKey": [], "unknownKey": ["K"]}]
    assert outcomes(reported, "GetConfiguration")[0] == (
        "GetConfiguration",
        True,
        CommandOutcome.BUSY,
    )
    assert (
        reported.count(UpstreamCommand("CP-1", "GetConfiguration", True, CommandOutcome.FORWARDED))
        == 1
    )
    # The next command finds the charger free again.
    ids = await upstream.post([("GetConfiguration", {})])
    unique_id, _ = await client.expect_call("GetConfiguration")
    await client.answer(unique_id, {"configurationKey": []})
    [answer] = await upstream.answers_to(ids)
    assert answer[0] == 3


async def test_the_chargers_callerror_goes_back_to_the_upstream(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, raw_charger: ConnectRaw
) -> None:
    ours, reported = await forwarding(start_system, upstream.url, tmp_path)
    client = await raw_charger(running=ours)
    await wait_for(lambda: upstream.of("BootNotification"))
    ids = await upstream.post([("TriggerMessage", {"requestedMessage": "Heartbeat"})])
    unique_id, _ = await client.expect_call("TriggerMessage")
    await client.websocket.send(f'[4,"{unique_id}","NotImplemented","Not here",{{}}]')
    [answer] = await upstream.answers_to(ids)
    assert answer[2:4] == ["NotImplemented", "Not here"]
    assert reported[-1] == UpstreamCommand(
        "CP-1", "TriggerMessage", True, CommandOutcome.CHARGER_ERROR, "NotImplemented"
    )


async def test_a_command_for_a_charger_that_is_not_connected_is_a_generic_error(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours, reported = await forwarding(start_system, upstream.url, tmp_path)
    await wait_for(lambda: status(ours).connected)
    answer = await upstream.send_call("GetConfiguration", {})
    assert answer[2:4] == ["GenericError", "The charger is not connected"]
    assert reported == [UpstreamCommand("CP-1", "GetConfiguration", True, CommandOutcome.OFFLINE)]


async def test_a_remote_stop_with_the_upstreams_transaction_id_reaches_the_charger_with_ours(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours, reported = await forwarding(start_system, upstream.url, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        ours_id = await client.start_session()
        # The upstream answered the start with 9001: the link knows both ids.
        await wait_for(lambda: upstream.of("StartTransaction") and status(ours).queued == 0)
        unknown = await upstream.send_call("RemoteStopTransaction", {"transactionId": 4242})
        assert unknown[2] == {"status": "Rejected"}
        assert "RemoteStopTransaction" not in received(client)
        stop = await upstream.send_call("RemoteStopTransaction", {"transactionId": 9001})
        assert stop[2] == {"status": "Accepted"}
        await wait_for(lambda: ours.recorder.of_type(TransactionEnded, "CP-1"))
    assert client.received == [("RemoteStopTransaction", {"transaction_id": int(ours_id)})]
    assert outcomes(reported, "RemoteStopTransaction") == [
        ("RemoteStopTransaction", True, CommandOutcome.UNKNOWN_TRANSACTION),
        ("RemoteStopTransaction", True, CommandOutcome.FORWARDED),
    ]
