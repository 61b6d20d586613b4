"""Forwarding to a second central system (issue 24): mirrored, queued, never obeyed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.commands import (
    CommandStatus,
    GetConfiguration,
    RemoteStart,
    Reset,
    SetConfiguration,
)
from custom_components.ocpp_csms.csms.events import TransactionEnded
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import (
    UpstreamSettings,
    UpstreamState,
    UpstreamStatus,
)
from tests.chargers import charger, wait_for
from tests.engine.conftest import Running, StartSystem
from tests.engine.fake_upstream import FakeUpstream, fake_upstream


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


async def forwarding(
    start_system: StartSystem,
    url: str,
    tmp_path: Path,
    version: OcppVersion = OcppVersion.V16,
    password: str | None = None,
) -> Running:
    """Our central system with CP-1 admitted and forwarded to `url` as UP-1."""
    ours = await start_system()
    ours.directory.admit("CP-1")
    await ours.system.set_upstream(
        "CP-1",
        UpstreamSettings(url, "UP-1", version, password=password),
        queue_path=tmp_path / "upstream-CP-1.db",
    )
    return ours


def status(running: Running) -> UpstreamStatus:
    found = running.system.upstreams.status("CP-1")
    assert found is not None
    return found


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201])
async def test_a_session_is_mirrored_upstream_with_the_same_energy(
    start_system: StartSystem, tmp_path: Path, version: OcppVersion
) -> None:
    """Our own engine as the upstream: it sees the session end with the same energy."""
    theirs = await start_system()
    theirs.directory.admit("UP-1")
    ours = await forwarding(start_system, theirs.url, tmp_path, version)
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        await client.start_session()
        for _ in range(3):
            await client.send_meter_values(seconds=600)
        await client.stop_session()
        await wait_for(lambda: theirs.recorder.of_type(TransactionEnded, "UP-1"))
    [mine] = ours.recorder.of_type(TransactionEnded, "CP-1")
    [mirrored] = theirs.recorder.of_type(TransactionEnded, "UP-1")
    assert mine.transaction.energy_wh is not None
    assert mine.transaction.energy_wh > 1000
    assert mirrored.transaction.energy_wh == mine.transaction.energy_wh
    assert theirs.system.stations["UP-1"].boot == ours.system.stations["CP-1"].boot
    assert status(ours).connected
    assert status(ours).queued == 0


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201])
async def test_upstream_commands_never_reach_the_charger_under_mirror_only(
    start_system: StartSystem, tmp_path: Path, version: OcppVersion
) -> None:
    """Rejected where the answer has a status, NotSupported otherwise; all counted."""
    theirs = await start_system()
    theirs.directory.admit("UP-1")
    ours = await forwarding(start_system, theirs.url, tmp_path, version)
    heartbeat_key = "OCPPCommCtrlr/HeartbeatInterval" if version.is_2x else "HeartbeatInterval"
    # 2.x SetVariables answers a result per variable, not a status.
    set_status = CommandStatus.NOT_SUPPORTED if version.is_2x else CommandStatus.REJECTED
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: theirs.system.connection("UP-1") is not None)
        results = [
            await theirs.system.execute("UP-1", command)
            for command in (
                RemoteStart("SIMTAG", evse_id=1),
                Reset(hard=True),
                SetConfiguration(heartbeat_key, "10"),
                GetConfiguration((heartbeat_key,)),
            )
        ]
        assert [result.status for result in results] == [
            CommandStatus.REJECTED,
            CommandStatus.REJECTED,
            set_status,
            CommandStatus.NOT_SUPPORTED,
        ]
        assert await client.heartbeat()
        assert client.received == []
    assert status(ours).commands_refused == 4


async def test_an_outage_queues_and_replays_in_order_with_the_upstreams_ids(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """One session spans the outage, another starts and ends in it: nothing lost or twice."""
    ours = await forwarding(start_system, upstream.url, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session(connector=1)
        await wait_for(lambda: upstream.of("StartTransaction"))
        await upstream.go_down()
        await wait_for(lambda: not status(ours).connected)
        await client.send_meter_values(connector=1, seconds=600)
        await client.stop_session(connector=1)
        await client.start_session(connector=1)
        await client.send_meter_values(connector=1, seconds=600)
        await client.heartbeat()
        await client.stop_session(connector=1)
        assert status(ours).queued >= 6
        upstream.down = False
        await wait_for(lambda: len(upstream.of("StopTransaction")) == 2)
        await wait_for(lambda: status(ours).queued == 0)
    sessions = upstream.actions("StartTransaction", "MeterValues", "StopTransaction")
    assert sessions == ["StartTransaction", "MeterValues", "StopTransaction"] * 2
    ids = [payload.get("transactionId") for payload in _session_payloads(upstream)]
    assert ids == [None, 9001, 9001, None, 9002, 9002]
    # The boot came again first on the new connection, before the queued messages.
    assert upstream.actions().index("BootNotification", 1) < upstream.actions().index("MeterValues")
    meter_stops = [payload["meterStop"] for payload in upstream.of("StopTransaction")]
    assert meter_stops == sorted(meter_stops)
    assert meter_stops[0] > 0


def _session_payloads(upstream: FakeUpstream) -> list[dict[str, Any]]:
    wanted = ("StartTransaction", "MeterValues", "StopTransaction")
    return [payload for _, action, payload in upstream.calls if action in wanted]


async def test_transactions_wait_in_the_file_across_a_restart(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """A link stopped with a queue takes it up again, ids and all."""
    ours = await forwarding(start_system, upstream.url, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session()
        await wait_for(lambda: upstream.of("StartTransaction"))
        await upstream.go_down()
        await wait_for(lambda: not status(ours).connected)
        await client.send_meter_values(seconds=600)
        await client.stop_session()
        await ours.system.set_upstream("CP-1", None)
        upstream.down = False
        settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
        await ours.system.set_upstream("CP-1", settings, queue_path=tmp_path / "upstream-CP-1.db")
        await wait_for(lambda: upstream.of("StopTransaction"))
    assert [payload.get("transactionId") for payload in _session_payloads(upstream)] == [
        None,
        9001,
        9001,
    ]


async def test_refused_credentials_are_a_state_of_their_own(
    start_system: StartSystem, tmp_path: Path
) -> None:
    async with fake_upstream(password="right") as server:
        ours = await forwarding(start_system, server.url, tmp_path, password="wrong")
        await wait_for(lambda: status(ours).state is UpstreamState.CREDENTIALS_REFUSED)
        assert status(ours).last_error == "HTTP 401"
        assert not status(ours).connected
        await ours.system.set_upstream(
            "CP-1",
            UpstreamSettings(server.url, "UP-1", OcppVersion.V16, password="right"),
            queue_path=tmp_path / "upstream-CP-1.db",
        )
        await wait_for(lambda: status(ours).connected)


async def test_a_flood_of_upstream_commands_is_answered_and_changes_nothing(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours = await forwarding(start_system, upstream.url, tmp_path)
    commands: list[tuple[str, dict[str, Any]]] = [
        ("RemoteStartTransaction", {"idTag": "EVIL"}),
        ("Reset", {"type": "Hard"}),
        ("ChangeConfiguration", {"key": "AuthorizeRemoteTxRequests", "value": "false"}),
        ("GetConfiguration", {}),
        ("UpdateFirmware", {"location": "http://x/", "retrieveDate": "2026-01-01T00:00:00Z"}),
        ("Explode", {}),
    ]
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification"))
        answers = await upstream.send_calls(commands * 100)
        assert await client.heartbeat()
        await wait_for(lambda: upstream.of("Heartbeat"))
        assert client.received == []
    kinds = {
        (answer[0], answer[2] if answer[0] == 4 else answer[2]["status"]) for answer in answers
    }
    assert kinds == {(3, "Rejected"), (4, "NotSupported"), (4, "NotImplemented")}
    assert status(ours).commands_refused == 500
    assert status(ours).connected


async def test_what_comes_while_the_link_is_replaced_is_relayed_by_the_new_one(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours = await forwarding(start_system, upstream.url, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        connection = ours.system.connection("CP-1")
        assert connection is not None
        hook = connection.rpc.on_answered
        assert hook is not None
        settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
        replacing = asyncio.create_task(
            ours.system.set_upstream("CP-1", settings, queue_path=tmp_path / "upstream-CP-1.db")
        )
        await asyncio.sleep(0)  # the old link is gone, the new one not yet started
        assert ours.system.upstreams.status("CP-1") is None
        # (Not a StopTransaction: one of a session the upstream never saw start is set aside.)
        held = {"idTag": "HELD"}
        hook("Authorize", held, {"idTagInfo": {"status": "Accepted"}})
        await replacing
        await wait_for(lambda: upstream.of("Authorize"))
    assert upstream.of("Authorize") == [held]


async def test_a_removal_racing_a_start_leaves_no_link_running(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """The charger's removal while its link starts: ended after the start, not lost."""
    ours = await start_system()
    settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
    starting = asyncio.create_task(
        ours.system.set_upstream("CP-1", settings, queue_path=tmp_path / "upstream-CP-1.db")
    )
    await asyncio.sleep(0)  # the start is under way, awaiting its queue
    await ours.system.upstreams.set("CP-1", None)
    await starting
    assert ours.system.upstreams.status("CP-1") is None
    await wait_for(lambda: not upstream.connected)


async def test_no_link_starts_once_the_central_system_stopped(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours = await start_system()
    await ours.system.stop()
    settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
    await ours.system.set_upstream("CP-1", settings, queue_path=tmp_path / "upstream-CP-1.db")
    assert ours.system.upstreams.status("CP-1") is None
