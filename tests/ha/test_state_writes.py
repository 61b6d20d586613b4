"""Which states a charger's message writes: its own entities, and only those it changes.

With hundreds of chargers reporting every few seconds, each state write is Home
Assistant time; an entity whose value a message cannot change is not rewritten.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant, callback

from custom_components.ocpp_csms.entity_manager import (
    MEASUREMENTS,
    REPORTED,
    STATUS,
    EntityManager,
    Scope,
)
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage, online, settle, state_of

# What a meter message cannot change on a charger in a session.
UNTOUCHED_BY_METER_VALUES = (
    "sensor.garage_status",
    "sensor.garage_error_code",
    "binary_sensor.garage_vehicle_plugged_in",
    "binary_sensor.garage_charging_active",
    "button.garage_unlock_cable",
    "sensor.garage_last_session_energy",
    "number.garage_current_limit",
    "binary_sensor.garage_online",
    "switch.garage_available",
)


@contextmanager
def state_writes(hass: HomeAssistant) -> Iterator[Counter[str]]:
    """Count the state writes per entity, changed or only reported, while inside."""
    writes: Counter[str] = Counter()

    @callback
    def record(event: Any) -> None:
        writes[event.data["entity_id"]] += 1

    @callback
    def every(_data: Any) -> bool:
        return True

    undo = [
        hass.bus.async_listen("state_changed", record),
        hass.bus.async_listen("state_reported", record, event_filter=every),
    ]
    try:
        yield writes
    finally:
        for remove in undo:
            remove()


async def test_an_update_touches_only_its_chargers_entities(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Meter values from one charger write no state of another (no fan-out)."""
    entry = await setup_entry(chargers=[garage(), garage("CP-2", "Driveway")])
    async with (
        charger(url_of(entry), "CP-1") as one,
        charger(url_of(entry), "CP-2") as two,
    ):
        for client in (one, two):
            await client.boot()
            await client.start_session(1)
            await client.send_meter_values(1, 60)
        await settle(hass)
        with state_writes(hass) as writes:
            await one.send_meter_values(1, 60)
            await settle(hass)
        assert writes
        assert all(entity_id.split(".")[1].startswith("garage_") for entity_id in writes)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_meter_message_writes_what_it_changes_once(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    """During a session, a meter message writes each measurement and session entity once,
    and leaves the status, the buttons and the charger-level entities alone."""
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, version) as client:
        await client.send_meter_values(1, 60)
        await settle(hass)
        with state_writes(hass) as writes:  # no session: the session sensors stay
            await client.send_meter_values(1, 60)
            await settle(hass)
        assert writes["sensor.garage_power"] == 1
        assert writes["sensor.garage_session_energy"] == 0
        await client.start_session(1)
        await client.send_meter_values(1, 60)
        await settle(hass)
        assert state_of(hass, "switch.garage_charging").state == STATE_ON
        with state_writes(hass) as writes:
            await client.send_meter_values(1, 60)
            await settle(hass)
        assert writes["sensor.garage_power"] == 1
        assert writes["sensor.garage_energy"] == 1
        assert writes["sensor.garage_session_energy"] == 1
        assert {
            entity_id: writes[entity_id] for entity_id in UNTOUCHED_BY_METER_VALUES
        } == dict.fromkeys(UNTOUCHED_BY_METER_VALUES, 0)
        # A status change still reaches the status entities, and not the meters.
        with state_writes(hass) as writes:
            await client.send_status(1, "Faulted")
            await wait_for(lambda: state_of(hass, "sensor.garage_status").state == "faulted")
            await settle(hass)
        assert writes["binary_sensor.garage_charging_active"] == 1
        assert writes["sensor.garage_power"] == 0


async def test_the_availability_switch_follows_its_evses(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """A 2.0.1 charger reports availability per EVSE: the charger's switch follows them."""
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry, "ocpp2.0.1") as client:
        await client.send_status(1, "Available")
        await settle(hass)
        assert state_of(hass, "switch.garage_available").state == STATE_ON
        await client.send_status(1, "Unavailable")
        await wait_for(lambda: state_of(hass, "switch.garage_available").state == STATE_OFF)
        await client.send_status(1, "Available")
        await wait_for(lambda: state_of(hass, "switch.garage_available").state == STATE_ON)


def test_routes_change_with_the_subscriptions() -> None:
    """A route remembered for one kind of change is redone when entities come and go."""
    manager: EntityManager[None] = EntityManager(cast(Any, None), "entry", cast(Any, None))
    calls: list[str] = []
    evse = Scope.evse("CP-1", 1)
    manager.subscribe(evse, lambda _event: calls.append("meter"), MEASUREMENTS)
    manager.notify(evse, STATUS)
    manager.notify(evse, MEASUREMENTS)
    assert calls == ["meter"]
    undo = manager.subscribe(evse, lambda _event: calls.append("status"), STATUS)
    manager.notify(evse, STATUS)
    assert calls == ["meter", "status"]
    undo()
    manager.notify(evse, STATUS)
    manager.notify(evse)  # a connection change reaches everyone left
    manager.notify(Scope.evse("CP-2", 1))  # nobody there
    manager.notify(Scope.charger("CP-1"))  # another scope of the same charger
    assert calls == ["meter", "status", "meter"]


def test_an_event_reaches_only_the_entities_that_show_it() -> None:
    """One update path: a session's start comes with its event to the event entities."""
    manager: EntityManager[None] = EntityManager(cast(Any, None), "entry", cast(Any, None))
    received: list[object] = []
    charger = Scope.charger("CP-1")
    manager.subscribe(charger, received.append, REPORTED)
    manager.subscribe(charger, lambda _event: received.append("status"), STATUS)
    sentinel = cast(Any, object())
    manager.notify(charger, REPORTED, sentinel)
    assert received == [sentinel]
