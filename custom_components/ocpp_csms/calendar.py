"""The central system's calendar: charging sessions and weekly schedules, where people look.

One read-only calendar per central system, on its own device. Sessions come from the
journal (read on its own thread) and, for the calendar's state, from the sessions
running now; the schedules from the options. What each becomes is `calendar_events`'.
The state follows sessions starting and ending (`Change.REPORTED`) and schedules
changing (`Change.SCHEDULES`), both on the site's scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .calendar_events import (
    MAX_EVENTS,
    CalendarTexts,
    EventContext,
    SessionSpan,
    current_or_next,
    events_between,
)
from .const import DOMAIN
from .csms.events import Change, Event
from .csms.schedule import WeeklySchedule
from .csms.sessions import SessionFilter
from .entity import SiteEntity
from .hub import CentralSystemHub, OcppCsmsConfigEntry

PARALLEL_UPDATES = 0

_FOLLOWS = frozenset({Change.REPORTED, Change.SCHEDULES})


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The central system's calendar."""
    async_add_entities([SessionCalendar(entry.runtime_data)])


class SessionCalendar(SiteEntity, CalendarEntity):
    """Every charger's sessions, and the upcoming occurrences of their schedules' rules.

    On while a session runs or a rule applies; its event is the one going on that began
    first, else the next.
    """

    def __init__(self, hub: CentralSystemHub) -> None:
        """Belong to the central system's device."""
        super().__init__(hub, "charging_sessions", _FOLLOWS)
        self._texts = CalendarTexts({})
        # The event now, and until when it stays so (None: until something changes).
        self._event: CalendarEvent | None = None
        self._event_until: datetime | None = None
        self._event_stale = True

    @property
    def available(self) -> bool:
        """Always: sessions are history, and schedules hold without balancing."""
        return True

    async def async_added_to_hass(self) -> None:
        """Word the state in the user's language from the first write."""
        await self._async_load_texts()
        await super().async_added_to_hass()

    def handle_update(self, event: Event | None = None) -> None:
        """A session started or ended, or a schedule changed: work the event out again."""
        self._event_stale = True
        self.async_write_ha_state()

    @property
    def event(self) -> CalendarEvent | None:
        """The event going on that began first, else the next one."""
        now = dt_util.utcnow()
        until = self._event_until
        if self._event_stale or (until is not None and now >= until):
            self._event, self._event_until = current_or_next(
                self._running(), self._schedules(), self._event_context(now)
            )
            self._event_stale = False
        return self._event

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """Sessions that ran in the period and the rules that will apply in it.

        A journal that cannot be read raises a translated error (its repair issue says
        more): no session list is better than a wrong one.
        """
        await self._async_load_texts()
        records = await self.hub.sessions.async_sessions(
            SessionFilter(started_before=end_date, running_after=start_date), limit=MAX_EVENTS
        )
        running = {(span.charger_id, span.transaction_id) for span in self._running()}
        return events_between(
            [
                SessionSpan.of_record(
                    record, running=(record.charger_id, record.transaction_id) in running
                )
                for record in records
            ],
            self._schedules(),
            start_date,
            end_date,
            self._event_context(dt_util.utcnow()),
        )

    async def _async_load_texts(self) -> None:
        """The calendar's words in the user's language (cached by Home Assistant)."""
        hass = self.hass
        translations = await async_get_translations(hass, hass.config.language, "common", {DOMAIN})
        self._texts = CalendarTexts(translations)

    def _event_context(self, now: datetime) -> EventContext:
        hub = self.hub
        return EventContext(
            texts=self._texts,
            now=now,
            timezone=dt_util.get_default_time_zone(),
            charger_name=hub.index.charger_name,
            tag_name=hub.tag_name,
            pricing=hub.sessions.pricing,
        )

    def _running(self) -> list[SessionSpan]:
        """The sessions running now on the admitted chargers."""
        system = self.hub.system
        if system is None:
            return []
        return [
            SessionSpan.of_transaction(charger_id, evse.transaction)
            for charger_id in sorted(self.hub.index.admitted)
            if (station := system.stations.get(charger_id)) is not None
            for evse in station.evses.values()
            if evse.transaction is not None and evse.transaction.active
        ]

    def _schedules(self) -> Mapping[str, WeeklySchedule]:
        """The admitted chargers' weekly schedules."""
        admitted = self.hub.index.admitted
        return {
            charger_id: schedule
            for charger_id, schedule in self.hub.schedule_link.schedules.items()
            if charger_id in admitted
        }
