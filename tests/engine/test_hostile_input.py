"""Values no charger should send: made safe at the boundary, never fatal, never locking out.

Each case is one of the hostile frames that, measured from outside, broke something: a
NaN reading, a lone surrogate in a vendor name, nesting 900 deep, a multiplier of 10**7,
a timestamp at datetime's edge.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_csms.csms import rpc
from custom_components.ocpp_csms.csms.boundary import MAX_VALUES_PER_METER_VALUE
from custom_components.ocpp_csms.csms.commands import GetConfiguration
from custom_components.ocpp_csms.csms.events import TransactionStarted
from custom_components.ocpp_csms.csms.log_budget import LogBudget
from custom_components.ocpp_csms.csms.reservations import (
    MAX_RESERVATIONS,
    Reservation,
    ReservationStatus,
)
from custom_components.ocpp_csms.csms.station import MAX_EVSE_ID, MAX_SETTINGS, Measurand, Station
from custom_components.ocpp_csms.csms.station_facts import Capabilities
from tests.chargers import PATIENCE_S, wait_for
from tests.engine.conftest import ConnectRaw, RawCharger, StartSystem
from tests.engine.test_server import raw_handshake

T0 = "2026-11-23T10:00:00Z"
VERSIONS_2X = pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])


def raw_call(unique_id: str, action: str, payload: dict[str, Any], literal: str = "") -> str:
    """A CALL frame whose "@RAW@" string is replaced by `literal` (NaN, 1e999...)."""
    return json.dumps([2, unique_id, action, payload]).replace('"@RAW@"', literal)


async def exchange_text(charger: RawCharger, unique_id: str, text: str) -> list[Any]:
    """Send a frame as exact text (JSON that `json.dumps` would not write); its answer."""
    await charger.websocket.send(text)
    async with asyncio.timeout(PATIENCE_S):
        while True:
            frame: list[Any] = json.loads(await charger.websocket.recv())
            if frame[0] != 2 and frame[1] == unique_id:
                return frame


@VERSIONS_2X
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "1e16"])
async def test_an_unsafe_reading_drops_only_that_sample(
    raw_charger: ConnectRaw, version: str, literal: str
) -> None:
    charger = await raw_charger(version)
    samples = [
        {"value": "@RAW@", "measurand": "Power.Active.Import"},
        {"value": 1500, "measurand": "Energy.Active.Import.Register"},
    ]
    payload = {"evseId": 1, "meterValue": [{"timestamp": T0, "sampledValue": samples}]}
    text = raw_call("mv", "MeterValues", payload, literal)
    assert await exchange_text(charger, "mv", text) == [3, "mv", {}]
    evse = charger.station.evses[1]
    assert evse.value(Measurand.ENERGY_IMPORT_REGISTER) == 1500
    assert evse.value(Measurand.POWER_IMPORT) is None
    assert charger.station.warnings["unsafe_number_dropped"] == 1


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "1e999", " nan "])
async def test_a_16_reading_that_is_no_finite_number_is_skipped(
    raw_charger: ConnectRaw, value: str
) -> None:
    charger = await raw_charger("ocpp1.6")
    payload = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": T0,
                "sampledValue": [
                    {"value": value, "measurand": "Power.Active.Import"},
                    {"value": "1500", "measurand": "Energy.Active.Import.Register"},
                ],
            }
        ],
    }
    assert await charger.result("MeterValues", payload) == {}
    evse = charger.station.evses[1]
    assert evse.value(Measurand.POWER_IMPORT) is None
    assert evse.value(Measurand.ENERGY_IMPORT_REGISTER) == 1500
    assert charger.station.warnings["unreadable_value"] == 1


async def test_an_unsafe_number_elsewhere_is_a_property_constraint_violation(
    raw_charger: ConnectRaw,
) -> None:
    charger = await raw_charger("ocpp1.6")
    start = {"connectorId": 1, "idTag": "T", "meterStart": "@RAW@", "timestamp": T0}
    text = raw_call("st", "StartTransaction", start, "1e999")
    answer = await exchange_text(charger, "st", text)
    assert answer[:3] == [4, "st", "PropertyConstraintViolation"]
    assert answer[4] == {"path": "meterStart"}
    big = raw_call(
        "st2", "StartTransaction", {**start, "meterStart": 0, "connectorId": "@RAW@"}, str(2**70)
    )
    answer = await exchange_text(charger, "st2", big)
    assert answer[:3] == [4, "st2", "PropertyConstraintViolation"]
    assert charger.station.warnings["refused_unsafe_value"] == 2
    assert not charger.station.evses.get(1) or charger.station.evses[1].transaction is None
    # The connection lives on.
    assert "currentTime" in await charger.result("Heartbeat", {})


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("depth", [40, 900, 100_000])
async def test_deep_nesting_is_answered_and_the_connection_survives(
    raw_charger: ConnectRaw, version: str, depth: int
) -> None:
    charger = await raw_charger(version)
    nested = "[" * depth + "]" * depth
    text = raw_call("deep", "DataTransfer", {"vendorId": "x", "data": "@RAW@"}, nested)
    await charger.websocket.send(text)
    frame = json.loads(await asyncio.wait_for(charger.websocket.recv(), PATIENCE_S))
    # Refused before it is decoded, however deep, and answered by its id.
    assert frame[:4] == [4, "deep", "PropertyConstraintViolation", "nested deeper than 32 levels"]
    assert charger.station.warnings["refused_unsafe_value"] == 1
    assert "currentTime" in await charger.result("Heartbeat", {})


@VERSIONS_2X
async def test_a_lone_surrogate_is_replaced_and_counted(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    boot = (
        '[2, "b", "BootNotification", {"reason": "PowerUp", "chargingStation": '
        '{"vendorName": "Evil\\ud800Corp", "model": "M\\udfff", "serialNumber": "\\ud83d\\ude00"}}]'
    )
    answer = await exchange_text(charger, "b", boot)
    assert answer[0] == 3
    assert charger.station.boot is not None
    assert charger.station.boot.vendor == "Evil\ufffdCorp"
    assert charger.station.boot.model == "M\ufffd"
    # A well-formed pair is one character, and stays.
    assert charger.station.boot.serial_number == "\U0001f600"
    assert charger.station.warnings["invalid_text"] == 2
    json.dumps(charger.station.boot.vendor).encode()  # writable as UTF-8 again


@VERSIONS_2X
async def test_a_huge_multiplier_is_refused_at_once(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    payload = {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": T0,
                "sampledValue": [
                    {"value": 1, "unitOfMeasure": {"unit": "Wh", "multiplier": 10**7}},
                    {"value": 5, "measurand": "Current.Import"},
                ],
            }
        ],
    }
    started = time.process_time()
    assert await charger.result("MeterValues", payload) == {}
    # 10**(10**7) alone takes seconds of CPU; refusing it takes nothing like that.
    assert time.process_time() - started < 2.0
    evse = charger.station.evses[1]
    assert evse.value(Measurand.ENERGY_IMPORT_REGISTER) is None
    assert evse.value(Measurand.CURRENT_IMPORT) == 5
    assert charger.station.warnings["implausible_multiplier"] == 1


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01T00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1066-10-14T09:00Z",
        "1970-01-01T00:00:07Z",  # a charger whose clock was never set
    ],
)
async def test_a_timestamp_at_the_edge_of_time_starts_the_transaction_now(
    raw_charger: ConnectRaw, timestamp: str
) -> None:
    charger = await raw_charger("ocpp1.6")
    result = await charger.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": timestamp},
    )
    assert result["idTagInfo"]["status"] == "Accepted"
    [started] = charger.running.recorder.of_type(TransactionStarted)
    assert started.transaction.started_at.year >= 2026
    assert charger.station.warnings["bad_timestamp"] == 1


async def test_an_unsafe_answer_fails_the_command(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger("ocpp1.6")
    adapter = charger.running.system.connection("CP-1")
    assert adapter is not None
    command = asyncio.create_task(adapter.request_boot_notification())
    unique_id, _ = await charger.expect_call("TriggerMessage")
    await charger.websocket.send(json.dumps([3, unique_id, {"status": float("nan")}]))
    result = await command
    assert not result.accepted
    assert charger.station.warnings["refused_unsafe_value"] == 1


def test_the_log_budget_summarises_what_it_leaves_out() -> None:
    now = [0.0]
    budget = LogBudget(per_source=2, overall=3, period_s=60.0, max_sources=3, clock=lambda: now[0])
    assert [budget.take("a") for _ in range(4)] == [0, 0, None, None]
    assert budget.take("b") == 0
    # The overall bound holds for every source.
    assert budget.take("c") is None
    now[0] = 61.0
    # A new period: "a" says how many of its lines were left out, "c" too.
    assert budget.take("a") == 2
    assert budget.take("c") == 1
    # Beyond max_sources the source used longest ago is forgotten: "b".
    assert budget.take("d") == 0
    assert len(budget._sources) == 3
    assert "b" not in budget._sources


async def test_broken_frames_log_a_bounded_number_of_short_lines(
    raw_charger: ConnectRaw, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rpc, "FRAME_LOG_BUDGET", LogBudget(per_source=5, overall=60, period_s=600))
    charger = await raw_charger("ocpp1.6")
    huge = "x" * 100_000
    caplog.set_level(logging.DEBUG, logger=rpc.__name__)
    for index in range(200):
        answer = await charger.call("StatusNotification", {"connectorId": 1, "status": huge})
        assert answer[0] == 4, index
    lines = [record.getMessage() for record in caplog.records if record.name == rpc.__name__]
    assert len(lines) == 5
    assert all(len(line) < 1000 for line in lines)
    assert charger.station.warnings["refused_schema_enum"] == 200


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_ids_beyond_the_chargers_bounds_create_nothing(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    refused = 0
    for evse_id in [*range(2, 60), 2**40, -1]:
        if version == "ocpp1.6":
            status = {"connectorId": evse_id, "errorCode": "NoError", "status": "Available"}
        else:
            status = {
                "timestamp": T0,
                "connectorStatus": "Available",
                "evseId": evse_id,
                "connectorId": 1,
            }
        answer = await charger.call("StatusNotification", status)
        if answer[0] == 4:
            assert answer[2] in (
                "PropertyConstraintViolation",
                "FormationViolation",
                "FormatViolation",
            )
            refused += 1
    assert set(charger.station.evses) <= set(range(MAX_EVSE_ID + 1))
    assert refused == 60 - MAX_EVSE_ID + 1
    assert charger.station.warnings["id_out_of_range"] >= 50


async def test_a_charger_is_bounded_by_its_own_report_when_it_has_more(
    raw_charger: ConnectRaw,
) -> None:
    charger = await raw_charger("ocpp1.6")
    status = {"connectorId": 20, "errorCode": "NoError", "status": "Available"}
    # Beyond the usual bound, and not reported: refused.
    assert (await charger.call("StatusNotification", status))[2] == "PropertyConstraintViolation"
    # A pedestal that says it has 20 sockets may use them all, and no more.
    charger.station.capabilities = Capabilities(number_of_evses=20)
    assert (await charger.call("StatusNotification", status))[0] == 3
    answer = await charger.call("StatusNotification", {**status, "connectorId": 21})
    assert answer[2] == "PropertyConstraintViolation"
    assert answer[4] == {"path": "connectorId"}
    # One that says it has 2 but uses 3 is not held to its report: that would lose
    # its sessions.
    charger.station.capabilities = Capabilities(number_of_evses=2)
    assert (await charger.call("StatusNotification", {**status, "connectorId": 3}))[0] == 3
    assert set(charger.station.evses) == {3, 20}


async def test_a_2x_connector_id_is_bounded(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger("ocpp2.0.1")
    status = {"timestamp": T0, "connectorStatus": "Available", "evseId": 1, "connectorId": 999}
    answer = await charger.call("StatusNotification", status)
    assert answer[2] == "PropertyConstraintViolation"
    assert 1 not in charger.station.evses


async def test_a_configuration_answer_without_keys_fails_only_that_command(
    raw_charger: ConnectRaw,
) -> None:
    charger = await raw_charger("ocpp1.6")
    adapter = charger.running.system.connection("CP-1")
    assert adapter is not None
    command = asyncio.create_task(adapter.execute(GetConfiguration()))
    unique_id, _ = await charger.expect_call("GetConfiguration")
    items = [{"value": "no key"}, {"key": "HeartbeatInterval", "value": "60"}, "junk"]
    await charger.answer(unique_id, {"configurationKey": items})
    result = await command
    assert result.accepted
    assert charger.station.configuration["HeartbeatInterval"] == "60"
    assert charger.station.warnings["unreadable_setting"] == 2


def test_a_station_keeps_a_bounded_configuration_and_reservation_list() -> None:
    station = Station("CP-1")
    for index in range(MAX_SETTINGS + 50):
        station.remember_setting(f"Key{index}", "1", read_only=index % 2 == 0)
    assert len(station.configuration) == MAX_SETTINGS
    assert station.warnings["too_many_settings"] == 50
    station.remember_setting("Key0", "2", read_only=False)
    assert station.configuration["Key0"] == "2"
    assert "Key0" not in station.read_only_settings
    until = datetime(2030, 1, 1, tzinfo=UTC)
    for index in range(MAX_RESERVATIONS + 10):
        station.reservations.add(Reservation(index, 1, "TAG", until))
    assert len(station.reservations) == MAX_RESERVATIONS
    assert station.reservations.end(0, ReservationStatus.CANCELLED) is None  # the oldest went


async def test_a_scan_of_charger_ids_writes_a_bounded_number_of_warnings(
    start_system: StartSystem, caplog: pytest.LogCaptureFixture
) -> None:
    running = await start_system()
    caplog.set_level(logging.WARNING)
    for index in range(60):
        # A different id every time, each with unreadable credentials, and no id at all.
        line = b"Authorization: Basic !!!"
        status = await raw_handshake(running.system.port, f"SCAN-{index}", [line])
        assert status.startswith(b"HTTP/1.1 401"), status
        async with asyncio.timeout(PATIENCE_S):
            reader, writer = await asyncio.open_connection("127.0.0.1", running.system.port)
            writer.write(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            assert (await reader.readline()).startswith(b"HTTP/1.1 400")
            writer.close()
    # Ours only: a test before this one in the same process may still be logging.
    warnings = [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and record.name.startswith("custom_components")
    ]
    assert 0 < len(warnings) <= 20, [record.getMessage() for record in warnings]


@VERSIONS_2X
async def test_vendor_data_with_a_huge_number_costs_nothing_else(
    raw_charger: ConnectRaw, version: str
) -> None:
    """customData and DataTransfer data are passed on, never read: null, not a refusal."""
    charger = await raw_charger(version)
    custom = {"vendorId": "x", "ts": "@RAW@"}
    text = raw_call("hb", "Heartbeat", {"customData": custom}, "1700000000000000000")
    assert (await exchange_text(charger, "hb", text))[0] == 3
    text = raw_call("dt", "DataTransfer", {"vendorId": "x", "data": {"n": ["@RAW@"]}}, "NaN")
    assert (await exchange_text(charger, "dt", text))[0] == 3
    # A reading whose unit carries the unsafe number is one reading dropped, too.
    samples = [
        {"value": 1, "unitOfMeasure": {"unit": "Wh", "multiplier": "@RAW@"}},
        {"value": 5, "measurand": "Current.Import"},
    ]
    payload = {"evseId": 1, "meterValue": [{"timestamp": T0, "sampledValue": samples}]}
    assert (await exchange_text(charger, "mv", raw_call("mv", "MeterValues", payload, "1e999")))[
        0
    ] == 3
    assert charger.station.evses[1].value(Measurand.CURRENT_IMPORT) == 5
    assert charger.station.warnings["unsafe_number_dropped"] == 3


async def test_chargers_nobody_admitted_are_not_kept_without_end(
    start_system: StartSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    from websockets.asyncio.client import connect

    from custom_components.ocpp_csms.csms import connections

    monkeypatch.setattr(connections, "MAX_STRANGERS", 3)
    running = await start_system()
    running.directory.admit("KNOWN")
    running.system.ensure_station("KNOWN")
    system = running.system

    def connected(charger_id: str) -> bool:
        return system.connection(charger_id) is not None

    for index in range(8):
        charger_id = f"STRANGER-{index}"
        async with connect(f"{running.url}/{charger_id}", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            await wait_for(functools.partial(connected, charger_id))
        await wait_for(functools.partial(lambda cid: not connected(cid), charger_id))
    strangers = [cid for cid in running.system.stations if cid.startswith("STRANGER")]
    assert strangers == ["STRANGER-5", "STRANGER-6", "STRANGER-7"]
    assert "KNOWN" in running.system.stations


async def test_thousands_of_sampled_values_are_thinned_and_the_message_accepted(
    raw_charger: ConnectRaw,
) -> None:
    charger = await raw_charger("ocpp1.6")
    sampled = [{"value": str(n), "measurand": "Power.Active.Import"} for n in range(2000)]
    reading = {"timestamp": T0, "sampledValue": sampled}
    answer = await charger.call("MeterValues", {"connectorId": 1, "meterValue": [reading]})
    assert answer[0] == 3
    assert charger.station.warnings["meter_values_thinned"] == 1
    # The first MAX_VALUES_PER_METER_VALUE of them were read, the last of those is kept.
    power = charger.station.evses[1].measurements[(Measurand.POWER_IMPORT, None)]
    assert power.value == MAX_VALUES_PER_METER_VALUE - 1
