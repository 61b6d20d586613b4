"""The logbook: sessions, tags, firmware and security events in the user's language.

The lines are read as the logbook's own websocket gives them (`logbook/get_events`,
from the recorder's database), on the day's page and on the charger's device page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from homeassistant.components.logbook import LOGBOOK_ENTRY_MESSAGE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.ocpp_csms.charger_activity import (
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
    EVENT_TAG_PRESENTED,
    ChargerActivity,
)
from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.csms.authorization import (
    AuthorizationDecision,
    AuthorizationStatus,
)
from custom_components.ocpp_csms.csms.events import TagPresented
from custom_components.ocpp_csms.csms.station import Station
from custom_components.ocpp_csms.logbook import async_describe_events
from custom_components.ocpp_csms.logbook_phrases import async_load_phrases
from tests.ha.conftest import SetUpEntry
from tests.ha.test_charger_reports import now_text
from tests.ha.test_entities import garage, online
from tests.ha.test_tags import device_of

ALICE = "04A2B3"
SESSION = "event.garage_session"
TAG = "event.garage_tag"

type Line = tuple[str, str, str | None]


@pytest.fixture
def mock_recorder_before_hass(recorder_db_url: str) -> None:
    """The recorder's database is chosen before Home Assistant starts."""


@pytest.fixture
async def logbook(recorder_mock: Any, hass: HomeAssistant) -> datetime:
    """The logbook (and its recorder) set up; when it started."""
    assert await async_setup_component(hass, "logbook", {})
    return dt_util.utcnow()


async def logbook_lines(
    hass: HomeAssistant, ws_client: WebSocketGenerator, start: datetime, **query: Any
) -> list[Line]:
    """The integration's lines since `start`: (name, message, linked entity)."""
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    client = await ws_client()
    await client.send_json_auto_id(
        {"type": "logbook/get_events", "start_time": start.isoformat(), **query}
    )
    response = await client.receive_json()
    assert response["success"], response
    return [
        (row["name"], row["message"], row.get("entity_id"))
        for row in response["result"]
        if row.get("domain") == DOMAIN
    ]


def recorded(hass: HomeAssistant, *event_types: str) -> list[Event]:
    seen: list[Event] = []

    @callback
    def record(event: Event) -> None:
        seen.append(event)

    for event_type in event_types:
        hass.bus.async_listen(event_type, record)
    return seen


async def add_tag(hass: HomeAssistant, tag: str, **fields: Any) -> None:
    await hass.services.async_call(DOMAIN, "add_tag", {"tag": tag, **fields}, blocking=True)


async def one_session(hass: HomeAssistant, entry: MockConfigEntry, tag: str = ALICE) -> None:
    """CP-1 charges an hour at 11 kW with `tag`."""
    async with online(hass, entry) as client:
        await client.start_session(1, tag)
        await client.send_meter_values(1, 3600)
        await client.stop_session(1)
        await hass.async_block_till_done()


@pytest.mark.usefixtures("frozen_clock")
async def test_a_session_reads_as_started_and_ended_with_the_tags_name(
    hass: HomeAssistant, setup_entry: SetUpEntry, logbook: datetime, hass_ws_client: Any
) -> None:
    entry = await setup_entry(chargers=[garage()])
    await add_tag(hass, ALICE, name="Alice's tag")
    seen = recorded(hass, EVENT_SESSION_STARTED, EVENT_SESSION_ENDED)
    await one_session(hass, entry)
    lines = [
        ("Garage", "tag Alice's tag accepted", TAG),
        ("Garage", "session started (Alice's tag)", SESSION),
        ("Garage", "session ended, 11.0 kWh (Alice's tag)", SESSION),
    ]
    assert await logbook_lines(hass, hass_ws_client, logbook) == lines
    # On the charger's device page too.
    device_id = device_of(hass, entry)
    query = {"device_ids": [device_id]}
    assert await logbook_lines(hass, hass_ws_client, logbook, **query) == lines
    started, ended = seen
    common = {"charger_id": "CP-1", "name": "Garage", "device_id": device_id, "connector": 1}
    assert {**started.data, **common} == started.data
    assert {**ended.data, **common} == ended.data
    assert (ended.data["tag"], ended.data["tag_name"]) == (ALICE, "Alice's tag")
    # The simulated charger's clock runs an hour ahead while it meters that hour.
    assert (ended.data["energy_kwh"], ended.data["duration_min"]) == (11.0, 60.0)
    assert (ended.data["entity_id"], ended.data["stop_reason"]) == (SESSION, "Local")


async def test_the_lines_are_in_home_assistants_language(
    hass: HomeAssistant, setup_entry: SetUpEntry, logbook: datetime, hass_ws_client: Any
) -> None:
    hass.config.language = "de"
    entry = await setup_entry(chargers=[garage()])
    await add_tag(hass, ALICE, name="Alice's tag")
    await one_session(hass, entry)
    # Home Assistant names the entities in its language too.
    assert await logbook_lines(hass, hass_ws_client, logbook) == [
        ("Garage", "Tag Alice's tag akzeptiert", TAG),
        ("Garage", "Ladevorgang gestartet (Alice's tag)", "event.garage_ladevorgang"),
        ("Garage", "Ladevorgang beendet, 11,0 kWh (Alice's tag)", "event.garage_ladevorgang"),
    ]


