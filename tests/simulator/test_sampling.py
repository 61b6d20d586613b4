"""Simulated chargers that meter on their own, as their configuration says.

The central system is the project's engine; what the charger sends is read on the
charger's side (`spy`), so each reading's measurands can be checked exactly.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, cast

import pytest

from custom_components.ocpp_csms.csms.commands import (
    CommandStatus,
    GetBaseReport,
    GetConfiguration,
    SetConfiguration,
)
from custom_components.ocpp_csms.csms.events import TransactionEnded
from custom_components.ocpp_csms.csms.station import Measurand
from simulator.__main__ import SelfMetering, charger_options, parser
from simulator.base import ENERGY, MEASURANDS
from simulator.scenario import ScenarioSettings, charge_one_car
from simulator.stations import CHARGER_CLASSES, SimulatedCharger
from tests.chargers import charger, wait_for
from tests.engine.conftest import Running, StartSystem

VERSIONS = pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
POWER = "Power.Active.Import"
# How long a test watches for readings that must not come: a tick of 1 s would have
# come in that time (absence cannot be waited for, only observed).
QUIET_S = 1.5


@dataclass(frozen=True)
class Sent:
    """A CALL the charger sent, and when (monotonic)."""

    at: float
    payload: Any

    @property
    def action(self) -> str:
        return type(self.payload).__name__


def spy(client: Any) -> list[Sent]:
    """Record every CALL the charger sends from now on (its own ticks included)."""
    sent: list[Sent] = []
    original = client.call

    async def call(payload: Any, **kwargs: Any) -> Any:
        sent.append(Sent(time.monotonic(), payload))
        return await original(payload, **kwargs)

    client.call = call
    return sent


def periodic(sent: list[Sent]) -> list[tuple[float, dict[str, Any]]]:
    """(when, reading) of every periodic reading of a session the charger sent."""

    def is_periodic(message: Sent) -> bool:
        payload = message.payload
        if message.action == "MeterValues":
            return payload.transaction_id is not None
        return (
            message.action == "TransactionEvent"
            and payload.event_type == "Updated"
            and payload.trigger_reason == "MeterValuePeriodic"
        )

    return [(m.at, m.payload.meter_value[0]) for m in sent if is_periodic(m)]


def transaction_of(message: Sent) -> str:
    payload = message.payload
    if message.action == "MeterValues":
        return str(payload.transaction_id)
    return str(payload.transaction_info["transaction_id"])


def measurands(reading: dict[str, Any]) -> set[str]:
    return {value["measurand"] for value in reading["sampled_value"]}


def energy(reading: dict[str, Any]) -> float:
    [value] = [v["value"] for v in reading["sampled_value"] if v["measurand"] == ENERGY]
    return float(value)


def last(sent: list[Sent], action: str, event_type: str | None = None) -> Any:
    """The payload of the last `action` sent (a TransactionEvent of `event_type`)."""
    return [
        message.payload
        for message in sent
        if message.action == action
        and (event_type is None or message.payload.event_type == event_type)
    ][-1]


def end_readings(sent: list[Sent], version: str) -> tuple[Any, Any]:
    """The readings of the last session's start and end (None where nothing was sent)."""
    if version == "ocpp1.6":
        readings = last(sent, "StopTransaction").transaction_data or []
        begin = [r for r in readings if r["sampled_value"][0]["context"] == "Transaction.Begin"]
        end = [r for r in readings if r["sampled_value"][0]["context"] == "Transaction.End"]
        return (begin or [None])[0], (end or [None])[0]
    started = last(sent, "TransactionEvent", "Started").meter_value
    ended = last(sent, "TransactionEvent", "Ended").meter_value
    return (started or [None])[0], (ended or [None])[0]


def sampling_tasks() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("SIM sampling") and not task.done()
    ]


async def configure(running: Running, key: str, value: str) -> CommandStatus:
    return (await running.system.execute("SIM", SetConfiguration(key, value))).status


def options(sampling: str, **more: Any) -> dict[str, Any]:
    return {"charger_options": {"sampling": sampling, "autonomous_sampling": True, **more}}


