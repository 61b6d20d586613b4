"""What chargers report beyond their model: events, logbook lines, diagnostics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeassistant.components.logbook import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ocpp_csms.charger_reports import (
    EVENT_DATA_TRANSFER,
    EVENT_SECURITY,
    MAX_EVENT_DATA_CHARS,
)
from custom_components.ocpp_csms.file_progress import EVENT_FIRMWARE_STATUS
from custom_components.ocpp_csms.identifiers import charger_device_identifier
from custom_components.ocpp_csms.logbook import async_describe_events
from custom_components.ocpp_csms.logbook_phrases import async_load_phrases
from tests.ha.conftest import SetUpEntry
from tests.ha.test_entities import garage, online


def now_text() -> str:
    return datetime.now(UTC).isoformat()


def _recorded(hass: HomeAssistant, event_type: str) -> list[Event]:
    seen: list[Event] = []

    @callback
    def record(event: Event) -> None:
        seen.append(event)

    hass.bus.async_listen(event_type, record)
    return seen


async def test_a_security_event_is_an_event_with_the_charger_and_its_device(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    seen = _recorded(hass, EVENT_SECURITY)
    async with online(hass, entry) as client:
        await client.call(
            call16.SecurityEventNotification(
                type="FirmwareUpdated", timestamp=now_text(), tech_info="1.2.3"
            )
        )
        await hass.async_block_till_done()
    [event] = seen
    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-1"), entry.entry_id
    )
    assert device is not None
    assert event.data["name"] == "Garage"
    assert event.data["device_id"] == device.id
    assert (event.data["type"], event.data["tech_info"]) == ("FirmwareUpdated", "1.2.3")


async def test_vendor_data_is_an_event_unless_too_big_and_a_flood_is_bounded(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_entry(chargers=[garage()])
    seen = _recorded(hass, EVENT_DATA_TRANSFER)
    async with online(hass, entry) as client:
        await client.call(call16.DataTransfer(vendor_id="com.example", data='{"x":1}'))
        big = "y" * (MAX_EVENT_DATA_CHARS + 1)
        await client.call(call16.DataTransfer(vendor_id="com.example", data=big))
        for _ in range(20):
            await client.call(call16.DataTransfer(vendor_id="com.example"))
        await hass.async_block_till_done()
        found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert seen[0].data["data"] == '{"x":1}'
    assert (seen[1].data["data"], seen[1].data["data_left_out"]) == (None, True)
    # A few a minute per charger reach the bus; the rest are counted.
    assert len(seen) == 10
    assert found["chargers"]["CP-1"]["events_left_out"]["reports"] == 12


async def test_notices_and_when_it_was_last_seen_are_in_diagnostics(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, "ocpp2.0.1") as client:
        await client.call(
            call201.NotifyEvent(
                generated_at=now_text(),
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": now_text(),
                        "trigger": "Alerting",
                        "actual_value": "Faulted",
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "ChargingStation"},
                        "variable": {"name": "Problem"},
                    }
                ],
            )
        )
        await hass.async_block_till_done()
        found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    charger = found["chargers"]["CP-1"]
    [notice] = charger["notices"]
    assert notice["kind"] == "event"
    assert "Problem" in notice["data"]
    assert charger["last_seen"] is not None


async def test_the_logbook_reads_each_event_as_a_sentence(hass: HomeAssistant) -> None:
    await async_load_phrases(hass)
    described: dict[str, Any] = {}
    async_describe_events(
        hass, lambda domain, event_type, describe: described.__setitem__(event_type, describe)
    )
    data = {"charger_id": "CP-1", "name": "Garage"}
    lines = {
        event_type: described[event_type](Event(event_type, {**data, **extra}))
        for event_type, extra in (
            (EVENT_SECURITY, {"type": "FirmwareUpdated"}),
            (EVENT_DATA_TRANSFER, {"vendor_id": "com.example"}),
            (EVENT_FIRMWARE_STATUS, {"status": "Installed"}),
        )
    }
    assert {line[LOGBOOK_ENTRY_NAME] for line in lines.values()} == {"Garage"}
    assert lines[EVENT_SECURITY][LOGBOOK_ENTRY_MESSAGE] == (
        "reported a security event: FirmwareUpdated"
    )
    assert lines[EVENT_DATA_TRANSFER][LOGBOOK_ENTRY_MESSAGE] == "sent vendor data (com.example)"
    assert lines[EVENT_FIRMWARE_STATUS][LOGBOOK_ENTRY_MESSAGE] == "firmware update: Installed"
