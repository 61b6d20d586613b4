"""Setting what chargers sample: only what differs, only what they support, never fatal."""

from __future__ import annotations

import asyncio

import pytest

from custom_components.ocpp_csms.csms.metering_setup import (
    DEFAULT_MEASURANDS,
    MeterChange,
    MeterKeys,
    MeterWish,
    plan_meter_settings,
)
from tests.chargers import wait_for
from tests.engine.conftest import ConnectRaw
from tests.engine.test_capabilities import CONFIGURATION_16, learnt

KEYS_16 = MeterKeys(
    "MeterValuesSampledData",
    "MeterValueSampleInterval",
    ("StopTxnSampledData",),
    "MeterValuesSampledDataMaxLength",
)
KEYS_2X = MeterKeys(
    "SampledDataCtrlr/TxUpdatedMeasurands",
    "SampledDataCtrlr/TxUpdatedInterval",
    ("SampledDataCtrlr/TxStartedMeasurands", "SampledDataCtrlr/TxEndedMeasurands"),
)
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


def test_a_charger_that_samples_nothing_is_set_to_the_defaults() -> None:
    configuration: dict[str, str | None] = {
        "SampledDataCtrlr/TxUpdatedMeasurands": "",
        "SampledDataCtrlr/TxUpdatedInterval": "0",
        "SampledDataCtrlr/TxStartedMeasurands": "",
        "SampledDataCtrlr/TxEndedMeasurands": "",
    }
    plan = plan_meter_settings(MeterWish(), KEYS_2X, configuration, set(), {})
    # A charger refusing one measurand is asked again with one fewer, least important
    # first (a 1.6 charger without SoC keeps current and voltage).
    shorter = tuple(",".join(DEFAULT_MEASURANDS[:n]) for n in range(5, 0, -1))
    assert shorter[1] == f"{ENERGY},{POWER},Current.Import,Voltage"
    assert plan.changes == (
        MeterChange("SampledDataCtrlr/TxUpdatedMeasurands", shorter),
        MeterChange("SampledDataCtrlr/TxUpdatedInterval", ("10",)),
        MeterChange("SampledDataCtrlr/TxStartedMeasurands", (ENERGY,)),
        MeterChange("SampledDataCtrlr/TxEndedMeasurands", (ENERGY,)),
    )
    assert plan.not_settable == ()


def test_nothing_is_sent_where_the_charger_already_has_it() -> None:
    """Each write may cost the charger a flash write: none for a reconnect."""
    configuration: dict[str, str | None] = {
        "MeterValuesSampledData": f"{POWER}, {ENERGY}",
        "MeterValueSampleInterval": " 10",
        "StopTxnSampledData": ENERGY,
    }
    wish = MeterWish((ENERGY, POWER), 10, (ENERGY,))
    plan = plan_meter_settings(wish, KEYS_16, configuration, set(), {})
    assert plan.changes == ()


def test_only_supported_measurands_and_no_more_than_the_charger_takes() -> None:
    configuration: dict[str, str | None] = {
        "MeterValuesSampledData": "",
        "MeterValueSampleInterval": "60",
        "MeterValuesSampledDataMaxLength": "2",
    }
    plan = plan_meter_settings(
        MeterWish(), KEYS_16, configuration, {"MeterValueSampleInterval"}, {}
    )
    assert plan.changes == (MeterChange("MeterValuesSampledData", (f"{ENERGY},{POWER}", ENERGY)),)
    # Read-only, or not a key the charger has at all: a warning, not a write.
    assert plan.not_settable == ("MeterValueSampleInterval", "StopTxnSampledData")

    choices = {"SampledDataCtrlr/TxUpdatedMeasurands": (ENERGY, "Voltage")}
    configuration_2x: dict[str, str | None] = {"SampledDataCtrlr/TxUpdatedMeasurands": ""}
    wish = MeterWish(DEFAULT_MEASURANDS, None, ())
    plan = plan_meter_settings(wish, KEYS_2X, configuration_2x, set(), choices)
    assert plan.changes == (
        MeterChange("SampledDataCtrlr/TxUpdatedMeasurands", (f"{ENERGY},Voltage", ENERGY)),
    )


async def test_a_refused_list_is_tried_shorter_and_then_is_a_warning(
    raw_charger: ConnectRaw,
) -> None:
    charger = await raw_charger(
        "ocpp1.6",
        learn_capabilities=True,
        meter_measurands=(ENERGY, POWER, "SoC"),
        meter_interval_s=10,
        meter_edge_measurands=(ENERGY,),
    )
    unique_id, _ = await charger.expect_call("GetConfiguration")
    configuration = [
        *CONFIGURATION_16,
        {"key": "StopTxnSampledData", "readonly": False, "value": ""},
    ]
    await charger.answer(unique_id, {"configurationKey": configuration})
    tried = []
    for _ in range(2):  # all three, then energy and power: refused
        unique_id, payload = await charger.expect_call("ChangeConfiguration")
        tried.append(payload["value"])
        await charger.answer(unique_id, {"status": "Rejected"})
    unique_id, payload = await charger.expect_call("ChangeConfiguration")
    assert payload == {"key": "MeterValuesSampledData", "value": ENERGY}
    # Energy is what it has already: accepted.
    await charger.answer(unique_id, {"status": "Accepted"})
    assert tried == [f"{ENERGY},{POWER},SoC", f"{ENERGY},{POWER}"]
    unique_id, payload = await charger.expect_call("ChangeConfiguration")
    assert payload == {"key": "MeterValueSampleInterval", "value": "10"}
    await charger.answer(unique_id, {"status": "Rejected"})
    unique_id, payload = await charger.expect_call("ChangeConfiguration")
    assert payload == {"key": "StopTxnSampledData", "value": ENERGY}
    await charger.answer(unique_id, {"status": "Accepted"})
    await wait_for(lambda: learnt(charger))
    assert charger.station.warnings == {"meter_setting_refused": 1}
    assert charger.station.configuration["StopTxnSampledData"] == ENERGY


async def test_a_per_charger_override_wins(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger(
        "ocpp1.6",
        learn_capabilities=True,
        meter_measurands=(ENERGY, POWER),
        meter_interval_s=10,
        meter_overrides={"CP-1": MeterWish((ENERGY,), 60, ())},
    )
    unique_id, _ = await charger.expect_call("GetConfiguration")
    await charger.answer(unique_id, {"configurationKey": CONFIGURATION_16})
    # CONFIGURATION_16 samples the register every 60 s already: nothing to send.
    await wait_for(lambda: learnt(charger))
    assert charger.station.warnings == {}
    with pytest.raises(TimeoutError):  # a ChangeConfiguration would be waiting here
        await asyncio.wait_for(charger.websocket.recv(), 0.3)
