"""Fixtures for driving the engine with plain asyncio, without Home Assistant."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from custom_components.ocpp_csms.csms.authorization import Authorizer
from custom_components.ocpp_csms.csms.central_system import CentralSystem
from custom_components.ocpp_csms.csms.events import Event
from custom_components.ocpp_csms.csms.host import (
    FIRST_WORD_WAIT_S,
    AdmissionPolicy,
    CentralSystemSettings,
    ChargerRecord,
)
from custom_components.ocpp_csms.csms.metering_setup import MeterWish
from custom_components.ocpp_csms.csms.server import ServerSettings
from custom_components.ocpp_csms.csms.sessions import SessionJournal
from custom_components.ocpp_csms.csms.site_settings import ChargerLimits, SiteSettings
from custom_components.ocpp_csms.csms.station import Station
from tests.chargers import PATIENCE_S


@dataclass
class Directory:
    """An in-memory charger directory."""

    known: dict[str, ChargerRecord] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)

    def find(self, charger_id: str) -> ChargerRecord | None:
        return self.known.get(charger_id)

    def is_rejected(self, charger_id: str) -> bool:
        return charger_id in self.rejected

    def admit(self, charger_id: str, password_hash: str | None = None) -> None:
        self.known[charger_id] = ChargerRecord(charger_id, password_hash)


# Short names of the events the recorder lists.
_EVENT_NAMES = {
    "StationConnected": "connected",
    "StationDisconnected": "disconnected",
    "StationUpdated": "updated",
    "AdmissionRequested": "admission_requested",
    "StationAutoAdmitted": "auto_admitted",
}


@dataclass
class Recorder:
    """A listener that records every event."""

    events: list[Event] = field(default_factory=list)

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def names(self, charger_id: str, *, every: bool = False) -> list[str]:
        """Short names of a station's connection and admission events (all with every)."""
        names = [
            _EVENT_NAMES.get(type(event).__name__, type(event).__name__)
            for event in self.events
            if event.station.id == charger_id
        ]
        return names if every else [name for name in names if name in _EVENT_NAMES.values()]

    def of_type[T](self, kind: type[T], charger_id: str | None = None) -> list[T]:
        """The recorded events of one type (for one station)."""
        return [
            event
            for event in self.events
            if isinstance(event, kind) and (charger_id is None or event.station.id == charger_id)
        ]


@dataclass
class Running:
    """A started central system with its directory and recorder."""

    system: CentralSystem
    directory: Directory
    recorder: Recorder

    @property
    def url(self) -> str:
        scheme = "wss" if self.system.settings.server.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.system.port}/ocpp"


StartSystem = Callable[..., Any]


@pytest.fixture
async def start_system() -> AsyncIterator[StartSystem]:
    """Start central systems on a free loopback port; all stop at the end of the test."""
    started: list[CentralSystem] = []

    async def _start(
        admission: AdmissionPolicy = AdmissionPolicy.ASK,
        *,
        call_timeout: float = 10.0,
        learn_capabilities: bool = False,
        meter_measurands: tuple[str, ...] = (),
        meter_interval_s: int | None = None,
        meter_edge_measurands: tuple[str, ...] = (),
        meter_overrides: dict[str, MeterWish] | None = None,
        journal: SessionJournal | None = None,
        directory: Directory | None = None,
        authorizer: Authorizer | None = None,
        site: SiteSettings | None = None,
        chargers: ChargerLimits | None = None,
        first_word_wait_s: float = FIRST_WORD_WAIT_S,
        **server: Any,
    ) -> Running:
        directory, recorder = directory or Directory(), Recorder()
        settings = CentralSystemSettings(
            server=ServerSettings(host="127.0.0.1", port=0, **server),
            admission=admission,
            call_timeout=call_timeout,
            # Off by default: a learning central system sends CALLs right after a boot,
            # which tests of other messages do not expect.
            learn_capabilities=learn_capabilities,
            meter_measurands=meter_measurands,
            meter_interval_s=meter_interval_s,
            meter_edge_measurands=meter_edge_measurands,
            meter_overrides=meter_overrides or {},
            site=site,
            first_word_wait_s=first_word_wait_s,
        )
        system = CentralSystem(
            settings, directory, recorder, journal=journal, authorizer=authorizer, chargers=chargers
        )
        await system.start()
        started.append(system)
        return Running(system, directory, recorder)

    yield _start
    for system in started:
        await system.stop()


class RawCharger:
    """A charger that speaks exact OCPP-J frames, for precise and quirky payloads."""

    def __init__(self, websocket: ClientConnection, running: Running, charger_id: str) -> None:
        self.websocket = websocket
        self.running = running
        self.charger_id = charger_id
        self._ids = itertools.count(1)
        # CALLs from the central system that arrived while we awaited an answer.
        self._calls: list[list[Any]] = []

    @property
    def station(self) -> Station:
        return self.running.system.stations[self.charger_id]

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a CALL and return the whole answer frame (CALLRESULT or CALLERROR)."""
        unique_id = f"m{next(self._ids)}"
        await self.websocket.send(json.dumps([2, unique_id, action, payload]))
        async with asyncio.timeout(PATIENCE_S):
            while True:
                frame = json.loads(await self.websocket.recv())
                if frame[0] == 2:
                    self._calls.append(frame)
                elif frame[1] == unique_id:
                    answer: list[Any] = frame
                    return answer

    async def expect_call(self, action: str) -> tuple[str, dict[str, Any]]:
        """Receive the central system's next CALL, which must be `action`."""
        if self._calls:
            frame = self._calls.pop(0)
        else:
            frame = json.loads(await asyncio.wait_for(self.websocket.recv(), PATIENCE_S))
        assert frame[0] == 2, frame
        assert frame[2] == action, frame
        return frame[1], frame[3]

    async def answer(self, unique_id: str, payload: dict[str, Any]) -> None:
        """Answer a CALL of the central system."""
        await self.websocket.send(json.dumps([3, unique_id, payload]))

    async def result(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL that must succeed; return its CALLRESULT payload."""
        answer = await self.call(action, payload)
        assert answer[0] == 3, answer
        result: dict[str, Any] = answer[2]
        return result


ConnectRaw = Callable[..., Any]


@pytest.fixture
async def raw_charger(start_system: StartSystem) -> AsyncIterator[ConnectRaw]:
    """Connect known, already-booted raw chargers to a fresh central system."""
    stack = contextlib.AsyncExitStack()

    async def _connect(
        version: str = "ocpp1.6",
        charger_id: str = "CP-1",
        running: Running | None = None,
        **settings: Any,
    ) -> RawCharger:
        running = running or await start_system(**settings)
        running.directory.admit(charger_id)
        websocket = await stack.enter_async_context(
            connect(f"{running.url}/{charger_id}", subprotocols=[version])  # type: ignore[list-item]
        )
        charger = RawCharger(websocket, running, charger_id)
        boot = (
            {"chargePointVendor": "V", "chargePointModel": "M"}
            if version == "ocpp1.6"
            else {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
        )
        assert (await charger.result("BootNotification", boot))["status"] == "Accepted"
        return charger

    async with stack:
        yield _connect
