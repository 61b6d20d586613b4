"""Entities: the full set per charger kind, controls that tell the truth, events, Assist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_PORT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Context, HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_csms.const import CONF_CHARGER_ID, CONF_PASSWORD_HASH, SUBENTRY_CHARGER
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of


def garage(charger_id: str = "CP-1", title: str = "Garage", **settings: Any) -> dict[str, Any]:
    return {
        "data": {CONF_CHARGER_ID: charger_id, CONF_PASSWORD_HASH: None, **settings},
        "subentry_type": SUBENTRY_CHARGER,
        "title": title,
        "unique_id": charger_id,
    }


@asynccontextmanager
async def online(
    hass: HomeAssistant, entry: MockConfigEntry, version: str = "ocpp1.6", **options: Any
) -> AsyncIterator[Any]:
    """A booted simulated charger CP-1, its entities settled."""
    async with charger(url_of(entry), "CP-1", version, charger_options=options) as client:
        assert await client.boot() == "Accepted"
        # Set up as after any boot: learnt, then the current limit read back (a task
        # Home Assistant tracks), so that a test's own commands come after those.
        station = entry.runtime_data.system.stations["CP-1"]
        await wait_for(lambda: station.capabilities is not None)
        await hass.async_block_till_done()
        yield client


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    """The state of an entity that must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def settle(hass: HomeAssistant) -> None:
    """Let entities that were just revealed be added."""
    await hass.async_block_till_done()


def entity_table(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Every entity of the entry: how it is registered and what it shows.

    The central system's own entities are named after the entry, whose title has the
    port the test got: it reads `<port>` here.
    """
    registry = er.async_get(hass)
    port = str(entry.data[CONF_PORT])

    def steady(text: Any) -> Any:
        if type(text) is not str:  # str enums stay as they are
            return text
        return text.replace(f"port {port}", "port <port>").replace(f"port_{port}", "port_<port>")

    table: dict[str, Any] = {}
    for item in sorted(
        er.async_entries_for_config_entry(registry, entry.entry_id), key=lambda e: e.entity_id
    ):
        state = hass.states.get(item.entity_id)
        value = state.state if state else None
        # Attribute keys are str enums in newer Home Assistant: compare them as strings.
        attributes = (
            {str(key): steady(value) for key, value in state.attributes.items()} if state else None
        )
        if item.domain == "event" and value not in (None, "unknown", STATE_UNAVAILABLE):
            # Times and transaction ids differ on every run.
            value = "<time of the last event>"
            if attributes and "transaction_id" in attributes:
                attributes["transaction_id"] = "<transaction id>"
        table[steady(item.entity_id)] = {
            "key": item.unique_id.split("-", 1)[1],
            "translation_key": item.translation_key,
            "entity_category": item.entity_category,
            "disabled_by": item.disabled_by,
            "state": value,
            "attributes": attributes,
        }
    return table


@pytest.mark.parametrize(
    ("version", "options"),
    [("ocpp1.6", {"connectors": 1}), ("ocpp1.6", {"connectors": 2}), ("ocpp2.0.1", {})],
    ids=["16_single", "16_two_connectors", "201"],
)
async def test_entity_set(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    snapshot: SnapshotAssertion,
    frozen_clock: None,
    version: str,
    options: dict[str, Any],
) -> None:
    """The full entity set after a session, per charger kind (on a fixed day)."""
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, version, **options) as client:
        for connector in client.energy_wh:
            await client.send_status(connector, "Available")
        last = max(client.energy_wh)
        await client.send_status(last, "Preparing")
        await client.start_session(last, "TAG1")
        await client.send_meter_values(last, 60)
        await client.stop_session(last)
        await settle(hass)
        assert entity_table(hass, entry) == snapshot


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_single_phase_charger_starts_without_per_phase_currents(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    """One phase measured: its current is the charger's current, shown once."""
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, version, phases=1) as client:
        await client.start_session(1, "TAG1")
        await client.send_meter_values(1, 60)
        await settle(hass)
        registry = er.async_get(hass)
        phase = registry.async_get("sensor.garage_current_l1")
        assert phase is not None
        assert phase.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert registry.async_get("sensor.garage_current_l2") is None
        assert float(state_of(hass, "sensor.garage_current").state) > 6
        # Not needed on day one whatever the phases: what the charger offers.
        offered = registry.async_get("sensor.garage_current_offered")
        assert offered is not None
        assert offered.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_three_phase_charger_shows_each_phase(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, phases=3) as client:
        await client.start_session(1, "TAG1")
        await client.send_meter_values(1, 60)
        await settle(hass)
        for phase in ("l1", "l2", "l3"):
            assert float(state_of(hass, f"sensor.garage_current_{phase}").state) > 6
        # Unequal phases (a car drawing more on one): the plain current is the highest,
        # what the per-phase limit compares with, not the first or the mean.
        sampled = [
            {"value": value, "measurand": "Current.Import", "phase": phase, "unit": "A"}
            for phase, value in (("L1", "9.0"), ("L2", "13.0"), ("L3", "11.0"), ("N", "20.0"))
        ]
        transaction_id = int(client.transactions[1])
        await client.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": client.now_text(), "sampled_value": sampled}],
            )
        )
        await settle(hass)
        assert state_of(hass, "sensor.garage_current_l2").state == "13.0"
        assert state_of(hass, "sensor.garage_current").state == "13.0"


