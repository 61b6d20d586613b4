"""Hostile charger input inside Home Assistant: nothing reaches the registries unsafe,
one failing entity costs nothing else, and an EVSE-id flood creates no entities."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.json import json_bytes
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from websockets.asyncio.client import ClientConnection, connect

from custom_components.ocpp_csms.csms.station import MAX_EVSE_ID
from custom_components.ocpp_csms.identifiers import charger_device_identifier
from custom_components.ocpp_csms.sensor import OcppSensor
from tests.chargers import PATIENCE_S, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage, state_of

T0 = "2026-11-23T10:00:00Z"


class Raw:
    """A charger that sends exact frames."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self._ids = 0

    async def call(self, action: str, payload: dict[str, Any], text: str | None = None) -> Any:
        """Send a CALL (or `text`, a CALL frame with this id) and return its answer."""
        self._ids += 1
        unique_id = f"r{self._ids}"
        frame = json.dumps([2, unique_id, action, payload])
        await self.websocket.send(text.replace("{id}", unique_id) if text else frame)
        async with asyncio.timeout(PATIENCE_S):
            while True:
                answer = json.loads(await self.websocket.recv())
                if answer[0] == 2:
                    await self.websocket.send(json.dumps([4, answer[1], "NotSupported", "", {}]))
                elif answer[1] == unique_id:
                    return answer


@asynccontextmanager
async def raw(entry: Any, version: str, boot_text: str | None = None) -> AsyncIterator[Raw]:
    async with connect(f"{url_of(entry)}/CP-1", subprotocols=[version]) as websocket:  # type: ignore[list-item]
        charger = Raw(websocket)
        boot = (
            {"chargePointVendor": "V", "chargePointModel": "M"}
            if version == "ocpp1.6"
            else {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
        )
        answer = await charger.call("BootNotification", boot, boot_text)
        assert answer[2]["status"] == "Accepted", answer
        yield charger


async def test_lone_surrogates_never_reach_the_device_registry(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    boot = (
        '[2, "{id}", "BootNotification", {"reason": "PowerUp", "chargingStation": '
        '{"vendorName": "Evil\\ud800", "model": "\\udfffModel", "firmwareVersion": "1\\ud800"}}]'
    )
    async with raw(entry, "ocpp2.0.1", boot):
        await hass.async_block_till_done()
        device = dr.async_get(hass).async_get_device_by_identifier(
            charger_device_identifier(entry.entry_id, "CP-1"), entry.entry_id
        )
        assert device is not None
        assert device.manufacturer == "Evil\ufffd"
        assert device.model == "\ufffdModel"
    # What Home Assistant will save can be written (the save failed on these before).
    json_bytes(dr.async_get(hass)._data_to_save())


async def test_an_entity_that_fails_costs_no_other_entity_nor_the_connection(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup_entry(chargers=[garage()])
    original = OcppSensor.handle_update

    def refuse_power(self: OcppSensor) -> None:
        if self.entity_description.key == "power":
            raise ValueError("Home Assistant refused the state")
        original(self)

    monkeypatch.setattr(OcppSensor, "handle_update", refuse_power)
    async with raw(entry, "ocpp1.6") as charger:
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        assert (await charger.call("StatusNotification", status))[0] == 3
        samples = [
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        ]
        meter = {"connectorId": 1, "meterValue": [{"timestamp": T0, "sampledValue": samples}]}
        assert (await charger.call("MeterValues", meter))[0] == 3
        assert (await charger.call("MeterValues", meter))[0] == 3
        await hass.async_block_till_done()
        assert state_of(hass, "sensor.garage_status").state == "charging"
    # The failure stayed with that entity: the event that carried it was handled whole.
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures
    assert all(message.startswith("Updating an entity of charger CP-1") for message in failures)
    # Gone and back: it is not locked out.
    async with raw(entry, "ocpp1.6") as charger:
        assert (await charger.call("Heartbeat", {}))[0] == 3


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_an_evse_id_flood_creates_no_entities(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_entry(chargers=[garage()])
    registry = er.async_get(hass)
    async with raw(entry, version) as charger:
        for evse_id in [1, *range(2, 45), 2**62]:
            if version == "ocpp1.6":
                status = {"connectorId": evse_id, "errorCode": "NoError", "status": "Available"}
            else:
                status = {
                    "timestamp": T0,
                    "connectorStatus": "Available",
                    "evseId": evse_id,
                    "connectorId": 1,
                }
            await charger.call("StatusNotification", status)
        await hass.async_block_till_done()
        await wait_for(lambda: "sensor.garage_status" in hass.states.async_entity_ids())
        per_evse = [
            entity
            for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
            if entity.unique_id.endswith("-status") or "_status" in entity.entity_id
        ]
        station = entry.runtime_data.system.stations["CP-1"]
        assert max(station.evses) <= MAX_EVSE_ID
        entities = er.async_entries_for_config_entry(registry, entry.entry_id)
        # A dozen or so per EVSE, for at most MAX_EVSE_ID of them: never one per message.
        assert len(entities) < 20 * (MAX_EVSE_ID + 1), len(entities)
        assert per_evse
    # Home Assistant's state API still answers for everyone (an id beyond 2**63 in an
    # attribute made it fail).
    json_bytes([state.as_dict() for state in hass.states.async_all()])
    # The refusals are counted where a support thread looks.
    found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert found["chargers"]["CP-1"]["warnings"]["id_out_of_range"] >= 36
    assert found["chargers"]["CP-1"]["journal_rows_refused"] == 0
    assert found["journal"] == {"health": "ok", "rows_refused": 0, "writes_shed": 0}
