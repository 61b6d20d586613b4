"""The OCPP-J layer: bad frames get the right CALLERROR, calls always end typed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from custom_components.ocpp_csms.csms.adapter import StationAdapter
from custom_components.ocpp_csms.csms.commands import CommandStatus
from custom_components.ocpp_csms.csms.ocpp16 import Ocpp16Adapter
from custom_components.ocpp_csms.csms.rpc_types import OutcomeStatus
from custom_components.ocpp_csms.csms.schemas import VersionSchemas
from tests.chargers import PATIENCE_S, wait_for
from tests.engine.conftest import Running, StartSystem

BOOT_16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_2X = {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}


@asynccontextmanager
async def raw_charger(
    running: Running, version: str = "ocpp1.6", charger_id: str = "CP-1"
) -> AsyncIterator[ClientConnection]:
    """A known charger that speaks raw frames."""
    running.directory.admit(charger_id)
    async with connect(f"{running.url}/{charger_id}", subprotocols=[version]) as ws:  # type: ignore[list-item]
        await wait_for(lambda: running.system.connection(charger_id) is not None)
        yield ws


async def exchange(ws: ClientConnection, frame: str | bytes) -> list[Any]:
    """Send a frame and return the decoded answer."""
    await ws.send(frame)
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), PATIENCE_S))
    return answer


def session(running: Running, charger_id: str = "CP-1") -> StationAdapter:
    found = running.system.connection(charger_id)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("version", "framing", "occurrence", "message_type"),
    [
        ("ocpp1.6", "FormationViolation", "OccurenceConstraintViolation", "FormationViolation"),
        (
            "ocpp2.0.1",
            "RpcFrameworkError",
            "OccurrenceConstraintViolation",
            "MessageTypeNotSupported",
        ),
        ("ocpp2.1", "RpcFrameworkError", "OccurrenceConstraintViolation", None),
    ],
)
async def test_malformed_frames_get_the_versions_callerror(
    start_system: StartSystem,
    version: str,
    framing: str,
    occurrence: str,
    message_type: str | None,
) -> None:
    """Every kind of broken frame is answered, and the connection survives them all."""
    running = await start_system()
    boot = BOOT_16 if version == "ocpp1.6" else BOOT_2X
    async with raw_charger(running, version) as ws:
        assert await exchange(ws, "this is not json") == [
            4,
            "-1",
            framing,
            "Frame is not valid JSON",
            {},
        ]
        assert (await exchange(ws, '{"a": 1}'))[:3] == [4, "-1", framing]
        assert (await exchange(ws, b"\xff\xfe"))[:3] == [4, "-1", framing]
        if message_type is not None:
            assert (await exchange(ws, '[7, "u1", "x", {}]'))[:3] == [4, "u1", message_type]
        else:
            # 2.1: types 5 (CALLRESULTERROR) and 6 (SEND) are never answered; others are.
            await ws.send('[6, "s1", "NotifyPeriodicEventStream", {}]')
            await ws.send('[5, "s2", "GenericError", "", {}]')
            assert (await exchange(ws, '[7, "u1", "x", {}]'))[:3] == [
                4,
                "u1",
                "MessageTypeNotSupported",
            ]
        assert (await exchange(ws, '[2, "u2", "Heartbeat"]'))[:3] == [4, "u2", framing]
        assert (await exchange(ws, '[2, "u3", "Heartbeat", []]'))[:3] == [4, "u3", framing]

        broken_boot = {**boot}
        broken_boot.pop("chargePointModel" if version == "ocpp1.6" else "reason")
        answer = await exchange(ws, json.dumps([2, "u4", "BootNotification", broken_boot]))
        assert answer[:3] == [4, "u4", occurrence]
        assert answer[4]["keyword"] == "required"

        answer = await exchange(ws, json.dumps([2, "u5", "NoSuchAction", {}]))
        assert answer[:3] == [4, "u5", "NotImplemented"]
        # A real action, but one the central system receives from nobody.
        answer = await exchange(ws, json.dumps([2, "u6", "Reset", {"type": "Hard"}]))
        assert answer[:3] == [4, "u6", "NotSupported"]

        # Still alive: a good boot is answered normally.
        answer = await exchange(ws, json.dumps([2, "u7", "BootNotification", boot]))
        assert answer[:2] == [3, "u7"]
        assert answer[2]["status"] == "Accepted"


async def test_a_refused_call_has_its_schema_errors_computed_once(
    start_system: StartSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jsonschema's detailed errors are the dearest part of a refused frame."""
    computed: list[str] = []
    request_errors = VersionSchemas.request_errors

    def counting(self: VersionSchemas, action: str, payload: Any) -> list[Any]:
        computed.append(action)
        return request_errors(self, action, payload)

    monkeypatch.setattr(VersionSchemas, "request_errors", counting)
    running = await start_system()
    async with raw_charger(running) as ws:
        await exchange(ws, json.dumps([2, "b", "BootNotification", BOOT_16]))
        computed.clear()
        # A missing field and an unknown one: no quirk explains the first.
        start = {"connectorId": 1, "idTag": "T", "extra": 1}
        answer = await exchange(ws, json.dumps([2, "s", "StartTransaction", start]))
    assert answer[:3] == [4, "s", "FormationViolation"]  # the unknown field, named first
    assert computed == ["StartTransaction"]