async def _switch(hass: HomeAssistant, service: str, entity_id: str) -> None:
    await hass.services.async_call("switch", service, {ATTR_ENTITY_ID: entity_id}, blocking=True)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_charging_switch_follows_the_transaction(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, version) as client:
        await client.send_status(1, "Preparing")
        await settle(hass)
        assert state_of(hass, "switch.garage_charging").state == STATE_OFF
        await _switch(hass, "turn_on", "switch.garage_charging")
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_ON)
        start = "RemoteStartTransaction" if version == "ocpp1.6" else "RequestStartTransaction"
        assert client.received[-1][0] == start
        # The switch is on once we have the transaction; a 1.6 charger learns its id only
        # from our answer, and refuses to stop a transaction it does not know yet.
        await wait_for(lambda: bool(client.transactions))
        await _switch(hass, "turn_off", "switch.garage_charging")
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_OFF)
        assert not client.transactions


@pytest.mark.parametrize(
    ("version", "action"),
    [("ocpp1.6", "RemoteStartTransaction"), ("ocpp2.0.1", "RequestStartTransaction")],
)
async def test_refused_start_raises_and_the_state_does_not_lie(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str, action: str
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, version) as client:
        await client.send_status(1, "Preparing")
        await settle(hass)
        client.answers[action] = "Rejected"
        with pytest.raises(HomeAssistantError) as refused:
            await _switch(hass, "turn_on", "switch.garage_charging")
        assert refused.value.translation_key == "command_rejected"
        assert (refused.value.translation_placeholders or {})["charger"] == "Garage"
        assert str(refused.value) == "Garage refused the command (Rejected)"
        assert state_of(hass, "switch.garage_charging").state == STATE_OFF


async def test_charger_settings_are_used(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """Remote starts use the charger's own tag; the limit stops at its own maximum."""
    entry = await setup_entry(chargers=[garage(default_tag="GARAGE-CARD", max_current=16)])
    async with online(hass, entry) as client:
        await client.send_status(1, "Preparing")
        await settle(hass)
        await _switch(hass, "turn_on", "switch.garage_charging")
        assert client.received[-1] == (
            "RemoteStartTransaction",
            {"id_tag": "GARAGE-CARD", "connector_id": 1},
        )
        assert state_of(hass, "number.garage_current_limit").attributes["max"] == 16
        with pytest.raises(ServiceValidationError):
            await _set_limit(hass, 20)


async def test_offline_charger_raises(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        await client.send_status(1, "Available")
        await settle(hass)
    await wait_for(lambda: state_of(hass, "button.garage_unlock_cable").state == STATE_UNAVAILABLE)
    entity = hass.data["entity_components"]["button"].get_entity("button.garage_restart")
    with pytest.raises(HomeAssistantError) as refused:
        await entity.async_press()
    assert refused.value.translation_key == "command_offline"


async def _set_limit(hass: HomeAssistant, value: float) -> None:
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: "number.garage_current_limit", "value": value},
        blocking=True,
    )


