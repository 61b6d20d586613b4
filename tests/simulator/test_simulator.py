"""The charger simulator: scenarios, commands honoured, firmware and diagnostics, the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from custom_components.ocpp_csms.csms.commands import (
    ChargingProfile,
    ProfilePurpose,
    RemoteStart,
    SchedulePeriod,
    SetChargingProfile,
    UpdateFirmware,
    UploadDiagnostics,
)
from custom_components.ocpp_csms.csms.events import TransactionEnded, TransactionStarted
from custom_components.ocpp_csms.csms.host import AdmissionPolicy
from custom_components.ocpp_csms.csms.station import PLUGGED_IN, Measurand
from simulator.scenario import ScenarioSettings, charge_one_car, run_connector
from tests.chargers import PATIENCE_S, charger, wait_for
from tests.engine.conftest import StartSystem

# Every 10 ms one simulated hour passes: a car charges in a few steps.
FAST = ScenarioSettings(interval_s=0.01, speed=360_000, idle_s=0.05, target_soc=80)
VERSIONS = pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])


@VERSIONS
async def test_a_car_charges_to_its_target(start_system: StartSystem, version: str) -> None:
    running = await start_system(learn_capabilities=False)
    running.directory.admit("SIM")
    async with charger(running.url, "SIM", version) as client:
        await client.boot()
        await charge_one_car(client, 1, FAST, "charge", 80.0)
        [ended] = running.recorder.of_type(TransactionEnded)
        transaction = ended.transaction
        # 20 % -> 80 % of a 60 kWh battery, in steps of 11 kWh (an hour at 11 kW).
        assert transaction.energy_wh is not None
        assert 36000 <= transaction.energy_wh <= 36000 + 11000
        socs = [sample.soc for sample in transaction.samples if sample.soc is not None]
        assert socs == sorted(socs)
        assert socs[-1] >= 80
        assert transaction.id_tag == "SIMTAG"


@VERSIONS
async def test_remote_scenario_waits_for_the_central_system(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    running.directory.admit("SIM")
    async with charger(running.url, "SIM", version) as client:
        await client.boot()
        station = running.system.ensure_station("SIM")
        car = asyncio.create_task(charge_one_car(client, 1, FAST, "remote", 50.0))
        # Plugged in: our side has the car's status. A car that did not wait would start
        # right after; give it a moment to (not) do so.
        await wait_for(lambda: 1 in station.evses and station.evses[1].status in PLUGGED_IN)
        await asyncio.sleep(0.05)
        assert not running.recorder.of_type(TransactionStarted)  # plugged in, waiting
        assert (await running.system.execute("SIM", RemoteStart("HA-TAG", evse_id=1))).accepted
        await asyncio.wait_for(car, PATIENCE_S)
        [ended] = running.recorder.of_type(TransactionEnded)
        assert ended.transaction.id_tag == "HA-TAG"


@VERSIONS
async def test_a_profile_caps_the_power(start_system: StartSystem, version: str) -> None:
    running = await start_system()
    running.directory.admit("SIM")
    async with charger(running.url, "SIM", version) as client:
        await client.boot()
        profile = ChargingProfile(1, 0, ProfilePurpose.STATION_MAX, (SchedulePeriod(0, 6),))
        assert (await running.system.execute("SIM", SetChargingProfile(0, profile))).accepted
        await client.start_session(1)
        await client.send_meter_values(1, 60)
        evse = running.system.stations["SIM"].evses[1]
        assert evse.value(Measurand.POWER_IMPORT) == pytest.approx(6 * 230 * 3)
        assert evse.value(Measurand.CURRENT_OFFERED) == 6


async def test_scenario_loops_over_cars(start_system: StartSystem) -> None:
    """A connector sees car after car."""
    running = await start_system()
    running.directory.admit("SIM")
    async with charger(running.url, "SIM") as client:
        await client.boot()
        task = asyncio.create_task(run_connector(client, 1, FAST))
        await wait_for(lambda: len(running.recorder.of_type(TransactionEnded)) >= 2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def http_server(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    """A small HTTP server on loopback; yields its base URL."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@VERSIONS
async def test_firmware_is_downloaded_and_installed(
    start_system: StartSystem, version: str
) -> None:
    async def firmware(_request: web.Request) -> web.Response:
        return web.Response(body=b"\x00" * 1024)

    running = await start_system()
    running.directory.admit("SIM")
    station = running.system.ensure_station("SIM")
    async with (
        http_server([web.get("/fw.bin", firmware)]) as base,
        charger(running.url, "SIM", version) as client,
    ):
        await client.boot()
        from datetime import UTC, datetime

        command = UpdateFirmware(f"{base}/fw.bin", datetime.now(UTC), request_id=4)
        assert (await running.system.execute("SIM", command)).accepted
        await wait_for(lambda: station.firmware_status == "Installed")
        assert client.firmware_version_installed.endswith("+1024b")
        bad = UpdateFirmware(f"{base}/missing.bin", datetime.now(UTC), request_id=5)
        assert (await running.system.execute("SIM", bad)).accepted
        await wait_for(lambda: station.firmware_status == "DownloadFailed")