async def test_handler_crash_is_an_internal_error(
    start_system: StartSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a handler answers InternalError instead of killing the connection."""

    def broken(self: Ocpp16Adapter, payload: dict[str, Any]) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(Ocpp16Adapter, "_on_heartbeat", broken)
    running = await start_system()
    async with raw_charger(running) as ws:
        answer = await exchange(ws, '[2, "h1", "Heartbeat", {}]')
        assert answer[:3] == [4, "h1", "InternalError"]
        answer = await exchange(ws, json.dumps([2, "b1", "BootNotification", BOOT_16]))
        assert answer[0] == 3


async def test_call_times_out_typed(start_system: StartSystem) -> None:
    """A charger that never answers: the command ends as timed out, bounded."""
    running = await start_system(call_timeout=0.2)
    async with raw_charger(running):
        result = await session(running).request_boot_notification()
        assert result.status is CommandStatus.TIMED_OUT


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ([3, "{id}", {"status": "Accepted"}], CommandStatus.ACCEPTED),
        ([3, "{id}", {"status": "Rejected"}], CommandStatus.REJECTED),
        ([3, "{id}", {"status": "NotImplemented"}], CommandStatus.NOT_SUPPORTED),
        ([4, "{id}", "NotImplemented", "no", {}], CommandStatus.NOT_SUPPORTED),
        ([4, "{id}", "NotSupported", "no", {}], CommandStatus.NOT_SUPPORTED),
        ([4, "{id}", "InternalError", "oops", {}], CommandStatus.FAILED),
    ],
)
async def test_answers_map_to_typed_results(
    start_system: StartSystem, answer: list[Any], expected: CommandStatus
) -> None:
    """Results, refusals and CALLERRORs each become their own status."""
    running = await start_system()
    async with raw_charger(running) as ws:
        command = asyncio.create_task(session(running).request_boot_notification())
        call = json.loads(await ws.recv())
        assert call[0] == 2
        assert call[2:] == ["TriggerMessage", {"requestedMessage": "BootNotification"}]
        # An answer to some other call is ignored; the real one still counts.
        await ws.send(json.dumps([3, "not-this-one", {"status": "Accepted"}]))
        await ws.send(json.dumps(answer).replace("{id}", call[1]))
        result = await command
        assert result.status is expected


async def test_offline_calls_end_offline(start_system: StartSystem) -> None:
    """A call in flight when the charger drops, or made after, ends as offline."""
    running = await start_system()
    async with raw_charger(running) as ws:
        adapter = session(running)
        command = asyncio.create_task(adapter.request_boot_notification())
        await ws.recv()
        await ws.close()
        assert (await command).status is CommandStatus.OFFLINE
    await wait_for(lambda: running.system.connection("CP-1") is None)
    assert (await adapter.request_boot_notification()).status is CommandStatus.OFFLINE
    outcome = await adapter.rpc.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert outcome.status is OutcomeStatus.OFFLINE


async def test_one_call_in_flight(start_system: StartSystem) -> None:
    """A second call waits until the first is answered."""
    running = await start_system()
    async with raw_charger(running) as ws:
        adapter = session(running)
        first = asyncio.create_task(adapter.request_boot_notification())
        second = asyncio.create_task(adapter.request_boot_notification())
        call_one = json.loads(await ws.recv())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
        await ws.send(json.dumps([3, call_one[1], {"status": "Accepted"}]))
        call_two = json.loads(await ws.recv())
        assert call_two[1] != call_one[1]
        await ws.send(json.dumps([3, call_two[1], {"status": "Rejected"}]))
        assert (await first).status is CommandStatus.ACCEPTED
        assert (await second).status is CommandStatus.REJECTED


async def test_slow_charger_does_not_stall_another(start_system: StartSystem) -> None:
    """While one charger leaves a call unanswered, another is served at once."""
    running = await start_system(call_timeout=5)
    async with (
        raw_charger(running, charger_id="SLOW") as slow,
        raw_charger(running, charger_id="FAST") as fast,
    ):
        stuck = asyncio.create_task(session(running, "SLOW").request_boot_notification())
        await slow.recv()  # the call arrives and is never answered
        answer = await exchange(fast, json.dumps([2, "f1", "BootNotification", BOOT_16]))
        assert answer[2]["status"] == "Accepted"
        assert not stuck.done()
        stuck.cancel()


class _QueuedFrames:
    """A socket whose frames have all arrived already (iterating never suspends)."""

    def __init__(self, frames: list[str], handled: list[str], name: str) -> None:
        self._frames = frames
        self._handled = handled
        self._name = name

    async def send(self, message: str) -> None:
        self._handled.append(self._name)

    def __aiter__(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        for frame in self._frames:
            yield frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


class NoHandlers:
    """A dispatcher that handles nothing."""

    def handler_for(self, action: str) -> None:
        return None

    def accept_quirks(self, action: str, quirks: list[str]) -> None:
        pass

    def refused(self, action: str, kind: str) -> None:
        pass


async def test_a_charger_sending_many_frames_at_once_does_not_hold_the_loop() -> None:
    """Each connection yields after each frame: a pipelining charger gets no priority."""
    from custom_components.ocpp_csms.csms.rpc import RpcConnection
    from custom_components.ocpp_csms.csms.schemas import load_all
    from custom_components.ocpp_csms.csms.station import OcppVersion

    schemas = (await asyncio.to_thread(load_all))[OcppVersion.V16]

    handled: list[str] = []
    flood = _QueuedFrames(['[2, "x", "Heartbeat", {}]'] * 200, handled, "flood")
    calm = _QueuedFrames(['[2, "y", "Heartbeat", {}]'] * 2, handled, "calm")
    connections = [
        RpcConnection(socket, schemas, NoHandlers(), label=name, call_timeout=1.0)
        for socket, name in ((flood, "flood"), (calm, "calm"))
    ]
    await asyncio.gather(*(connection.serve() for connection in connections))
    # The calm charger's two frames were answered among the flood's first few.
    assert handled.index("calm") < 5
    assert handled[:6].count("calm") == 2


async def test_a_flood_of_answers_to_nothing_does_not_hold_the_loop_either() -> None:
    """Only the answer to our call in flight goes on without a turn for the others."""
    from custom_components.ocpp_csms.csms.rpc import RpcConnection
    from custom_components.ocpp_csms.csms.schemas import load_all
    from custom_components.ocpp_csms.csms.station import OcppVersion

    schemas = (await asyncio.to_thread(load_all))[OcppVersion.V16]

    handled: list[str] = []
    answers = ['[3, "not-ours", {}]'] * 200 + ['[2, "x", "Heartbeat", {}]']
    flood = _QueuedFrames(answers, handled, "flood")
    calm = _QueuedFrames(['[2, "y", "Heartbeat", {}]'] * 2, handled, "calm")
    connections = [
        RpcConnection(socket, schemas, NoHandlers(), label=name, call_timeout=1.0)
        for socket, name in ((flood, "flood"), (calm, "calm"))
    ]
    await asyncio.gather(*(connection.serve() for connection in connections))
    assert handled == ["calm", "calm", "flood"]


async def test_a_call_on_a_closed_connection_gives_the_loop_a_turn() -> None:
    """OFFLINE on a closed connection comes after a turn of the loop, never at once.

    A caller that asks again whenever it hears OFFLINE (while the connection is not yet
    unregistered) would otherwise hold the loop, and the connection never finished
    closing (issue 24's review, finding 1).
    """
    from custom_components.ocpp_csms.csms.rpc import RpcConnection
    from custom_components.ocpp_csms.csms.schemas import load_all
    from custom_components.ocpp_csms.csms.station import OcppVersion

    schemas = (await asyncio.to_thread(load_all))[OcppVersion.V16]
    connection = RpcConnection(
        _QueuedFrames([], [], "gone"), schemas, NoHandlers(), label="gone", call_timeout=1.0
    )
    await connection.close()
    turns: list[str] = []
    asyncio.get_running_loop().call_soon(turns.append, "call")
    outcome = await connection.call("Heartbeat", {})
    assert outcome.status is OutcomeStatus.OFFLINE
    assert turns == ["call"]
    asyncio.get_running_loop().call_soon(turns.append, "start_call")
    started = await connection.start_call("Heartbeat", {})
    assert (await started).status is OutcomeStatus.OFFLINE
    assert turns == ["call", "start_call"]
