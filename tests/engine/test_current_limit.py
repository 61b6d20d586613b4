"""A charger's current limit, set the way it takes it and read back (csms.current_limit)."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_csms.csms.commands import CommandStatus
from custom_components.ocpp_csms.csms.current_limit import LimitWay
from custom_components.ocpp_csms.csms.host import ChargerRecord
from tests.chargers import charger
from tests.engine.conftest import StartSystem

STATION_MAX = ("ChargePointMaxProfile", "ChargingStationMaxProfile")


def _purposes(client: Any) -> list[str]:
    return [
        (payload.get("cs_charging_profiles") or payload["charging_profile"])[
            "charging_profile_purpose"
        ]
        for action, payload in client.received
        if action == "SetChargingProfile"
    ]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_station_maximum_when_the_charger_takes_one(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    running.directory.admit("CP-1")
    async with charger(running.url, "CP-1", version) as client:
        assert await client.boot() == "Accepted"
        station = running.system.stations["CP-1"]
        done = await running.system.limits.set(station, 10)
        assert (done.result.accepted, done.way) == (True, LimitWay.STATION_MAXIMUM)
        assert client.limit_a == 10
        read = await running.system.limits.read(station)
        assert read.limit_a == 10


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_the_default_profile_when_it_refuses_one(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    running.directory.admit("CP-1")
    async with charger(running.url, "CP-1", version) as client:
        for purpose in STATION_MAX:
            client.answers[f"SetChargingProfile/{purpose}"] = "Rejected"
        assert await client.boot() == "Accepted"
        station = running.system.stations["CP-1"]
        done = await running.system.limits.set(station, 10)
        assert (done.result.accepted, done.way) == (True, LimitWay.DEFAULT_PROFILE)
        assert _purposes(client)[-1] == "TxDefaultProfile"
        assert client.limit_a == 10


async def test_straight_to_the_default_profile_when_its_profile_says_so(
    start_system: StartSystem,
) -> None:
    """A charger known to ignore station maximums is not sent one at all."""
    running = await start_system()
    running.directory.known["CP-1"] = ChargerRecord("CP-1", quirks="abb_terra_ac")
    async with charger(running.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        station = running.system.stations["CP-1"]
        done = await running.system.limits.set(station, 10)
        assert done.way is LimitWay.DEFAULT_PROFILE
        assert not set(_purposes(client)) & set(STATION_MAX)


async def test_an_offline_charger_reads_nothing(start_system: StartSystem) -> None:
    running = await start_system()
    station = running.system.ensure_station("CP-1")
    read = await running.system.limits.read(station)
    assert (read.limit_a, read.result.status) == (None, CommandStatus.OFFLINE)
    done = await running.system.limits.set(station, 10)
    assert done.result.status is CommandStatus.OFFLINE
