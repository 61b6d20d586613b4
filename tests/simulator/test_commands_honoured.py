"""The simulator answers reservations, resets of one EVSE, unlocks and list versions as
real chargers do, and the engine follows what it says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.commands import (
    CancelReservation,
    ClearCache,
    CommandStatus,
    GetLocalListVersion,
    ReserveNow,
    Reset,
    UnlockConnector,
)
from custom_components.ocpp_csms.csms.events import TransactionEnded
from custom_components.ocpp_csms.csms.station import ConnectorStatus, Station
from tests.chargers import charger, wait_for
from tests.engine.conftest import Running, StartSystem

VERSIONS = pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
VERSIONS_2X = pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])


@asynccontextmanager
async def simulated(
    start_system: StartSystem, version: str, **options: Any
) -> AsyncIterator[tuple[Running, Any, Station]]:
    """A booted simulated charger SIM with its connectors Available."""
    running = await start_system()
    running.directory.admit("SIM")
    async with charger(running.url, "SIM", version, charger_options=options) as client:
        await client.boot()
        for connector in client.energy_wh:
            await client.send_status(connector, "Available")
        yield running, client, running.system.stations["SIM"]


def in_an_hour() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


@VERSIONS
async def test_a_reservation_holds_the_connector_until_its_tag_starts(
    start_system: StartSystem, version: str
) -> None:
    async with simulated(start_system, version) as (running, client, station):
        execute = running.system.execute
        assert (await execute("SIM", ReserveNow(11, "GUEST", in_an_hour(), evse_id=1))).accepted
        await wait_for(lambda: station.evses[1].status is ConnectorStatus.RESERVED)
        # Held: another reservation of the connector is refused.
        other = await execute("SIM", ReserveNow(12, "OTHER", in_an_hour(), evse_id=1))
        assert (other.status, other.detail) == (CommandStatus.REJECTED, "Occupied")
        # A connector it does not have is refused too.
        beyond = await execute("SIM", ReserveNow(13, "OTHER", in_an_hour(), evse_id=3))
        assert (beyond.status, beyond.detail) == (CommandStatus.REJECTED, "Rejected")

        await client.start_session(1, "GUEST")
        assert not client.reservations.held
        await wait_for(lambda: len(station.reservations) == 0)


@VERSIONS
async def test_a_cancelled_reservation_frees_the_connector(
    start_system: StartSystem, version: str
) -> None:
    async with simulated(start_system, version) as (running, _client, station):
        execute = running.system.execute
        assert (await execute("SIM", ReserveNow(21, "GUEST", in_an_hour(), evse_id=1))).accepted
        await wait_for(lambda: station.evses[1].status is ConnectorStatus.RESERVED)
        assert (await execute("SIM", CancelReservation(21))).accepted
        await wait_for(lambda: station.evses[1].status is ConnectorStatus.AVAILABLE)
        assert len(station.reservations) == 0
        # Gone from the charger too: cancelling again is refused.
        again = await execute("SIM", CancelReservation(21))
        assert again.status is CommandStatus.REJECTED


@VERSIONS
async def test_a_reservation_expires_on_both_sides(start_system: StartSystem, version: str) -> None:
    async with simulated(start_system, version) as (running, client, station):
        sent: list[str] = []
        send = client.call

        async def recording(payload: Any, **kwargs: Any) -> Any:
            sent.append(type(payload).__name__)
            return await send(payload, **kwargs)

        client.call = recording
        soon = datetime.now(UTC) + timedelta(seconds=1)
        assert (await running.system.execute("SIM", ReserveNow(31, "G", soon, evse_id=1))).accepted
        await wait_for(lambda: not client.reservations.held and not len(station.reservations))
        await wait_for(lambda: station.evses[1].status is ConnectorStatus.AVAILABLE)
        # 2.x says so in words; 1.6 only by the connector's status.
        assert ("ReservationStatusUpdate" in sent) is (version != "ocpp1.6")


@VERSIONS_2X
async def test_2x_reset_of_one_evse_leaves_the_others(
    start_system: StartSystem, version: str
) -> None:
    async with simulated(start_system, version, connectors=2) as (running, client, station):
        await client.start_session(1)
        await client.start_session(2)
        assert (await running.system.execute("SIM", Reset(hard=True, evse_id=2))).accepted
        await wait_for(lambda: station.evses[2].transaction is None)
        [ended] = running.recorder.of_type(TransactionEnded)
        assert (ended.transaction.evse_id, ended.transaction.stop_reason) == (2, "ImmediateReset")
        assert station.evses[1].transaction is not None
        assert client.boot_statuses == ["Accepted"]  # no reboot of the whole charger

        # When idle: Scheduled, and done once the session ends.
        soft = await running.system.execute("SIM", Reset(evse_id=1))
        assert (soft.status, soft.detail) == (CommandStatus.ACCEPTED, "Scheduled")
        await client.stop_session(1)
        await wait_for(lambda: 1 not in client.resets_when_idle)
        unknown = await running.system.execute("SIM", Reset(evse_id=5))
        assert unknown.status is CommandStatus.REJECTED


@VERSIONS
async def test_unlocking_a_connector_it_lacks(start_system: StartSystem, version: str) -> None:
    async with simulated(start_system, version) as (running, _client, _station):
        assert (await running.system.execute("SIM", UnlockConnector(1))).accepted
        result = await running.system.execute("SIM", UnlockConnector(4))
        expected = (
            (CommandStatus.NOT_SUPPORTED, "NotSupported")
            if version == "ocpp1.6"
            else (CommandStatus.REJECTED, "UnknownConnector")
        )
        assert (result.status, result.detail) == expected


async def test_16_list_version_and_cache(start_system: StartSystem) -> None:
    async with simulated(start_system, "ocpp1.6") as (running, client, _station):
        client.local_list_version = 4
        answer = await running.system.execute("SIM", GetLocalListVersion())
        assert answer.data == {"version": 4}
        assert (await running.system.execute("SIM", ClearCache())).accepted
        assert client.cache_cleared == 1
        # Without the feature the charger has no list: -1, as 1.6 says.
        client.configuration["SupportedFeatureProfiles"] = "Core,Reservation"
        answer = await running.system.execute("SIM", GetLocalListVersion())
        assert answer.data == {"version": -1}