@pytest.mark.parametrize(
    ("version", "configuration", "unit", "limit"),
    [
        ("ocpp1.6", {"ChargingScheduleAllowedChargingRateUnit": "Current"}, "A", 16.0),
        # Only watts: 16 A x 230 V x 3 phases measured
        ("ocpp1.6", {"ChargingScheduleAllowedChargingRateUnit": "Power"}, "W", 11040.0),
        ("ocpp2.0.1", {"SmartChargingCtrlr/RateUnit": "A,W"}, "A", 16.0),
        ("ocpp2.0.1", {"SmartChargingCtrlr/RateUnit": "W"}, "W", 11040.0),
    ],
)
async def test_current_limit_uses_the_unit_the_charger_takes(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    version: str,
    configuration: dict[str, str],
    unit: str,
    limit: float,
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with charger(url_of(entry), "CP-1", version) as client:
        client.configuration.update(configuration)
        await client.boot()
        await wait_for(lambda: entry.runtime_data.system.stations["CP-1"].capabilities is not None)
        await hass.async_block_till_done()  # the limit read back after learning
        await client.start_session(1)
        await client.send_meter_values(1, 60)  # three phases measured
        await _set_limit(hass, 16)
        assert state_of(hass, "number.garage_current_limit").state == "16.0"
        action, payload = client.received[-1]
        assert action == "SetChargingProfile"
        profile = payload.get("cs_charging_profiles") or payload["charging_profile"]
        schedule = profile["charging_schedule"]
        schedule = schedule[0] if isinstance(schedule, list) else schedule
        assert schedule["charging_rate_unit"] == unit
        assert schedule["charging_schedule_period"][0]["limit"] == limit
        purpose = profile["charging_profile_purpose"]
        assert purpose in ("ChargePointMaxProfile", "ChargingStationMaxProfile")


async def test_current_limit_snaps_back_when_refused(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        await _set_limit(hass, 10)
        client.answers["SetChargingProfile"] = "Rejected"
        with pytest.raises(HomeAssistantError):
            await _set_limit(hass, 20)
        # Both the station maximum and the default-profile fallback were tried.
        purposes = [
            payload["cs_charging_profiles"]["charging_profile_purpose"]
            for action, payload in client.received
            if action == "SetChargingProfile"
        ]
        assert purposes[-2:] == ["ChargePointMaxProfile", "TxDefaultProfile"]
        assert state_of(hass, "number.garage_current_limit").state == "10.0"


async def test_events_fire(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        await client.call(call16.Authorize(id_tag="04A2B3"))
        tag = state_of(hass, "event.garage_tag")
        assert tag.attributes["event_type"] == "accepted"
        assert tag.attributes["tag"] == "04A2B3"
        await client.start_session(1, "04A2B3")
        assert state_of(hass, "event.garage_session").attributes["event_type"] == "started"
        await client.send_meter_values(1, 3600)
        await client.stop_session(1)
        session = state_of(hass, "event.garage_session")
        assert session.attributes["event_type"] == "ended"
        assert session.attributes["energy_kwh"] == pytest.approx(11.0)
        assert session.attributes["tag"] == "04A2B3"


async def test_entities_appear_as_the_charger_reveals_them(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, connectors=2) as client:
        assert hass.states.get("sensor.garage_status") is None
        await client.send_status(1, "Available")
        await settle(hass)
        assert state_of(hass, "sensor.garage_status").state == "available"
        assert hass.states.get("sensor.garage_power") is None
        await client.send_status(2, "Faulted")
        await client.start_session(2)
        await client.send_meter_values(2, 60)
        await settle(hass)
        assert state_of(hass, "sensor.garage_connector_2_status").state == "charging"
        assert float(state_of(hass, "sensor.garage_connector_2_power").state) == 11000
        assert hass.states.get("sensor.garage_connector_2_current_l3") is not None
    assert entry.state is ConfigEntryState.LOADED


async def test_energy_and_limit_restore_after_a_restart(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """After a restart the register and the limit show their last values at once."""
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        client.energy_wh[1] = 5000
        await client.send_meter_values(1, 0)
        await _set_limit(hass, 12)
        await settle(hass)
    assert state_of(hass, "sensor.garage_energy").state == "5.0"

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    # The charger has not reconnected: values come from what was stored.
    assert state_of(hass, "sensor.garage_energy").state == "5.0"
    assert state_of(hass, "number.garage_current_limit").state == "12.0"


async def test_energy_register_never_goes_backwards(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """A register that restarts with every session keeps counting up."""
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        client.energy_wh[1] = 4000
        await client.send_meter_values(1, 0)
        await settle(hass)
        client.energy_wh[1] = 500  # the charger's register restarted
        await client.send_meter_values(1, 0)
        assert state_of(hass, "sensor.garage_energy").state == "4.5"


async def test_energy_sensor_passes_energy_validation(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Home Assistant's own Energy dashboard check accepts the register.

    The check's device class, unit, state class and value rules run as they are; only
    "is this entity recorded" is answered yes, as it is with the default recorder.
    """
    from homeassistant.components.energy import validate

    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        client.energy_wh[1] = 1234
        await client.start_session(1)
        await client.send_meter_values(1, 60)
        await settle(hass)
        issues = validate.ValidationIssues()
        entity_id = "sensor.garage_energy"
        with patch.object(validate.recorder, "is_entity_recorded", return_value=True):
            validate._async_validate_usage_stat(
                hass,
                {entity_id: (1, {})},  # type: ignore[typeddict-item]
                entity_id,
                validate.ENERGY_USAGE_DEVICE_CLASSES,
                validate.ENERGY_USAGE_UNITS,
                validate.ENERGY_UNIT_ERROR,
                issues,
            )
        assert issues.issues == {}
        # The session energy is a valid usage statistic too.
        with patch.object(validate.recorder, "is_entity_recorded", return_value=True):
            validate._async_validate_usage_stat(
                hass,
                {"sensor.garage_session_energy": (2, {})},  # type: ignore[typeddict-item]
                "sensor.garage_session_energy",
                validate.ENERGY_USAGE_DEVICE_CLASSES,
                validate.ENERGY_USAGE_UNITS,
                validate.ENERGY_UNIT_ERROR,
                issues,
            )
        assert issues.issues == {}


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_assist_starts_and_stops_charging(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    """'Turn on Garage charging' through Assist starts a session; 'turn off' stops it."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "intent", {})
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, version) as client:
        await client.send_status(1, "Preparing")
        await settle(hass)
        result = await conversation.async_converse(
            hass, "turn on garage charging", None, Context(), language="en"
        )
        assert result.response.response_type.value == "action_done", result.response.as_dict()
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_ON)
        # As above: a 1.6 charger knows its transaction only once it has our answer.
        await wait_for(lambda: bool(client.transactions))
        result = await conversation.async_converse(
            hass, "turn off garage charging", None, Context(), language="en"
        )
        assert result.response.response_type.value == "action_done"
        await wait_for(lambda: not client.transactions)


async def test_each_outage_is_logged_once(
    hass: HomeAssistant, setup_entry: SetUpEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """One line when a charger goes away, one when it is back; the first connect is quiet."""
    entry = await setup_entry(chargers=[garage()])
    for _ in range(3):
        async with online(hass, entry):
            assert state_of(hass, "binary_sensor.garage_online").state == STATE_ON
        await wait_for(lambda: state_of(hass, "binary_sensor.garage_online").state == STATE_OFF)
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("Charger CP-1 disconnected") == 3
    assert messages.count("Charger CP-1 is connected again") == 2


async def test_a_removed_charger_added_again_gets_its_entities_back(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage(), garage("CP-1-2", "Shed")])
    assert state_of(hass, "switch.garage_available")
    subentry = next(sub for sub in entry.subentries.values() if sub.unique_id == "CP-1")
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert hass.states.get("switch.garage_available") is None
    # The other charger, whose id starts the same, keeps its entities.
    assert state_of(hass, "switch.shed_available")

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "charger"), context={"source": "user"}
    )
    await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"charger_id": "CP-1", "name": "Garage", "password": ""}
    )
    await hass.async_block_till_done()
    assert state_of(hass, "switch.garage_available")
