"""Tags in sessions: the per-tag current limit at start, and stopping with another tag."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.authorization import (
    AuthorizationMode,
    Tag,
    TagRegistry,
)
from custom_components.ocpp_csms.csms.events import TransactionEnded
from custom_components.ocpp_csms.csms.station_facts import Capabilities
from tests.chargers import wait_for
from tests.engine.conftest import ConnectRaw, RawCharger
from tests.engine.test_messages_2x import event

T0 = "2026-11-23T10:00:00Z"


def household() -> TagRegistry:
    registry = TagRegistry()
    registry.load(
        [
            Tag("MASTER"),
            Tag("KID", parent_id="MASTER"),
            Tag("GUEST", max_current_a=10, parent_id="VISITORS"),
            Tag("NEIGHBOUR", chargers=frozenset({"elsewhere"})),
        ],
        AuthorizationMode.KNOWN_TAGS,
    )
    return registry


async def connect(raw_charger: ConnectRaw, version: str) -> RawCharger:
    charger = await raw_charger(version, authorizer=household())
    # Its local list first: these tests are about sessions.
    uid, _ = await charger.expect_call("GetLocalListVersion")
    await charger.answer(uid, {"listVersion": -1} if version == "ocpp1.6" else {"versionNumber": 0})
    if version != "ocpp1.6":
        uid, _ = await charger.expect_call("SendLocalList")
        await charger.answer(uid, {"status": "Accepted"})
    return charger


async def start_16(charger: RawCharger, tag: str) -> dict[str, Any]:
    return await charger.result(
        "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": T0}
    )


async def start_2x(charger: RawCharger, tag: str) -> dict[str, Any]:
    return await charger.result(
        "TransactionEvent",
        event(
            "Started",
            0,
            idToken={"idToken": tag, "type": "ISO14443"},
            evse={"id": 1, "connectorId": 1},
        ),
    )


async def test_tag_limit_is_sent_as_a_tx_profile_after_a_16_start(raw_charger: ConnectRaw) -> None:
    charger = await connect(raw_charger, "ocpp1.6")
    answer = await start_16(charger, "guest")
    assert answer["idTagInfo"] == {"status": "Accepted", "parentIdTag": "VISITORS"}
    uid, payload = await charger.expect_call("SetChargingProfile")
    profile = payload["csChargingProfiles"]
    assert payload["connectorId"] == 1
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == answer["transactionId"]
    assert profile["chargingSchedule"]["chargingRateUnit"] == "A"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 10
    await charger.answer(uid, {"status": "Accepted"})


async def test_tag_limit_is_sent_after_a_2x_start(raw_charger: ConnectRaw) -> None:
    charger = await connect(raw_charger, "ocpp2.0.1")
    answer = await start_2x(charger, "GUEST")
    assert answer["idTokenInfo"]["status"] == "Accepted"
    uid, payload = await charger.expect_call("SetChargingProfile")
    assert payload["evseId"] == 1
    profile = payload["chargingProfile"]
    assert (profile["chargingProfilePurpose"], profile["transactionId"]) == ("TxProfile", "TX-1")
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 10
    await charger.answer(uid, {"status": "Accepted"})
    # Later events of the same session do not send it again.
    await charger.result("TransactionEvent", event("Updated", 1, trigger="MeterValuePeriodic"))
    await asyncio.sleep(0.05)
    assert not charger._calls


async def test_refused_tag_limit_is_a_station_warning(raw_charger: ConnectRaw) -> None:
    charger = await connect(raw_charger, "ocpp1.6")
    await start_16(charger, "GUEST")
    uid, _ = await charger.expect_call("SetChargingProfile")
    await charger.answer(uid, {"status": "Rejected"})
    await wait_for(lambda: "tag_limit_not_applied" in charger.station.warnings)


async def test_tag_limit_skipped_on_chargers_without_smart_charging(
    raw_charger: ConnectRaw,
) -> None:
    charger = await connect(raw_charger, "ocpp1.6")
    charger.station.capabilities = Capabilities(features=frozenset({"Core"}))
    await start_16(charger, "GUEST")
    await wait_for(lambda: "tag_limit_not_supported" in charger.station.warnings)
    assert not charger._calls


async def test_tags_without_a_limit_send_no_profile(raw_charger: ConnectRaw) -> None:
    charger = await connect(raw_charger, "ocpp1.6")
    await start_16(charger, "MASTER")
    await asyncio.sleep(0.05)
    assert not charger._calls


@pytest.mark.parametrize(
    ("tag", "status"),
    [("UNKNOWN", "Invalid"), ("NEIGHBOUR", "Invalid"), ("KID", "Accepted")],
)
async def test_16_start_transaction_is_authorized(
    raw_charger: ConnectRaw, tag: str, status: str
) -> None:
    charger = await connect(raw_charger, "ocpp1.6")
    answer = await start_16(charger, tag)
    assert answer["idTagInfo"]["status"] == status


@pytest.mark.parametrize(
    ("tag", "status"),
    [("UNKNOWN", "Unknown"), ("NEIGHBOUR", "NotAtThisLocation"), ("KID", "Accepted")],
)
async def test_2x_transaction_event_is_authorized(
    raw_charger: ConnectRaw, tag: str, status: str
) -> None:
    charger = await connect(raw_charger, "ocpp2.0.1")
    answer = await start_2x(charger, tag)
    assert answer["idTokenInfo"]["status"] == status


@pytest.mark.parametrize(("stop_tag", "allowed"), [("MASTER", True), ("GUEST", False)])
async def test_stop_with_another_tag_follows_the_group(
    raw_charger: ConnectRaw, stop_tag: str, allowed: bool
) -> None:
    charger = await connect(raw_charger, "ocpp1.6")
    started = await start_16(charger, "KID")
    await charger.result(
        "StopTransaction",
        {
            "transactionId": started["transactionId"],
            "idTag": stop_tag,
            "meterStop": 100,
            "timestamp": T0,
        },
    )
    [ended] = charger.running.recorder.of_type(TransactionEnded)
    assert ended.transaction.stop_allowed is allowed
    assert ("stopped_by_other_group" in charger.station.warnings) is not allowed