@VERSIONS
async def test_diagnostics_are_uploaded(start_system: StartSystem, version: str) -> None:
    received: list[bytes] = []

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        received.append(form["file"].file.read())  # type: ignore[union-attr]
        return web.Response(text="ok")

    running = await start_system()
    running.directory.admit("SIM")
    station = running.system.ensure_station("SIM")
    async with (
        http_server([web.post("/up", upload)]) as base,
        charger(running.url, "SIM", version) as client,
    ):
        await client.boot()
        result = await running.system.execute("SIM", UploadDiagnostics(f"{base}/up", request_id=2))
        assert result.accepted
        assert result.data["file_name"] == "SIM-diagnostics.txt"
        await wait_for(lambda: station.diagnostics_status == "Uploaded")
        assert received[0].startswith(b"Simulated diagnostics of SIM")
        await running.system.execute("SIM", UploadDiagnostics(f"{base}/nowhere", request_id=3))
        failed = "UploadFailed" if version == "ocpp1.6" else "UploadFailure"
        await wait_for(lambda: station.diagnostics_status == failed)


async def test_cli_runs_a_mixed_fleet_and_stops_cleanly(start_system: StartSystem) -> None:
    """scripts/simulate: chargers connect, charge, and SIGTERM ends it all with exit 0."""
    running = await start_system(AdmissionPolicy.ACCEPT_ALL)
    running.directory.admit("SIM-001")
    running.directory.admit("SIM-002")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator",
        "--url", f"ws://127.0.0.1:{running.system.port}/ocpp",
        "--count", "2", "--version", "mix", "--interval", "0.05", "--speed", "600",
        "--idle", "0.1", "--target-soc", "25",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=os.getcwd(),
    )  # fmt: skip
    try:
        await wait_for(
            lambda: (
                {e.station.id for e in running.recorder.of_type(TransactionEnded)}
                == {"SIM-001", "SIM-002"}
            ),
            timeout=PATIENCE_S,  # a fresh interpreter starts on a busy machine first
        )
        stations = running.system.stations
        assert stations["SIM-002"].version.value == "ocpp2.0.1"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), PATIENCE_S)
    assert process.returncode == 0, output.decode()
    assert b"stopping 2 charger(s)" in output


@VERSIONS
async def test_a_refused_tag_leaves_without_charging(
    start_system: StartSystem, version: str
) -> None:
    from custom_components.ocpp_csms.csms.authorization import (
        AuthorizationDecision,
        AuthorizationStatus,
    )
    from tests.engine.test_messages_16 import FixedAuthorizer

    running = await start_system()
    running.directory.admit("SIM")
    running.system.authorizer = FixedAuthorizer(AuthorizationDecision(AuthorizationStatus.BLOCKED))
    async with charger(running.url, "SIM", version) as client:
        await client.boot()
        await charge_one_car(client, 1, FAST, "charge", 80.0)
        assert not running.recorder.of_type(TransactionStarted)


@VERSIONS
async def test_reset_reboots(start_system: StartSystem, version: str) -> None:
    """A reset ends the running session and the charger boots again."""
    from custom_components.ocpp_csms.csms.commands import ChangeAvailability, Reset
    from custom_components.ocpp_csms.csms.station import ConnectorStatus

    running = await start_system()
    running.directory.admit("SIM")
    async with charger(running.url, "SIM", version) as client:
        await client.boot()
        await client.start_session(1)
        assert (await running.system.execute("SIM", Reset(hard=True))).accepted
        await wait_for(lambda: len(client.boot_statuses) == 2)
        [ended] = running.recorder.of_type(TransactionEnded)
        assert ended.transaction.stop_reason in ("HardReset", "ImmediateReset")
        station = running.system.stations["SIM"]
        # The reboot ends with the connector Available: wait for that, or it may come
        # after (and undo) the Unavailable below.
        await wait_for(lambda: station.evses[1].status is ConnectorStatus.AVAILABLE)
        assert (
            await running.system.execute("SIM", ChangeAvailability(1, operative=False))
        ).accepted
        await wait_for(lambda: station.evses[1].status is ConnectorStatus.UNAVAILABLE)