@VERSIONS
async def test_none_samples_nothing_until_the_central_system_asks(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    running.directory.admit("SIM")
    keys = CHARGER_CLASSES[version].sampling_keys
    async with charger(running.url, "SIM", version, **options("none")) as client:
        sent = spy(client)
        await client.boot()
        transaction_id = await client.start_session(1)
        await asyncio.sleep(QUIET_S)
        assert not periodic(sent)
        assert await configure(running, keys.periodic, f"{ENERGY},{POWER}") == "accepted"
        # Taken before asking: the charger's tick counts from when it took the change.
        configured_at = time.monotonic()
        assert await configure(running, keys.interval, "1") == "accepted"
        await wait_for(lambda: len(periodic(sent)) >= 2)
        readings = periodic(sent)[:2]
        assert all(measurands(reading) == {ENERGY, POWER} for _, reading in readings)
        assert all(r["sampled_value"][0]["context"] == "Sample.Periodic" for _, r in readings)
        ticks = [configured_at] + [at for at, _ in readings]
        # Every ~1 s: never sooner, and nowhere near a preset's 30 or 60 s.
        assert all(0.9 <= later - earlier < 10 for earlier, later in pairwise(ticks))
        energies = [energy(reading) for _, reading in readings]
        assert energies == sorted(energies)
        assert energies[-1] > energies[0]  # ~3 Wh a second at 11 kW
        ticked = [m for m in sent if m.action in ("MeterValues", "TransactionEvent")]
        assert {transaction_of(m) for m in ticked} == {transaction_id}
        # The central system took them.
        evse = running.system.stations["SIM"].evses[1]
        await wait_for(lambda: evse.value(Measurand.POWER_IMPORT) is not None)
        assert evse.value(Measurand.POWER_IMPORT) == pytest.approx(11000)
        await client.stop_session(1)
        # "none" reads nothing at the ends of a session either.
        assert end_readings(sent, version) == (None, None)
    await wait_for(lambda: running.recorder.of_type(TransactionEnded))


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_the_central_system_configures_sampling_after_boot(
    start_system: StartSystem, version: str
) -> None:
    """The engine's own meter settings, applied after boot, are what the charger sends."""
    running = await start_system(
        learn_capabilities=True, meter_measurands=(ENERGY, POWER), meter_interval_s=1
    )
    running.directory.admit("SIM")
    keys = CHARGER_CLASSES[version].sampling_keys
    async with charger(running.url, "SIM", version, **options("every_60s")) as client:
        sent = spy(client)
        await client.boot()
        await wait_for(lambda: client.configuration[keys.interval] == "1")
        await wait_for(
            lambda: set(client.configuration[keys.periodic].split(",")) == {ENERGY, POWER}
        )
        await client.start_session(1)
        await wait_for(lambda: len(periodic(sent)) >= 2)
        assert all(measurands(reading) == {ENERGY, POWER} for _, reading in periodic(sent))


@VERSIONS
async def test_an_unsupported_measurand_is_refused(start_system: StartSystem, version: str) -> None:
    running = await start_system()
    running.directory.admit("SIM")
    keys = CHARGER_CLASSES[version].sampling_keys
    without_voltage = [m for m in MEASURANDS if m != "Voltage"]
    chosen = options("every_60s", supported_measurands=without_voltage)
    async with charger(running.url, "SIM", version, **chosen) as client:
        await client.boot()
        before = dict(client.configuration)
        for key, value in [
            (keys.periodic, f"{ENERGY},Voltage"),
            (keys.end, "Voltage"),
            (keys.periodic, "Energy.Reactive.Import.Register"),  # not a meter of ours at all
            (keys.interval, "-5"),
            (keys.interval, "soon"),
        ]:
            result = await running.system.execute("SIM", SetConfiguration(key, value))
            assert result.status is CommandStatus.REJECTED, (key, value)
            assert result.detail == "Rejected"
        assert client.configuration == before
        if version == "ocpp1.6":  # how many it can list is the charger's to say
            assert await configure(running, "MeterValuesSampledDataMaxLength", "9") == "rejected"
        assert await configure(running, keys.periodic, f"{ENERGY},Current.Import") == "accepted"
        assert client.configuration[keys.periodic] == f"{ENERGY},Current.Import"
        # A charger without a voltage meter never reports one.
        await client.start_session(1)
        sent = spy(client)
        await client.send_meter_values(1, 60)
        [reading] = sent[-1].payload.meter_value
        assert "Voltage" not in measurands(reading)


@VERSIONS
async def test_the_metering_configuration_is_reported(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    running.directory.admit("SIM")
    keys = CHARGER_CLASSES[version].sampling_keys
    without_voltage = [m for m in MEASURANDS if m != "Voltage"]
    chosen = options("every_30s", supported_measurands=without_voltage)
    async with charger(running.url, "SIM", version, **chosen) as client:
        sent = spy(client)
        await client.boot()
        station = running.system.stations["SIM"]
        if version == "ocpp1.6":
            assert (await running.system.execute("SIM", GetConfiguration())).accepted
            assert station.configuration["MeterValuesSampledDataMaxLength"] == "5"
            assert "MeterValuesSampledDataMaxLength" in station.read_only_settings
        else:
            assert (await running.system.execute("SIM", GetBaseReport(7))).accepted
            await wait_for(lambda: any(m.action == "NotifyReport" for m in sent))
            report = {
                f"{item['component']['name']}/{item['variable']['name']}": item
                for item in last(sent, "NotifyReport").report_data
            }
            for key in (keys.periodic, keys.begin, keys.end):
                [attribute] = report[key]["variable_attribute"]
                assert attribute == {"type": "Actual", "value": ENERGY, "mutability": "ReadWrite"}
                characteristics = report[key]["variable_characteristics"]
                assert characteristics["data_type"] == "MemberList"
                assert characteristics["values_list"] == ",".join(without_voltage)
            [interval] = report[keys.interval]["variable_attribute"]
            assert interval["mutability"] == "ReadWrite"
            await wait_for(lambda: keys.interval in station.configuration)
        assert station.configuration[keys.interval] == "30"
        for key in (keys.periodic, keys.begin, keys.end):
            assert station.configuration[key] == ENERGY
            assert key not in station.read_only_settings
        assert keys.interval not in station.read_only_settings


@VERSIONS
async def test_the_ends_of_a_session_follow_the_configuration(
    start_system: StartSystem, version: str
) -> None:
    """StopTxnSampledData (1.6), TxStartedMeasurands and TxEndedMeasurands (2.x)."""
    running = await start_system()
    running.directory.admit("SIM")
    keys = CHARGER_CLASSES[version].sampling_keys
    offered = "Current.Offered"
    async with charger(running.url, "SIM", version, **options("every_60s")) as client:
        sent = spy(client)
        await client.boot()

        await client.start_session(1)
        await client.stop_session(1)
        begin, end = end_readings(sent, version)
        assert measurands(begin) == measurands(end) == {ENERGY}
        assert begin["sampled_value"][0]["context"] == "Transaction.Begin"
        assert end["sampled_value"][0]["context"] == "Transaction.End"

        if version != "ocpp1.6":  # 1.6 reads both ends under one key
            assert await configure(running, keys.begin, "") == "accepted"
        assert await configure(running, keys.end, f"{ENERGY},{offered}") == "accepted"
        await client.start_session(1)
        await client.stop_session(1)
        begin, end = end_readings(sent, version)
        if version == "ocpp1.6":
            assert measurands(begin) == {ENERGY, offered}
        else:
            assert begin is None
        assert measurands(end) == {ENERGY, offered}

        assert await configure(running, keys.end, "") == "accepted"
        await client.start_session(1)
        await client.stop_session(1)
        if version == "ocpp1.6":
            assert last(sent, "StopTransaction").transaction_data is None
        else:
            assert end_readings(sent, version)[1] is None
    await wait_for(lambda: len(running.recorder.of_type(TransactionEnded)) == 3)


@VERSIONS
async def test_ticks_stop_when_the_session_ends_and_when_the_charger_closes(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    running.directory.admit("SIM")
    keys = CHARGER_CLASSES[version].sampling_keys
    async with charger(running.url, "SIM", version, **options("every_30s")) as client:
        sent = spy(client)
        await client.boot()
        assert await configure(running, keys.interval, "1") == "accepted"
        await client.start_session(1)
        await wait_for(lambda: periodic(sent))
        await client.stop_session(1)
        assert not sampling_tasks()
        count = len(periodic(sent))
        await asyncio.sleep(QUIET_S)
        assert len(periodic(sent)) == count

        await client.start_session(1)
        await wait_for(lambda: len(periodic(sent)) > count)
        assert len(sampling_tasks()) == 1
    # Closed mid-session: its ticks went with it.
    assert not sampling_tasks()


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_the_simulated_clock_paces_the_ticks(start_system: StartSystem, version: str) -> None:
    """At 30 simulated seconds a real one, every_30s ticks every second with 30 s of energy."""
    running = await start_system()
    running.directory.admit("SIM")
    async with charger(running.url, "SIM", version, **options("every_30s", speed=30)) as client:
        sent = spy(client)
        await client.boot()
        await client.start_session(1)
        await wait_for(lambda: len(periodic(sent)) >= 2)
        readings = periodic(sent)[:2]
        assert all(measurands(reading) == {ENERGY} for _, reading in readings)
        (earlier, first), (later, second) = readings
        assert 0.9 <= later - earlier < 10
        # 11 kW for at least the 30 simulated seconds of the interval (1.6 rounds to
        # whole Wh), and about what passed meanwhile: not real seconds, not counted twice.
        # (A busy machine may pause between the model's catch-up and the send: the
        # upper bound is loose.)
        rise = energy(second) - energy(first)
        assert rise >= 11000 * 30 / 3600 - 1
        assert rise <= 1.5 * 11000 * (later - earlier) * 30 / 3600


async def test_a_scenario_lets_a_self_metering_charger_report(start_system: StartSystem) -> None:
    """What the CLI does with --sampling: the scenario lets time pass, the charger reports."""
    running = await start_system()
    running.directory.admit("SIM")
    fast = ScenarioSettings(interval_s=0.01, speed=600, idle_s=0.05, target_soc=25)
    chosen = options("every_30s", speed=fast.speed)
    async with charger(running.url, "SIM", "ocpp2.0.1", **chosen) as client:
        sent = spy(client)
        await client.boot()
        played = cast("SimulatedCharger", SelfMetering(client))
        await charge_one_car(played, 1, fast, "charge", fast.target_soc)
        readings = [
            m.payload.meter_value[0]
            for m in sent
            if m.action == "TransactionEvent" and m.payload.event_type == "Updated"
        ]
        # 20 % -> 25 % of 60 kWh at 11 kW is ~16 simulated minutes (1.6 s here): about
        # 30 ticks of 30 s, all the charger's own (fewer on a busy machine).
        assert len(readings) >= 5
        assert all(measurands(reading) == {ENERGY} for reading in readings)
        assert not [m for m in sent if m.action == "MeterValues"]
        assert client.soc[1] >= 25
        [ended] = running.recorder.of_type(TransactionEnded)
        assert ended.transaction.energy_wh == pytest.approx(client.energy_wh[1], abs=1)


def test_the_cli_sampling_option() -> None:
    default = charger_options(parser().parse_args([]))
    assert default["sampling"] == "ours"
    assert default["autonomous_sampling"] is False
    chosen = charger_options(parser().parse_args(["--sampling", "every_60s", "--speed", "60"]))
    assert chosen["sampling"] == "every_60s"
    assert chosen["autonomous_sampling"] is True
    assert chosen["speed"] == 60
    assert default["kwh_without_unit"] is False
    assert charger_options(parser().parse_args(["--kwh-without-unit"]))["kwh_without_unit"]
    with pytest.raises(SystemExit):
        parser().parse_args(["--sampling", "hourly"])


@pytest.mark.parametrize(
    ("version", "sampling", "expected"),
    [
        ("ocpp1.6", "ours", {}),
        (
            "ocpp1.6",
            "none",
            {
                "MeterValueSampleInterval": "0",
                "MeterValuesSampledData": "",
                "StopTxnSampledData": "",
                "MeterValuesSampledDataMaxLength": "6",
            },
        ),
        (
            "ocpp1.6",
            "every_60s",
            {
                "MeterValueSampleInterval": "60",
                "MeterValuesSampledData": ENERGY,
                "StopTxnSampledData": ENERGY,
                "MeterValuesSampledDataMaxLength": "6",
            },
        ),
        ("ocpp2.0.1", "ours", {}),
        (
            "ocpp2.0.1",
            "none",
            {
                "SampledDataCtrlr/TxUpdatedInterval": "0",
                "SampledDataCtrlr/TxUpdatedMeasurands": "",
                "SampledDataCtrlr/TxStartedMeasurands": "",
                "SampledDataCtrlr/TxEndedMeasurands": "",
            },
        ),
        (
            "ocpp2.0.1",
            "edges_only",
            {
                "SampledDataCtrlr/TxUpdatedInterval": "0",
                "SampledDataCtrlr/TxUpdatedMeasurands": "",
                "SampledDataCtrlr/TxStartedMeasurands": ENERGY,
                "SampledDataCtrlr/TxEndedMeasurands": ENERGY,
            },
        ),
        (
            "ocpp2.1",
            "every_30s",
            {
                "SampledDataCtrlr/TxUpdatedInterval": "30",
                "SampledDataCtrlr/TxUpdatedMeasurands": ENERGY,
                "SampledDataCtrlr/TxStartedMeasurands": ENERGY,
                "SampledDataCtrlr/TxEndedMeasurands": ENERGY,
            },
        ),
    ],
)
def test_presets_are_the_configuration_a_charger_starts_with(
    version: str, sampling: str, expected: dict[str, str]
) -> None:
    cls = CHARGER_CLASSES[version]
    built = cls("SIM", None, sampling=sampling)
    metering = {
        key: value
        for key, value in built.configuration.items()
        if key not in cls.default_configuration
    }
    assert metering == expected


def test_a_meter_cannot_claim_what_it_cannot_measure() -> None:
    with pytest.raises(ValueError, match="cannot measure"):
        CHARGER_CLASSES["ocpp1.6"]("SIM", None, supported_measurands=["Frequency"])
    with pytest.raises(ValueError, match="sampling"):
        CHARGER_CLASSES["ocpp1.6"]("SIM", None, sampling="hourly")


@VERSIONS
async def test_the_kwh_without_unit_twin_sends_kwh_only_between_a_sessions_edges(
    start_system: StartSystem, version: str
) -> None:
    """Its start and end readings in Wh, those in between in kWh with no unit at all."""
    running: Running = await start_system()
    running.directory.admit("SIM-1")
    url = f"{running.url}/SIM-1"
    options = {"kwh_without_unit": True}
    async with charger(url, "SIM-1", version, charger_options=options) as client:
        client.energy_wh[1] = 12_500.0
        assert await client.boot() == "Accepted"
        sent = spy(client)
        await client.start_session(1, "TAG1")
        await client.send_meter_values(1, 60)
        await client.stop_session(1)
    [(_, between)] = periodic_or_triggered(sent, version)
    [register] = [v for v in between["sampled_value"] if v["measurand"] == ENERGY]
    assert "unit" not in register
    assert "unit_of_measure" not in register
    assert float(register["value"]) == pytest.approx(client.energy_wh[1] / 1000, abs=0.001)
    if version != "ocpp1.6":
        begin, end = end_readings(sent, version)
        assert energy(begin) == 12_500
        assert energy(end) == pytest.approx(client.energy_wh[1], abs=0.1)


def periodic_or_triggered(sent: list[Sent], version: str) -> list[tuple[float, dict[str, Any]]]:
    """Readings of a session sent between its start and end (asked for by the test)."""
    if version == "ocpp1.6":
        return [(m.at, m.payload.meter_value[0]) for m in sent if m.action == "MeterValues"]
    return [
        (m.at, m.payload.meter_value[0])
        for m in sent
        if m.action == "TransactionEvent" and m.payload.event_type == "Updated"
    ]