async def test_a_language_without_our_translation_reads_english(
    hass: HomeAssistant, setup_entry: SetUpEntry, logbook: datetime, hass_ws_client: Any
) -> None:
    hass.config.language = "pt"
    entry = await setup_entry(chargers=[garage()])
    await one_session(hass, entry)
    # No tag registered: every tag is let in (automatic mode), and named by its id.
    assert await logbook_lines(hass, hass_ws_client, logbook) == [
        ("Garage", f"unknown tag {ALICE} accepted", TAG),
        ("Garage", f"session started (tag {ALICE})", SESSION),
        ("Garage", f"session ended, 11.0 kWh (tag {ALICE})", SESSION),
    ]


async def test_a_language_chosen_later_is_followed(
    hass: HomeAssistant, setup_entry: SetUpEntry, logbook: datetime, hass_ws_client: Any
) -> None:
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        await client.authorize(ALICE)
    await hass.config.async_update(language="sv")
    assert await logbook_lines(hass, hass_ws_client, logbook) == [
        ("Garage", f"okänd tagg {ALICE} godkänd", TAG)
    ]


async def test_refused_tags_say_why(
    hass: HomeAssistant, setup_entry: SetUpEntry, logbook: datetime, hass_ws_client: Any
) -> None:
    entry = await setup_entry(chargers=[garage()])
    await add_tag(hass, ALICE, name="Alice's tag")
    await add_tag(hass, "0B0B", name="Bob")
    await hass.services.async_call(
        DOMAIN, "update_tag", {"tag": "0B0B", "enabled": False}, blocking=True
    )
    seen = recorded(hass, EVENT_TAG_PRESENTED)
    async with online(hass, entry) as client:
        assert await client.authorize("04A1B2") == "Invalid"
        assert await client.authorize("0B0B") == "Blocked"
        await hass.async_block_till_done()
    assert await logbook_lines(hass, hass_ws_client, logbook) == [
        ("Garage", "unknown tag 04A1B2 rejected", TAG),
        ("Garage", "tag Bob rejected", TAG),
    ]
    assert [(event.data["decision"], event.data["status"]) for event in seen] == [
        ("unknown", "unknown"),
        ("rejected", "blocked"),
    ]


async def test_firmware_security_and_vendor_lines(
    hass: HomeAssistant, setup_entry: SetUpEntry, logbook: datetime, hass_ws_client: Any
) -> None:
    hass.config.language = "de"
    entry = await setup_entry(chargers=[garage()])
    async with online(hass, entry) as client:
        await client.call(
            call16.SecurityEventNotification(
                type="FirmwareUpdated", timestamp=now_text(), tech_info="1.2.3"
            )
        )
        await client.call(call16.FirmwareStatusNotification(status="Installed"))
        await client.call(call16.DataTransfer(vendor_id="com.example"))
    query = {"device_ids": [device_of(hass, entry)]}
    assert await logbook_lines(hass, hass_ws_client, logbook, **query) == [
        ("Garage", "hat ein Sicherheitsereignis gemeldet: FirmwareUpdated", None),
        ("Garage", "Firmware-Update: Installed", None),
        ("Garage", "hat Herstellerdaten gesendet (com.example)", None),
    ]


async def test_a_flood_of_tags_is_bounded_and_counted(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_entry(chargers=[garage()])
    seen = recorded(hass, EVENT_TAG_PRESENTED)
    async with online(hass, entry) as client:
        for _ in range(15):
            await client.authorize(ALICE)
        await hass.async_block_till_done()
        found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert len(seen) == 10
    left_out = found["chargers"]["CP-1"]["events_left_out"]
    assert left_out == {"reports": 0, "sessions": 0, "tags": 5}


async def test_a_token_without_an_id_is_no_tag(hass: HomeAssistant) -> None:
    """A 2.x charger that authorizes nobody itself sends NoAuthorization with no id."""
    seen = recorded(hass, EVENT_TAG_PRESENTED)
    activity = ChargerActivity(hass, "entry", lambda _: "Garage", lambda _: None)
    free = AuthorizationDecision(AuthorizationStatus.ACCEPTED, known=True)
    station = Station("CP-1")
    activity.tag(TagPresented(station, 1, "", "NoAuthorization", free))
    activity.tag(TagPresented(station, 1, ALICE, "ISO14443", free))
    await hass.async_block_till_done()
    assert [event.data["tag"] for event in seen] == [ALICE]


def describe_all(hass: HomeAssistant) -> dict[str, Any]:
    described: dict[str, Any] = {}
    async_describe_events(
        hass, lambda domain, event_type, describe: described.__setitem__(event_type, describe)
    )
    return described


@pytest.mark.parametrize(
    ("language", "data", "message"),
    [
        ("en", {"energy_kwh": 12.345, "tag": ALICE}, f"session ended, 12.3 kWh (tag {ALICE})"),
        ("en", {"energy_kwh": 0.04}, "session ended, 0.0 kWh"),
        ("en", {"energy_kwh": None, "tag": ALICE, "tag_name": "Alice"}, "session ended (Alice)"),
        ("en", {"energy_kwh": None, "tag": None}, "session ended"),
        ("de", {"energy_kwh": 12.34, "tag": None}, "Ladevorgang beendet, 12,3 kWh"),
        ("fr", {"energy_kwh": 7.0, "tag": "AB"}, "session terminée, 7,0 kWh (tag AB)"),
    ],
)
async def test_session_lines_leave_out_what_is_not_known(
    hass: HomeAssistant, language: str, data: dict[str, Any], message: str
) -> None:
    hass.config.language = language
    await async_load_phrases(hass)
    describe = describe_all(hass)[EVENT_SESSION_ENDED]
    line = describe(Event(EVENT_SESSION_ENDED, {"name": "Garage", **data}))
    assert line[LOGBOOK_ENTRY_MESSAGE] == message
