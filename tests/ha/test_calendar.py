"""The central system's calendar: journaled sessions and weekly schedules as events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory, TickingDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ocpp_csms.calendar_events import (
    MAX_EVENTS,
    CalendarTexts,
    EventContext,
    SessionSpan,
    current_or_next,
    session_event,
)
from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.csms.schedule import ScheduleRule, WeeklySchedule
from custom_components.ocpp_csms.csms.sessions import SessionRecord, SessionStatus
from custom_components.ocpp_csms.csms.station import Transaction, TransactionState
from custom_components.ocpp_csms.identifiers import charger_device_identifier
from tests.chargers import charger, wait_for
from tests.ha.conftest import FROZEN_NOW, SetUpEntry, url_of
from tests.ha.test_entities import garage, state_of

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TRANSLATIONS = Path(__file__).parents[2] / "custom_components" / "ocpp_csms" / "translations"
PRICED = {"price_per_kwh": 2.5, "currency": "SEK"}


def local(text: str) -> datetime:
    """A wall-clock time in Stockholm ("2026-06-16 18:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)


def calendar_of(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """The entity id of an entry's calendar (on the central system's own device)."""
    unique_id = f"{entry.entry_id}-site-charging_sessions"
    entity_id = er.async_get(hass).async_get_entity_id("calendar", DOMAIN, unique_id)
    assert entity_id is not None
    return entity_id


async def events(hass: HomeAssistant, entity_id: str, start: str, end: str) -> list[dict[str, Any]]:
    """What the calendar lists between two local times, as `calendar.get_events` answers."""
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {
            "entity_id": entity_id,
            "start_date_time": local(start).isoformat(),
            "end_date_time": local(end).isoformat(),
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return cast(list[dict[str, Any]], cast(dict[str, Any], response[entity_id])["events"])


async def journal_session(
    client: Any,
    tag: str,
    start: str,
    stop: str | None,
    energy_wh: int,
    *,
    connector: int = 1,
    register_wh: int = 100_000,
) -> int:
    """A session at the given local times, as the charger reports it (1.6)."""
    started = await client.call(
        call16.StartTransaction(
            connector_id=connector,
            id_tag=tag,
            meter_start=register_wh,
            timestamp=local(start).isoformat(),
        )
    )
    transaction_id = int(started.transaction_id)
    if stop is None:
        await client.call(
            call16.MeterValues(
                connector_id=connector,
                transaction_id=transaction_id,
                meter_value=[
                    {
                        "timestamp": (local(start) + timedelta(minutes=30)).isoformat(),
                        "sampled_value": [
                            {
                                "value": str(register_wh + energy_wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            )
        )
    else:
        await client.call(
            call16.StopTransaction(
                transaction_id=transaction_id,
                meter_stop=register_wh + energy_wh,
                timestamp=local(stop).isoformat(),
            )
        )
    return transaction_id


@pytest.fixture
def clock() -> Iterator[TickingDateTimeFactory]:
    """Like `frozen_clock` (ticking, real asyncio), and the test can move it on."""
    with freeze_time(FROZEN_NOW, tick=True, real_asyncio=True) as factory:
        assert isinstance(factory, TickingDateTimeFactory)
        yield factory


async def test_a_day_of_sessions_with_chargers_tags_energy_and_cost(
    hass: HomeAssistant, setup_entry: SetUpEntry, clock: TickingDateTimeFactory
) -> None:
    """Wednesday 17 June 2026, 12:00 in Stockholm: Tuesday's sessions, and today's."""
    await hass.config.async_set_time_zone("Europe/Stockholm")
    entry = await setup_entry(chargers=[garage(), garage("CP-2", "Carport")], options=PRICED)
    calendar = calendar_of(hass, entry)
    assert state_of(hass, calendar).state == STATE_OFF
    async with (
        charger(url_of(entry), "CP-1") as garage_client,
        charger(url_of(entry), "CP-2") as carport,
    ):
        for client in (garage_client, carport):
            assert await client.boot() == "Accepted"
        await journal_session(garage_client, "04A2B3", "2026-06-15 20:00", "2026-06-15 21:00", 3000)
        await journal_session(
            garage_client, "04A2B3", "2026-06-15 23:00", "2026-06-16 01:30", 7400,
            register_wh=110_000,
        )  # fmt: skip
        await journal_session(
            garage_client, "04A2B3", "2026-06-16 18:00", "2026-06-16 21:15", 12_300,
            register_wh=120_000,
        )  # fmt: skip
        await journal_session(carport, "FFFF01", "2026-06-16 12:00", "2026-06-16 13:00", 5500)
        await journal_session(
            carport, "FFFF01", "2026-06-17 08:00", "2026-06-17 09:00", 4000, register_wh=110_000
        )
        # Still charging at noon.
        await journal_session(
            garage_client, "04A2B3", "2026-06-17 11:00", None, 2000, register_wh=140_000
        )
        await hass.async_block_till_done()
        # The tag got its name after the sessions: the calendar shows the name it has now.
        await hass.services.async_call(
            DOMAIN, "add_tag", {"tag": "04a2b3", "name": "Anna's car"}, blocking=True
        )

        tuesday = await events(hass, calendar, "2026-06-16 00:00", "2026-06-17 00:00")
        assert tuesday == [
            {
                # Began on Monday evening, ended on Tuesday: it ran that day too.
                "start": "2026-06-15T23:00:00+02:00",
                "end": "2026-06-16T01:30:00+02:00",
                "summary": "Garage: 7.4 kWh",
                "description": (
                    "Charger: Garage\nTag: Anna's car\nEnergy: 7.40 kWh\nCost: 18.50 SEK"
                ),
            },
            {
                "start": "2026-06-16T12:00:00+02:00",
                "end": "2026-06-16T13:00:00+02:00",
                "summary": "Carport: 5.5 kWh",
                # Not registered: the tag's own id.
                "description": "Charger: Carport\nTag: FFFF01\nEnergy: 5.50 kWh\nCost: 13.75 SEK",
            },
            {
                "start": "2026-06-16T18:00:00+02:00",
                "end": "2026-06-16T21:15:00+02:00",
                "summary": "Garage: 12.3 kWh",
                "description": (
                    "Charger: Garage\nTag: Anna's car\nEnergy: 12.30 kWh\nCost: 30.75 SEK"
                ),
            },
        ]

        today = await events(hass, calendar, "2026-06-17 00:00", "2026-06-18 00:00")
        assert [event["summary"] for event in today] == ["Carport: 4.0 kWh", "Garage: 2.0 kWh"]
        running = today[1]
        assert running["start"] == "2026-06-17T11:00:00+02:00"
        assert running["description"].endswith("Cost: 5.00 SEK\nStill charging")
        # Until now, rounded up to the next five minutes.
        now = datetime.now(UTC)
        end = datetime.fromisoformat(running["end"])
        assert now < end <= now + timedelta(minutes=5)

        # The calendar is on while the session runs, rewritten every five minutes (not
        # at every reading), and off once the session ends.
        state = state_of(hass, calendar)
        assert state.state == STATE_ON
        assert state.attributes["start_time"] == "2026-06-17 11:00:00"
        assert state.attributes["message"] == "Garage: energy unknown"  # as it started
        clock.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        state = state_of(hass, calendar)
        assert (state.state, state.attributes["message"]) == (STATE_ON, "Garage: 2.0 kWh")
        [transaction_id] = [
            evse.transaction.id
            for evse in entry.runtime_data.system.stations["CP-1"].evses.values()
            if evse.transaction is not None
        ]
        await garage_client.call(
            call16.StopTransaction(
                transaction_id=int(transaction_id),
                meter_stop=142_500,
                timestamp=datetime.now(UTC).isoformat(),
            )
        )
        await wait_for(lambda: state_of(hass, calendar).state == STATE_OFF)
        assert "message" not in state_of(hass, calendar).attributes
        today = await events(hass, calendar, "2026-06-17 00:00", "2026-06-18 00:00")
        assert today[1]["summary"] == "Garage: 2.5 kWh"
        assert "Still charging" not in today[1]["description"]

    # Nothing before or after the period; a session without a price has no cost.
    assert await events(hass, calendar, "2026-06-14 00:00", "2026-06-15 00:00") == []
    hass.config_entries.async_update_entry(entry, options={})
    await hass.async_block_till_done()  # a price removed: reloaded
    [monday] = await events(hass, calendar, "2026-06-15 00:00", "2026-06-15 22:00")
    assert monday["description"] == "Charger: Garage\nTag: Anna's car\nEnergy: 3.00 kWh"


NIGHTS_AND_A_SKIPPED_HOUR = {
    "CP-1": {
        "rules": [
            {"days": ["thu", "fri", "sat", "sun"], "start": "22:00", "end": "06:00", "limit": 16},
            {"days": ["sun"], "start": "02:30", "end": "04:00", "limit": 6},
        ]
    }
}


async def test_schedule_rules_are_upcoming_events_across_midnight_and_daylight_saving(
    hass: HomeAssistant, setup_entry: SetUpEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Friday 27 March 2026, 13:00 in Stockholm; the clocks go forward on Sunday at 02:00."""
    freezer.move_to("2026-03-27T12:00:00+00:00")
    await hass.config.async_set_time_zone("Europe/Stockholm")
    entry = await setup_entry(chargers=[garage()], options={"schedules": NIGHTS_AND_A_SKIPPED_HOUR})
    calendar = calendar_of(hass, entry)
    found = await events(hass, calendar, "2026-03-27 00:00", "2026-03-30 12:00")
    assert [(event["start"], event["end"], event["summary"]) for event in found] == [
        # Thursday night ended this morning: the schedule does not tell the past.
        ("2026-03-27T22:00:00+01:00", "2026-03-28T06:00:00+01:00", "Garage: limit 16 A"),
        # The short night: 06:00 is summer time, seven hours later.
        ("2026-03-28T22:00:00+01:00", "2026-03-29T06:00:00+02:00", "Garage: limit 16 A"),
        # 02:30 never comes on Sunday: the rule begins after the jump.
        ("2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00", "Garage: limit 6 A"),
        ("2026-03-29T22:00:00+02:00", "2026-03-30T06:00:00+02:00", "Garage: limit 16 A"),
    ]

    # The calendar's event is the next rule; it is on once the rule begins.
    state = state_of(hass, calendar)
    assert (state.state, state.attributes["message"]) == (STATE_OFF, "Garage: limit 16 A")
    assert state.attributes["start_time"] == "2026-03-27 22:00:00"
    freezer.move_to("2026-03-27T21:00:01+00:00")
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state_of(hass, calendar).state == STATE_ON

    # A schedule removed leaves the calendar at once.
    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-1"), entry.entry_id
    )
    assert device is not None
    await hass.services.async_call(
        DOMAIN, "set_schedule", {"device_id": device.id, "rules": []}, blocking=True
    )
    await hass.async_block_till_done()
    assert state_of(hass, calendar).state == STATE_OFF
    assert await events(hass, calendar, "2026-03-27 00:00", "2026-03-30 12:00") == []


async def test_a_huge_period_lists_at_most_the_cap(
    hass: HomeAssistant, setup_entry: SetUpEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Ten years of a daily rule and a journal of many sessions: the first MAX_EVENTS."""
    freezer.move_to("2026-06-17T10:00:00+00:00")
    await hass.config.async_set_time_zone("Europe/Stockholm")
    every_night = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "22:00",
        "end": "06:00",
        "limit": 10,
    }
    entry = await setup_entry(
        chargers=[garage()], options={"schedules": {"CP-1": {"rules": [every_night]}}}
    )
    journal = entry.runtime_data.sessions.journal
    first = datetime(2026, 1, 1, 8, tzinfo=UTC)
    sessions = MAX_EVENTS - 3
    for number in range(sessions):
        started = first + timedelta(hours=number)
        journal.record(
            "CP-1",
            Transaction(
                id=f"T-{number}",
                evse_id=1,
                connector_id=1,
                started_at=started,
                stopped_at=started + timedelta(minutes=30),
                meter_start_wh=0,
                meter_stop_wh=1000,
                state=TransactionState.COMPLETED,
            ),
        )
    assert await journal.flush()
    found = await events(hass, calendar_of(hass, entry), "2025-12-01 00:00", "2036-01-01 00:00")
    assert len(found) == MAX_EVENTS
    # The oldest sessions, then the next three nights of the rule.
    assert found[0]["start"] == "2026-01-01T09:00:00+01:00"
    assert [event["summary"] for event in found[sessions:]] == ["Garage: limit 10 A"] * 3
    assert found[-1]["start"] == "2026-06-19T22:00:00+02:00"


async def test_a_journal_that_cannot_be_read_is_an_error_not_an_empty_calendar(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, frozen_clock: None
) -> None:
    """No sessions shown would say none took place: the calendar says it cannot read them."""
    entry_id = "01CALENDARJOURNALDAMAGED0"
    path = tmp_path / DOMAIN / f"sessions-{entry_id}.db"
    path.parent.mkdir()
    path.write_bytes(b"not a database at all" * 50)
    entry = await setup_entry(chargers=[garage()], entry_id=entry_id)
    calendar = calendar_of(hass, entry)
    with pytest.raises(HomeAssistantError) as error:
        await events(hass, calendar, "2026-06-16 00:00", "2026-06-17 00:00")
    assert error.value.translation_key == "journal_unavailable"
    assert str(error.value).startswith("The session journal cannot be read: ")
    # The state does not read the journal: the calendar itself stays.
    assert state_of(hass, calendar).state == STATE_OFF


# -- what events are made of, without Home Assistant running -----------------------------

ENGLISH = {
    f"component.{DOMAIN}.common.calendar_{key}": text
    for key, text in {
        "session": "{charger}: {energy} kWh",
        "session_unknown_energy": "{charger}: energy unknown",
        "charger": "Charger: {charger}",
        "energy": "Energy: {energy} kWh",
        "energy_unknown": "Energy: unknown",
        "running": "Still charging",
        "schedule": "{charger}: limit {limit} A",
    }.items()
}


def context_at(now: datetime, texts: CalendarTexts | None = None) -> EventContext:
    return EventContext(
        texts=texts or CalendarTexts(ENGLISH),
        now=now,
        timezone=STOCKHOLM,
        charger_name=lambda charger_id: {"CP-1": "Garage"}.get(charger_id, charger_id),
        tag_name=lambda _tag: None,
    )


def span(start: datetime, stop: datetime | None, energy_wh: float | None = 1000) -> SessionSpan:
    return SessionSpan("CP-1", "1", start, stop, energy_wh, None, None)


def test_a_session_ending_in_the_repeated_hour_keeps_its_real_length() -> None:
    """25 October 2026: 02:50 summer time to 02:10 winter time is twenty minutes."""
    start = datetime(2026, 10, 25, 0, 50, tzinfo=UTC)  # 02:50 CEST
    stop = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, the second 02:10
    event = session_event(span(start, stop), context_at(stop))
    assert isinstance(event.start, datetime)
    assert isinstance(event.end, datetime)
    # Home Assistant compares these on the wall clock, where 02:10 is before 02:50.
    assert event.end - event.start == timedelta(minutes=20)
    assert event.start.astimezone(UTC) == start


def test_a_charger_clock_that_stops_before_it_starts_gives_no_negative_session() -> None:
    start = datetime(2026, 6, 16, 10, tzinfo=UTC)
    event = session_event(span(start, start - timedelta(hours=1), None), context_at(start))
    assert event.end == event.start
    assert event.summary == "Garage: energy unknown"
    assert event.description == "Charger: Garage\nEnergy: unknown"


def test_the_event_now_is_the_one_going_on_that_began_first_else_the_next() -> None:
    now = local("2026-06-17 12:00").astimezone(UTC)
    afternoon = WeeklySchedule(
        (ScheduleRule(frozenset({2}), time(13), time(14), 6),), timezone=STOCKHOLM
    )
    event, until = current_or_next([], {"CP-1": afternoon}, context_at(now))
    assert event is not None
    assert event.summary == "Garage: limit 6 A"
    assert until == local("2026-06-17 13:00")  # the next stays the answer until it begins
    running = span(local("2026-06-17 11:00"), None)
    event, until = current_or_next([running], {"CP-1": afternoon}, context_at(now))
    assert event is not None
    assert event.summary == "Garage: 1.0 kWh"
    assert until == local("2026-06-17 12:05")  # until the running session's next step
    assert current_or_next([], {}, context_at(now)) == (None, None)


def test_texts_not_loaded_still_say_what_there_is() -> None:
    now = datetime(2026, 6, 17, 10, tzinfo=UTC)
    event = session_event(span(now - timedelta(hours=1), now), context_at(now, CalendarTexts({})))
    assert event.summary == "Garage, 1.0"


def test_numbers_are_written_the_languages_way() -> None:
    german = {
        f"component.{DOMAIN}.common.{key}": text
        for key, text in json.loads((TRANSLATIONS / "de.json").read_text(encoding="utf-8"))[
            "common"
        ].items()
    }
    now = datetime(2026, 6, 17, 10, tzinfo=UTC)
    event = session_event(
        span(now - timedelta(hours=1), now), context_at(now, CalendarTexts(german))
    )
    assert "1,0 kWh" in event.summary
    assert event.description is not None
    assert "1,00 kWh" in event.description


def test_a_session_whose_stop_never_came_ends_where_the_journal_last_heard_of_it() -> None:
    start = datetime(2026, 6, 1, 18, tzinfo=UTC)
    record = SessionRecord(
        session_id=1, charger_id="CP-1", transaction_id="7", evse_id=1, connector_id=1,
        started_at=start, status=SessionStatus.ACTIVE, energy_wh=4000,
        updated_at=start + timedelta(hours=2),
    )  # fmt: skip
    lost = SessionSpan.of_record(record, running=False)
    assert lost.stopped_at == start + timedelta(hours=2)
    assert SessionSpan.of_record(record, running=True).stopped_at is None
    event = session_event(lost, context_at(datetime(2026, 6, 17, 10, tzinfo=UTC)))
    assert (event.start, event.end) == (
        start.astimezone(STOCKHOLM),
        (start + timedelta(hours=2)).astimezone(STOCKHOLM),
    )
    assert event.description is not None
    assert "Still charging" not in event.description
