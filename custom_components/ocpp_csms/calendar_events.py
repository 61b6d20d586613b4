"""What the central system's calendar shows: charging sessions and schedule rules.

Pure functions from journaled sessions, the sessions running now and the weekly
schedules to Home Assistant's `CalendarEvent`s, worded in the user's language (the
`common` translations named `calendar_*`). The entity in `calendar.py` gathers what
they take.

A session is an event from its start to its stop ("Garage: 12.3 kWh"); one still
running lasts until now, rounded up to the next `RUNNING_STEP`, so the calendar's state
is on while it runs and is rewritten once per step rather than every minute. A schedule
rule is an event at each occurrence ("Garage: limit 6 A"), shown from now on only: the
schedule in force says nothing about the past.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import partial
from itertools import islice
from operator import itemgetter

from homeassistant.components.calendar import CalendarEvent

from .const import DOMAIN
from .csms.schedule import Occurrence, WeeklySchedule
from .csms.session_export import Pricing
from .csms.sessions import SessionRecord, SessionStatus
from .csms.station import Transaction

# At most this many events per request, whatever period it asks for: a year of a busy
# site would otherwise read every session of the journal and send it all to the
# browser. Two thousand cover a month of 20 chargers at three sessions a day.
MAX_EVENTS = 2000
# How far past now a running session reaches (see the module's docstring).
RUNNING_STEP = timedelta(minutes=5)
# Every rule of a weekly schedule comes round within this.
_WEEK_AND_A_DAY = timedelta(days=8)


class CalendarTexts:
    """The calendar's words in the user's language, from the `common` translations."""

    def __init__(self, translations: Mapping[str, str]) -> None:
        """Take the loaded translations of the integration's `common` category."""
        self._translations = translations

    def __call__(self, key: str, **placeholders: str) -> str:
        """The text `calendar_<key>` with its placeholders filled in."""
        template = self._translations.get(f"component.{DOMAIN}.common.calendar_{key}")
        if template is None:  # translations not loaded: say what there is, untranslated
            return ", ".join(placeholders.values()) or key
        try:
            return template.format(**placeholders)
        except KeyError, IndexError, ValueError:
            # A translation with a placeholder the code does not give: never break the
            # calendar's state for a wording.
            return template

    def number(self, value: float, decimals: int) -> str:
        """`value` written with the language's decimal separator."""
        separator = self._translations.get(f"component.{DOMAIN}.common.decimal_separator", ".")
        return f"{value:.{decimals}f}".replace(".", separator)


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """A charging session as the calendar shows it: journaled, or running now."""

    charger_id: str
    transaction_id: str
    started_at: datetime
    stopped_at: datetime | None  # None: still running
    energy_wh: float | None
    id_tag: str | None
    tag_name: str | None  # the tag's name when the session began

    @classmethod
    def of_record(cls, record: SessionRecord, *, running: bool) -> SessionSpan:
        """A journaled session; `running`: the engine holds it as running now.

        One that ended without a stop time lasts no time; one the journal still has as
        active but nobody runs any more (its stop never came) ends where the journal
        last heard of it, rather than reaching into every later day.
        """
        if running:
            stopped_at = None
        elif record.status is SessionStatus.ACTIVE:
            stopped_at = record.updated_at or record.started_at
        else:
            stopped_at = record.stopped_at or record.started_at
        return cls(
            charger_id=record.charger_id,
            transaction_id=record.transaction_id,
            started_at=record.started_at,
            stopped_at=stopped_at,
            energy_wh=record.energy_wh,
            id_tag=record.id_tag,
            tag_name=record.tag_name,
        )

    @classmethod
    def of_transaction(cls, charger_id: str, transaction: Transaction) -> SessionSpan:
        """A session as the engine holds it now."""
        return cls(
            charger_id=charger_id,
            transaction_id=transaction.id,
            started_at=transaction.started_at,
            stopped_at=None if transaction.active else transaction.stopped_at,
            energy_wh=transaction.energy_wh,
            id_tag=transaction.id_tag,
            tag_name=transaction.tag_name,
        )


@dataclass(frozen=True, slots=True)
class EventContext:
    """What events are worded and timed with."""

    texts: CalendarTexts
    now: datetime
    timezone: tzinfo  # Home Assistant's: events are given in it
    charger_name: Callable[[str], str]
    # The name a tag has in the tag registry now (None: none, or not registered).
    tag_name: Callable[[str], str | None]
    pricing: Pricing | None = None


