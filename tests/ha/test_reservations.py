"""Reservations in Home Assistant: shown on the connector, listed, cancelled by connector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.event import EventStateChangedData, async_track_state_change_event

from custom_components.ocpp_csms.const import DOMAIN
from tests.chargers import wait_for
from tests.ha.conftest import SetUpEntry
from tests.ha.test_entities import garage, state_of
from tests.ha.test_services import booted, call, device_id

VERSIONS = pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
UNTIL = "2030-01-01T00:00:00+00:00"
CONNECTOR_SENSOR = "sensor.garage_reserved_until"
ANY_CONNECTOR_SENSOR = "sensor.garage_any_connector_reserved_until"


@VERSIONS
async def test_a_reservation_is_shown_listed_and_cancelled_by_connector(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, version):
        await hass.services.async_call(
            DOMAIN, "add_tag", {"tag": "GUEST1", "name": "Guest"}, blocking=True
        )
        reserve = {"tag": "GUEST1", "expiry": UNTIL, "connector": 1, "reservation_id": 41}
        await call(hass, entry, "reserve_now", reserve)
        await hass.async_block_till_done()

        state = state_of(hass, CONNECTOR_SENSOR)
        assert state.state == UNTIL
        assert state.attributes["reservation_id"] == 41
        assert state.attributes["tag"] == "GUEST1"
        assert state.attributes["tag_name"] == "Guest"
        assert state.attributes["connector"] == 1
        assert state_of(hass, ANY_CONNECTOR_SENSOR).state == STATE_UNKNOWN

        # Every charger's, when no charger is named.
        listed = await hass.services.async_call(
            DOMAIN, "list_reservations", {}, blocking=True, return_response=True
        )
        assert listed == {
            "reservations": [
                {
                    "charger": "Garage",
                    "device_id": device_id(hass, entry),
                    "connector": 1,
                    "reservation_id": 41,
                    "tag": "GUEST1",
                    "tag_name": "Guest",
                    "expiry": UNTIL,
                }
            ]
        }

        await call(hass, entry, "cancel_reservation", {"connector": 1})
        await hass.async_block_till_done()
        assert state_of(hass, CONNECTOR_SENSOR).state == STATE_UNKNOWN
        assert "reservation_id" not in state_of(hass, CONNECTOR_SENSOR).attributes
        assert await call(hass, entry, "list_reservations", {}) == {"reservations": []}


async def test_cancel_without_a_target_ends_every_reservation(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Reserved for any connector: shown on the charger; cancelled with no id or connector."""
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, "ocpp1.6") as client:
        answer = await call(hass, entry, "reserve_now", {"tag": "T", "expiry": UNTIL})
        await hass.async_block_till_done()
        assert state_of(hass, ANY_CONNECTOR_SENSOR).state == UNTIL
        assert state_of(hass, CONNECTOR_SENSOR).state == STATE_UNKNOWN

        await call(hass, entry, "cancel_reservation", {})
        cancelled = {"reservation_id": answer["reservation_id"]}
        assert ("CancelReservation", cancelled) in client.received
        await hass.async_block_till_done()
        assert state_of(hass, ANY_CONNECTOR_SENSOR).state == STATE_UNKNOWN


async def test_nothing_to_cancel_is_a_clear_error(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with booted(hass, entry, "ocpp2.0.1") as client:
        with pytest.raises(ServiceValidationError) as error:
            await call(hass, entry, "cancel_reservation", {"connector": 1})
        assert error.value.translation_key == "no_reservation_on_connector"
        assert str(error.value) == "Garage has no reservation on connector 1"
        with pytest.raises(ServiceValidationError) as error:
            await call(hass, entry, "cancel_reservation", {})
        assert error.value.translation_key == "no_reservation"
        assert not [name for name, _ in client.received if name == "CancelReservation"]


async def test_an_expired_reservation_leaves_the_sensor(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """1.6 never says a reservation expired: the central system's own timer ends it."""
    entry = await setup_entry(chargers=[garage()])
    shown: list[str] = []

    @callback
    def follow(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            shown.append(new.state)

    async_track_state_change_event(hass, CONNECTOR_SENSOR, follow)
    async with booted(hass, entry, "ocpp1.6"):
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        data = {"tag": "T", "expiry": soon.isoformat(), "connector": 1}
        await call(hass, entry, "reserve_now", data)
        # Shown, then gone: whenever the expiry passes, however slow the machine.
        await wait_for(lambda: shown[-2:] == [soon.isoformat(), STATE_UNKNOWN])
        assert await call(hass, entry, "list_reservations", {}) == {"reservations": []}
