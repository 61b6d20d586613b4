"""Fixtures for driving the engine with plain asyncio, without Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.central_system import (
    AdmissionPolicy,
    CentralSystem,
    CentralSystemSettings,
    ChargerRecord,
)
from custom_components.ocpp_csms.csms.server import ServerSettings
from custom_components.ocpp_csms.csms.station import Station


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


@dataclass
class Recorder:
    """A listener that records every event as (name, charger id, extra)."""

    events: list[tuple[str, str, Any]] = field(default_factory=list)

    def names(self, charger_id: str) -> list[str]:
        return [name for name, cid, _ in self.events if cid == charger_id]

    def station_connected(self, station: Station) -> None:
        self.events.append(("connected", station.id, None))

    def station_disconnected(self, station: Station) -> None:
        self.events.append(("disconnected", station.id, None))

    def station_updated(self, station: Station, changed: frozenset[str]) -> None:
        self.events.append(("updated", station.id, changed))

    def admission_requested(self, station: Station) -> None:
        self.events.append(("admission_requested", station.id, None))

    def station_auto_admitted(self, station: Station) -> None:
        self.events.append(("auto_admitted", station.id, None))


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
        call_timeout: float = 2.0,
        **server: Any,
    ) -> Running:
        directory, recorder = Directory(), Recorder()
        settings = CentralSystemSettings(
            server=ServerSettings(host="127.0.0.1", port=0, **server),
            admission=admission,
            call_timeout=call_timeout,
        )
        system = CentralSystem(settings, directory, recorder)
        await system.start()
        started.append(system)
        return Running(system, directory, recorder)

    yield _start
    for system in started:
        await system.stop()