def running_until(now: datetime) -> datetime:
    """Where a running session ends on the calendar: the next `RUNNING_STEP` after now."""
    step = RUNNING_STEP.total_seconds()
    return datetime.fromtimestamp((now.timestamp() // step + 1) * step, UTC)


def _span(start: datetime, end: datetime, timezone: tzinfo) -> tuple[datetime, datetime]:
    """Start and end in `timezone`, the end never before the start.

    Not in real time (a charger's clock may say so), nor on the wall clock: when the
    clocks go back, an end in the repeated hour can read earlier than the start, which
    Home Assistant refuses. The end is then given as the start plus the real duration.
    """
    start_utc, end_utc = start.astimezone(UTC), max(end.astimezone(UTC), start.astimezone(UTC))
    local_start, local_end = start_utc.astimezone(timezone), end_utc.astimezone(timezone)
    if local_end < local_start:  # one zone: compared on the wall clock
        local_end = local_start + (end_utc - start_utc)
    return local_start, local_end


def session_event(span: SessionSpan, context: EventContext) -> CalendarEvent:
    """A session: who charged, how much and at what cost."""
    texts = context.texts
    charger = context.charger_name(span.charger_id)
    lines = [texts("charger", charger=charger)]
    if span.id_tag:
        tag = context.tag_name(span.id_tag) or span.tag_name or span.id_tag
        lines.append(texts("tag", tag=tag))
    energy_wh = span.energy_wh
    if energy_wh is None:
        summary = texts("session_unknown_energy", charger=charger)
        lines.append(texts("energy_unknown"))
    else:
        summary = texts("session", charger=charger, energy=texts.number(energy_wh / 1000, 1))
        lines.append(texts("energy", energy=texts.number(energy_wh / 1000, 2)))
        pricing = context.pricing
        if pricing is not None and (cost := pricing.cost(energy_wh)) is not None:
            lines.append(texts("cost", cost=texts.number(cost, 2), currency=pricing.currency))
    end = span.stopped_at
    if end is None:
        lines.append(texts("running"))
        end = running_until(context.now)
    start, end = _span(span.started_at, end, context.timezone)
    return CalendarEvent(
        start=start,
        end=end,
        summary=summary,
        description="\n".join(lines),
        uid=f"session-{span.charger_id}-{span.transaction_id}",
    )


def schedule_event(charger_id: str, occurrence: Occurrence, context: EventContext) -> CalendarEvent:
    """One occurrence of a schedule rule: the charger's limit while it lasts."""
    start, end = _span(occurrence.start, occurrence.end, context.timezone)
    return CalendarEvent(
        start=start,
        end=end,
        summary=context.texts(
            "schedule",
            charger=context.charger_name(charger_id),
            limit=f"{occurrence.rule.limit_a:g}",
        ),
        uid=f"schedule-{charger_id}-{occurrence.rule_number}",
        recurrence_id=occurrence.start.strftime("%Y%m%dT%H%M%S"),
    )


def _occurrences(
    schedules: Mapping[str, WeeklySchedule], start: datetime, end: datetime
) -> Iterator[tuple[str, Occurrence]]:
    """Every charger's rule occurrences overlapping the period, by start (lazily)."""
    return heapq.merge(
        *(
            ((charger_id, o) for o in schedule.occurrences(start, end))
            for charger_id, schedule in sorted(schedules.items())
        ),
        key=lambda found: found[1].start.astimezone(UTC),
    )


def events_between(
    sessions: Iterable[SessionSpan],
    schedules: Mapping[str, WeeklySchedule],
    start: datetime,
    end: datetime,
    context: EventContext,
) -> list[CalendarEvent]:
    """The sessions (given oldest first) and the upcoming rule occurrences of a period.

    The first `MAX_EVENTS` of them by start; only those are worded.
    """
    now = context.now
    occurrences = _occurrences(schedules, max(start, now), end) if end > now else iter(())
    by_start = heapq.merge(
        (
            (span.started_at.astimezone(UTC), partial(session_event, span, context))
            for span in sessions
        ),
        (
            (o.start.astimezone(UTC), partial(schedule_event, charger_id, o, context))
            for charger_id, o in occurrences
        ),
        key=itemgetter(0),
    )
    return [make() for _, make in islice(by_start, MAX_EVENTS)]


def _utc(moment: date) -> datetime:
    """An event's start or end in UTC (the calendar has no all-day events)."""
    assert isinstance(moment, datetime)
    return moment.astimezone(UTC)


def current_or_next(
    running: Iterable[SessionSpan],
    schedules: Mapping[str, WeeklySchedule],
    context: EventContext,
) -> tuple[CalendarEvent | None, datetime | None]:
    """The calendar's event now, and until when that stays the answer.

    The event going on that began first, else the next to begin. It stays the answer
    until it ends (going on) or begins (next), unless sessions or schedules change;
    None for the second: until they do.
    """
    now = context.now
    found = [session_event(span, context) for span in running]
    for charger_id, schedule in sorted(schedules.items()):
        first = next(schedule.occurrences(now, now + _WEEK_AND_A_DAY), None)
        if first is not None:
            found.append(schedule_event(charger_id, first, context))
    going_on = [event for event in found if _utc(event.start) <= now < _utc(event.end)]
    if going_on:
        event = min(going_on, key=lambda event: _utc(event.start))
        return event, _utc(event.end)
    coming = [event for event in found if _utc(event.start) > now]
    if coming:
        event = min(coming, key=lambda event: _utc(event.start))
        return event, _utc(event.start)
    return None, None
