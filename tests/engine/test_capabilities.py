"""Learning what a charger can do after it is accepted, and applying meter settings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.events import StationUpdated
from custom_components.ocpp_csms.csms.station_facts import Capabilities
from tests.chargers import PATIENCE_S, wait_for
from tests.engine.conftest import ConnectRaw, RawCharger

CONFIGURATION_16 = [
    {
        "key": "SupportedFeatureProfiles",
        "readonly": True,
        "value": "Core,SmartCharging,RemoteTrigger",
    },
    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": "Current"},
    {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"},
    {"key": "LocalAuthListEnabled", "readonly": False, "value": "true"},
    {"key": "LocalAuthListMaxLength", "readonly": True, "value": "100"},
    {"key": "MeterValuesSampledData", "readonly": False, "value": "Energy.Active.Import.Register"},
    {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
]


def learnt(charger: RawCharger) -> bool:
    return any(
        "capabilities" in e.changed for e in charger.running.recorder.of_type(StationUpdated)
    )


async def test_16_learns_from_its_configuration(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger("ocpp1.6", learn_capabilities=True)
    unique_id, payload = await charger.expect_call("GetConfiguration")
    assert payload == {}  # all keys: reading has no side effects
    await charger.answer(unique_id, {"configurationKey": CONFIGURATION_16})
    await wait_for(lambda: learnt(charger))
    assert charger.station.capabilities == Capabilities(
        features=frozenset({"Core", "SmartCharging", "RemoteTrigger"}),
        number_of_evses=2,
        charging_rate_units=frozenset({"A"}),
        max_stack_level=8,
        local_list_enabled=True,
        local_list_max_length=100,
        meter_measurands=("Energy.Active.Import.Register",),
        meter_interval_s=60,
        meter_settings_writable=True,
    )
    assert charger.station.capabilities.smart_charging
    assert "NumberOfConnectors" in charger.station.read_only_settings


async def test_16_applies_wanted_meter_settings(raw_charger: ConnectRaw) -> None:
    wanted = ("Energy.Active.Import.Register", "Power.Active.Import", "SoC")
    charger = await raw_charger(
        "ocpp1.6", learn_capabilities=True, meter_measurands=wanted, meter_interval_s=30
    )
    unique_id, _ = await charger.expect_call("GetConfiguration")
    await charger.answer(unique_id, {"configurationKey": CONFIGURATION_16})
    unique_id, payload = await charger.expect_call("ChangeConfiguration")
    assert payload == {"key": "MeterValuesSampledData", "value": ",".join(wanted)}
    await charger.answer(unique_id, {"status": "Accepted"})
    unique_id, payload = await charger.expect_call("ChangeConfiguration")
    assert payload == {"key": "MeterValueSampleInterval", "value": "30"}
    await charger.answer(unique_id, {"status": "Accepted"})
    await wait_for(lambda: learnt(charger))
    assert charger.station.configuration["MeterValueSampleInterval"] == "30"


async def test_16_read_only_meter_settings_are_left_alone(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger("ocpp1.6", learn_capabilities=True, meter_interval_s=30)
    configuration = [
        {**item, "readonly": True} if item["key"] == "MeterValueSampleInterval" else item
        for item in CONFIGURATION_16
    ]
    unique_id, _ = await charger.expect_call("GetConfiguration")
    await charger.answer(unique_id, {"configurationKey": configuration})
    await wait_for(lambda: learnt(charger))  # and no ChangeConfiguration was sent


async def test_charger_that_will_not_say(raw_charger: ConnectRaw) -> None:
    """A charger refusing GetConfiguration is learnt as knowing nothing, without a hang."""
    charger = await raw_charger("ocpp1.6", learn_capabilities=True)
    unique_id, _ = await charger.expect_call("GetConfiguration")
    await charger.websocket.send(f'[4,"{unique_id}","NotImplemented","",{{}}]')
    await wait_for(lambda: learnt(charger))
    assert charger.station.capabilities == Capabilities()


def report_item(
    component: dict[str, Any], variable: str, value: str, **attribute: Any
) -> dict[str, Any]:
    return {
        "component": component,
        "variable": {"name": variable},
        "variableAttribute": [{"type": "Actual", "value": value, **attribute}],
    }


async def test_2x_learns_from_a_base_report(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger(
        "ocpp2.0.1", learn_capabilities=True, meter_interval_s=15, meter_measurands=("SoC",)
    )
    unique_id, payload = await charger.expect_call("GetBaseReport")
    assert payload["reportBase"] == "FullInventory"
    request_id = payload["requestId"]
    await charger.answer(unique_id, {"status": "Accepted"})
    first = [
        report_item({"name": "SmartChargingCtrlr"}, "Enabled", "true"),
        report_item({"name": "SmartChargingCtrlr"}, "RateUnit", "A,W"),
        report_item({"name": "SmartChargingCtrlr"}, "ProfileStackLevel", "4"),
        report_item({"name": "EVSE", "evse": {"id": 1}}, "Power", "11000"),
        report_item({"name": "EVSE", "evse": {"id": 2}}, "Power", "11000"),
    ]
    second = [
        report_item(
            {"name": "SampledDataCtrlr"}, "TxUpdatedMeasurands", "Energy.Active.Import.Register"
        ),
        report_item({"name": "SampledDataCtrlr"}, "TxUpdatedInterval", "60", mutability="ReadOnly"),
    ]
    common = {"requestId": request_id, "generatedAt": "2026-11-23T10:00:00Z"}
    await charger.result("NotifyReport", {**common, "seqNo": 0, "tbc": True, "reportData": first})
    await charger.result("NotifyReport", {**common, "seqNo": 1, "reportData": second})
    # The measurands may be written; the interval is read-only and left alone.
    unique_id, payload = await charger.expect_call("SetVariables")
    assert payload["setVariableData"] == [
        {
            "attributeValue": "SoC",
            "component": {"name": "SampledDataCtrlr"},
            "variable": {"name": "TxUpdatedMeasurands"},
        }
    ]
    await charger.answer(
        unique_id,
        {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "SampledDataCtrlr"},
                    "variable": {"name": "TxUpdatedMeasurands"},
                }
            ]
        },
    )
    await wait_for(lambda: learnt(charger))
    capabilities = charger.station.capabilities
    assert capabilities is not None
    assert capabilities.smart_charging
    assert capabilities.charging_rate_units == {"A", "W"}
    assert (capabilities.max_stack_level, capabilities.number_of_evses) == (4, 2)
    assert capabilities.meter_interval_s == 60


async def test_2x_incomplete_report_is_bounded(raw_charger: ConnectRaw, monkeypatch: Any) -> None:
    """A charger that accepts the report request but never finishes it does not hang."""
    from custom_components.ocpp_csms.csms import ocpp201

    monkeypatch.setattr(ocpp201, "REPORT_TIMEOUT_S", 0.2)
    charger = await raw_charger("ocpp2.1", learn_capabilities=True)
    unique_id, payload = await charger.expect_call("GetBaseReport")
    await charger.answer(unique_id, {"status": "Accepted"})
    await charger.result(
        "NotifyReport",
        {
            "requestId": payload["requestId"],
            "generatedAt": "2026-11-23T10:00:00Z",
            "seqNo": 0,
            "tbc": True,
            "reportData": [report_item({"name": "ReservationCtrlr"}, "Enabled", "true")],
        },
    )
    await wait_for(lambda: learnt(charger))
    assert charger.station.capabilities is not None
    assert "Reservation" in charger.station.capabilities.features


async def test_known_charger_reconnecting_is_learnt(
    raw_charger: ConnectRaw, start_system: Any
) -> None:
    """After a restart a charger reconnects without booting: it is learnt all the same,
    once it has said something (its first message here is a heartbeat)."""
    from websockets.asyncio.client import connect

    running = await start_system(learn_capabilities=True, first_word_wait_s=PATIENCE_S * 10)
    running.directory.admit("CP-9")
    async with connect(f"{running.url}/CP-9", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, running, "CP-9")
        # Nothing is sent to it before it speaks (some chargers ignore requests then).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(websocket.recv(), 0.3)
        assert "currentTime" in await charger.result("Heartbeat", {})
        unique_id, _ = await charger.expect_call("GetConfiguration")
        await charger.answer(unique_id, {"configurationKey": CONFIGURATION_16[:1]})
        await wait_for(lambda: learnt(charger))


async def test_a_silent_known_charger_is_brought_up_to_date_after_a_while(
    start_system: Any,
) -> None:
    from websockets.asyncio.client import connect

    running = await start_system(learn_capabilities=True, first_word_wait_s=0.2)
    running.directory.admit("CP-9")
    async with connect(f"{running.url}/CP-9", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, running, "CP-9")
        unique_id, _ = await charger.expect_call("GetConfiguration")
        await charger.answer(unique_id, {"configurationKey": CONFIGURATION_16[:1]})
        await wait_for(lambda: learnt(charger))


async def test_a_known_charger_that_boots_is_asked_once_and_only_after_its_boot(
    start_system: Any,
) -> None:
    from websockets.asyncio.client import connect

    running = await start_system(learn_capabilities=True, first_word_wait_s=0.2)
    running.directory.admit("CP-9")
    async with connect(f"{running.url}/CP-9", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        await websocket.send(json.dumps([2, "b1", "BootNotification", boot]))
        first = json.loads(await asyncio.wait_for(websocket.recv(), PATIENCE_S))
        assert first[:2] == [3, "b1"]  # our answer comes before any request of ours
        charger = RawCharger(websocket, running, "CP-9")
        unique_id, _ = await charger.expect_call("GetConfiguration")
        await charger.answer(unique_id, {"configurationKey": CONFIGURATION_16[:1]})
        await wait_for(lambda: learnt(charger))
        # Not a second time once the silence bound has passed (the boot brought it).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(websocket.recv(), 0.6)


async def test_a_boot_while_learning_learns_again(start_system: Any) -> None:
    """A charger that ignored our first read (it was booting) is read again after it."""
    from websockets.asyncio.client import connect

    running = await start_system(learn_capabilities=True, first_word_wait_s=0.1, call_timeout=0.5)
    running.directory.admit("CP-9")
    async with connect(f"{running.url}/CP-9", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        charger = RawCharger(websocket, running, "CP-9")
        await charger.expect_call("GetConfiguration")  # ignored: it is booting
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        assert (await charger.result("BootNotification", boot))["status"] == "Accepted"
        # The first read times out; the boot asked for learning meanwhile: read again.
        unique_id, _ = await charger.expect_call("GetConfiguration")
        await charger.answer(unique_id, {"configurationKey": CONFIGURATION_16})
        await wait_for(
            lambda: (
                charger.station.capabilities is not None
                and charger.station.capabilities.number_of_evses == 2
            )
        )
