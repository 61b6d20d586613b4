"""Actions: every one accepted, refused, timed out and offline, and bad input refused."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import probatio
import pytest
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from websockets.asyncio.client import connect

from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.identifiers import charger_device_identifier
from tests.chargers import PATIENCE_S, charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage

PROFILE = {
    "id": 5,
    "stack_level": 1,
    "purpose": "tx_default",
    "kind": "Recurring",
    "recurrency": "Daily",
    "start_schedule": "2026-12-01T22:00:00+00:00",
    "unit": "A",
    "periods": [{"start": 0, "limit": 16}, {"start": 28800, "limit": 6, "phases": 3}],
}
CONFIG_KEY = {"ocpp1.6": "HeartbeatInterval", "ocpp2.0.1": "OCPPCommCtrlr/HeartbeatInterval"}

SESSION, RESERVATION = "a running session", "a reservation with id 7"
# (action, data, CALL in 1.6, CALL in 2.x, response expected, what it needs first)
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any] | None, str | None]] = [
    ("start_charging", {"connector": 1, "current_limit": 10},
     "RemoteStartTransaction", "RequestStartTransaction", None, None),
    ("stop_charging", {}, "RemoteStopTransaction", "RequestStopTransaction", None, SESSION),
    ("reset", {"type": "hard"}, "Reset", "Reset", None, None),
    ("unlock_connector", {"connector": 1}, "UnlockConnector", "UnlockConnector", None, None),
    ("get_local_list_version", {}, "GetLocalListVersion", "GetLocalListVersion",
     {"version": 0}, None),
    ("clear_authorization_cache", {}, "ClearCache", "ClearCache", None, None),
    ("set_availability", {"available": False}, "ChangeAvailability", "ChangeAvailability",
     None, None),
    ("set_charging_limit", {"limit": 10, "unit": "A", "connector": 0, "duration": 3600},
     "SetChargingProfile", "SetChargingProfile", None, None),
    ("set_charging_profile", {"connector": 1, "profile": PROFILE},
     "SetChargingProfile", "SetChargingProfile", None, None),
    ("clear_charging_profile", {"purpose": "tx_default"},
     "ClearChargingProfile", "ClearChargingProfile", None, None),
    ("get_composite_schedule", {"connector": 1, "duration": 600},
     "GetCompositeSchedule", "GetCompositeSchedule", {"unit": "A", "duration_s": 600}, None),
    ("get_configuration", {"keys": ["<key>"]}, "GetConfiguration", "GetVariables",
     {"unknown_keys": []}, None),
    ("set_configuration", {"key": "<key>", "value": "120"},
     "ChangeConfiguration", "SetVariables", None, None),
    ("trigger_message", {"message": "StatusNotification"},
     "TriggerMessage", "TriggerMessage", None, None),
    ("data_transfer", {"vendor_id": "com.example", "data": "ping"},
     "DataTransfer", "DataTransfer", {"status": "Accepted", "data": "ping"}, None),
    ("reserve_now",
     {"tag": "T1", "expiry": "2030-01-01T00:00:00+00:00", "connector": 1, "reservation_id": 7},
     "ReserveNow", "ReserveNow", {"reservation_id": 7}, None),
    ("cancel_reservation", {"reservation_id": 7}, "CancelReservation", "CancelReservation",
     None, RESERVATION),
    ("update_firmware", {"url": "http://127.0.0.1:9/fw.bin"}, "UpdateFirmware", "UpdateFirmware",
     None, None),
    ("upload_diagnostics", {"url": "http://127.0.0.1:9/up"}, "GetDiagnostics", "GetLog",
     {"file_name": "CP-1-diagnostics.txt"}, None),
]  # fmt: skip
RESPONSES = {"get_composite_schedule", "get_configuration", "data_transfer", "reserve_now",
             "upload_diagnostics", "get_local_list_version", "list_reservations"}  # fmt: skip


def device_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-1"), entry.entry_id
    )
    assert device is not None
    return device.id


def _data(data: dict[str, Any], version: str) -> dict[str, Any]:
    key = CONFIG_KEY[version]
    replaced = {name: key if value == "<key>" else value for name, value in data.items()}
    if replaced.get("keys") == ["<key>"]:
        replaced["keys"] = [key]
    return replaced


async def call(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    action: str,
    data: dict[str, Any],
    context: Context | None = None,
) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        action,
        {"device_id": device_id(hass, entry), **data},
        blocking=True,
        return_response=action in RESPONSES,
        context=context,
    )


@asynccontextmanager
async def booted(hass: HomeAssistant, entry: MockConfigEntry, version: str) -> AsyncIterator[Any]:
    async with charger(url_of(entry), "CP-1", version) as client:
        client.configuration[CONFIG_KEY[version]] = "300"
        await client.boot()
        await client.send_status(1, "Available")
        await hass.async_block_till_done()
        yield client


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
async def test_action_accepted(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str, case: tuple[Any, ...]
) -> None:
    action, data, call_16, call_2x, response, needs = case
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, version) as client:
        if needs == SESSION:
            await client.start_session(1)
        elif needs == RESERVATION:
            reserve = {"tag": "T1", "expiry": "2030-01-01T00:00:00+00:00", "reservation_id": 7}
            await call(hass, entry, "reserve_now", {**reserve, "connector": 1})
        answer = await call(hass, entry, action, _data(data, version))
        expected = call_16 if version == "ocpp1.6" else call_2x
        await wait_for(lambda: any(name == expected for name, _ in client.received))
        for key, value in (response or {}).items():
            assert answer[key] == value, answer


# (action, data, the CALL the charger refuses in 1.6 and in 2.x). Every action a charger
# can refuse with a status word is here; None where that version's answer has no status
# (1.6 UpdateFirmware, GetDiagnostics and GetConfiguration can only fail with a
# CALLERROR; 2.x GetVariables answers per variable). ClearChargingProfile has no refusal.
REFUSALS = [
    ("start_charging", {}, "RemoteStartTransaction", "RequestStartTransaction"),
    ("stop_charging", {}, "RemoteStopTransaction", "RequestStopTransaction"),
    ("reset", {"type": "soft"}, "Reset", "Reset"),
    ("unlock_connector", {"connector": 1}, "UnlockConnector", "UnlockConnector"),
    ("set_availability", {"available": False}, "ChangeAvailability", "ChangeAvailability"),
    ("set_charging_limit", {"limit": 8}, "SetChargingProfile", "SetChargingProfile"),
    ("set_charging_profile", {"profile": PROFILE}, "SetChargingProfile", "SetChargingProfile"),
    ("get_composite_schedule", {}, "GetCompositeSchedule", "GetCompositeSchedule"),
    ("set_configuration", {"key": "<key>", "value": "1"}, "ChangeConfiguration", "SetVariables"),
    ("trigger_message", {"message": "Heartbeat"}, "TriggerMessage", "TriggerMessage"),
    ("data_transfer", {"vendor_id": "v"}, "DataTransfer", "DataTransfer"),
    ("reserve_now", {"tag": "T", "expiry": "2030-01-01T00:00:00"}, "ReserveNow", "ReserveNow"),
    ("cancel_reservation", {"reservation_id": 3}, "CancelReservation", "CancelReservation"),
    ("clear_authorization_cache", {}, "ClearCache", "ClearCache"),
    ("update_firmware", {"url": "http://127.0.0.1:9/fw"}, None, "UpdateFirmware"),
    ("upload_diagnostics", {"url": "http://127.0.0.1:9/up"}, None, "GetLog"),
]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize(
    ("action", "data", "refused_16", "refused_2x"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
async def test_action_refused(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    version: str,
    action: str,
    data: dict[str, Any],
    refused_16: str | None,
    refused_2x: str | None,
) -> None:
    refused = refused_16 if version == "ocpp1.6" else refused_2x
    if refused is None:
        pytest.skip("this version's answer has no status to refuse with")
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, version) as client:
        if action == "stop_charging":
            await client.start_session(1)
        client.answers[refused] = "UnlockFailed" if action == "unlock_connector" else "Rejected"
        with pytest.raises(HomeAssistantError) as error:
            await call(hass, entry, action, _data(data, version))
        assert error.value.translation_key == "command_rejected"
        assert (error.value.translation_placeholders or {})["charger"] == "Garage"


SILENT_CASES = [case for case in CASES if case[5] != SESSION]


@pytest.mark.parametrize("case", SILENT_CASES, ids=[case[0] for case in SILENT_CASES])
async def test_action_times_out_then_goes_offline(
    hass: HomeAssistant, setup_entry: SetUpEntry, case: tuple[Any, ...]
) -> None:
    """A charger that never answers: timed out, bounded. No charger: offline, at once."""
    action, data = case[0], _data(case[1], "ocpp1.6")
    entry = await setup_entry(chargers=[garage()])
    system = entry.runtime_data.system
    system.settings = dataclasses.replace(system.settings, call_timeout=0.2)
    async with connect(f"{url_of(entry)}/CP-1", subprotocols=["ocpp1.6"]) as silent:  # type: ignore[list-item]
        await wait_for(lambda: system.connection("CP-1") is not None)
        with pytest.raises(HomeAssistantError) as error:
            await call(hass, entry, action, data)
        assert error.value.translation_key == "command_timed_out"
        await silent.close()
    await wait_for(lambda: system.connection("CP-1") is None)
    with pytest.raises(HomeAssistantError) as error:
        # Offline, not timed out; the bound only ends a hang (a busy machine is slow).
        await asyncio.wait_for(call(hass, entry, action, data), PATIENCE_S)
    assert error.value.translation_key == "command_offline"


async def test_bad_input_is_refused(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, "ocpp1.6"):
        with pytest.raises(ServiceValidationError) as error:
            await hass.services.async_call(DOMAIN, "reset", {"device_id": "nope"}, blocking=True)
        assert error.value.translation_key == "unknown_device"

        central = dr.async_get(hass).async_get_device_by_identifier(
            (DOMAIN, entry.entry_id), entry.entry_id
        )
        assert central is not None
        with pytest.raises(ServiceValidationError) as error:
            await hass.services.async_call(
                DOMAIN, "reset", {"device_id": central.id}, blocking=True
            )
        assert error.value.translation_key == "not_a_charger"

        with pytest.raises(ServiceValidationError) as error:
            await call(hass, entry, "start_charging", {"connector": 5})
        assert error.value.translation_key == "unknown_connector"
        assert str(error.value) == "Garage has no connector 5 (it has 1)"

        with pytest.raises(ServiceValidationError) as error:
            await call(hass, entry, "set_charging_profile", {"profile": {"id": 1, "purpose": "x"}})
        assert error.value.translation_key == "invalid_profile"

        with pytest.raises(ServiceValidationError) as error:
            await call(hass, entry, "stop_charging", {})
        assert error.value.translation_key == "no_session"


async def test_configuration_actions_are_for_admins(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_read_only_user: Any
) -> None:
    entry = await setup_entry(chargers=[garage()])
    user = hass_read_only_user
    assert not user.is_admin
    async with booted(hass, entry, "ocpp1.6") as client:
        for action, data in (
            ("reset", {}),
            ("set_configuration", {"key": "K", "value": "V"}),
            ("update_firmware", {"url": "http://127.0.0.1:9/fw"}),
        ):
            with pytest.raises(Unauthorized):
                await call(hass, entry, action, data, context=Context(user_id=user.id))
        # Everyday actions are for everyone.
        await call(hass, entry, "start_charging", {}, context=Context(user_id=user.id))
        await wait_for(lambda: bool(client.transactions))


async def test_2x_configuration_without_keys_is_the_base_report(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, "ocpp2.0.1"):
        station = entry.runtime_data.system.stations["CP-1"]
        await wait_for(lambda: station.capabilities is not None)
        answer = await call(hass, entry, "get_configuration", {})
        assert answer["configuration"]["OCPPCommCtrlr/HeartbeatInterval"] == {"value": "300"}


async def test_reset_of_one_connector(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """2.x restarts the connector named; 1.6 cannot, and says so before sending anything."""
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, "ocpp2.0.1") as client:
        await call(hass, entry, "reset", {"type": "hard", "connector": 1})
        assert ("Reset", {"type": "Immediate", "evse_id": 1}) in client.received
    async with booted(hass, entry, "ocpp1.6") as client:
        with pytest.raises(ServiceValidationError) as error:
            await call(hass, entry, "reset", {"connector": 1})
        assert error.value.translation_key == "reset_connector_needs_2x"
        assert not [name for name, _ in client.received if name == "Reset"]
        # Connector 0 is the whole charger, in any version.
        await call(hass, entry, "reset", {"connector": 0})
        await wait_for(lambda: ("Reset", {"type": "Soft"}) in client.received)


@pytest.mark.parametrize(
    ("version", "error_key"),
    [("ocpp1.6", "command_not_supported"), ("ocpp2.0.1", "charger_has_no_connector")],
)
async def test_unlock_asks_the_charger_about_any_connector(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str, error_key: str
) -> None:
    """A connector the charger never named still goes to it, and it answers for itself."""
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, version) as client:
        with pytest.raises(HomeAssistantError) as error:
            await call(hass, entry, "unlock_connector", {"connector": 5})
        assert error.value.translation_key == error_key
        assert any(name == "UnlockConnector" for name, _ in client.received)
        # Beyond what any charger may have, nothing is sent.
        with pytest.raises(probatio.Invalid):
            await call(hass, entry, "unlock_connector", {"connector": 10**30})


async def test_a_charger_without_a_local_list_says_so(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, "ocpp1.6") as client:
        client.local_list_version = 3
        assert await call(hass, entry, "get_local_list_version", {}) == {"version": 3}
        client.configuration["SupportedFeatureProfiles"] = "Core"
        with pytest.raises(HomeAssistantError) as error:
            await call(hass, entry, "get_local_list_version", {})
        assert error.value.translation_key == "no_local_list"
        assert str(error.value) == "Garage has no local authorization list"
