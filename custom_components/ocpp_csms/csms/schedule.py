"""Weekly time schedules, and the one default profile each charger keeps without us.

A schedule is a set of rules in local time ("Mon-Fri 22:00-06:00: 16 A", "every day
17:00-20:00: 0 A") and a limit for the rest of the week (None: the charger's maximum).
Where rules overlap the lowest limit wins: a schedule only ever holds chargers back.

`default_profile` makes the TxDefaultProfile a charger follows on its own, so that it
keeps to the schedule while Home Assistant is down: the schedule as a weekly recurring
profile, held to the site's failsafe current and to the charger's current-limit
number (for chargers that take no station-wide maximum). It is the only
TxDefaultProfile this integration sends, under one id, so each new one replaces the
last. Recurring profiles count in seconds from a UTC start, so a change of UTC offset
(daylight saving time) needs the profile sent again (`utc_offset_of_week`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from .charging import in_charger_unit
from .commands import ChargingProfile, ProfileKind, ProfilePurpose, SchedulePeriod
from .station import Station

DEFAULT_PROFILE_ID = 1010
_DAY_S = 86_400
_WEEK_S = 7 * _DAY_S


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """A limit on some weekdays (0: Monday) from `start` to `end`, local time.

    An `end` at or before `start` runs past midnight into the next day.
    """

    days: frozenset[int]
    start: time
    end: time
    limit_a: float

    def on(self, day: date, timezone: tzinfo) -> tuple[datetime, datetime]:
        """When the rule begins and ends if it starts on `day` (local time)."""
        begin = _local(datetime.combine(day, self.start), timezone)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return begin, _local(datetime.combine(end_day, self.end), timezone)

    def spans(self) -> Iterable[tuple[int, int]]:
        """The seconds of the week (from Monday 00:00) the rule covers."""
        start_s = _seconds(self.start)
        end_s = _seconds(self.end)
        if end_s <= start_s:
            end_s += _DAY_S
        for day in sorted(self.days):
            begin, finish = day * _DAY_S + start_s, day * _DAY_S + end_s
            if finish <= _WEEK_S:
                yield begin, finish
            else:  # Sunday night into Monday morning
                yield begin, _WEEK_S
                yield 0, finish - _WEEK_S


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Limits by time of week; `default_a` outside every rule (None: no limit)."""

    rules: tuple[ScheduleRule, ...]
    timezone: tzinfo
    default_a: float | None = None

    def periods(self) -> list[tuple[int, float | None]]:
        """(second of the week, limit) from Monday 00:00, equal neighbours merged."""
        cuts = {0}
        for rule in self.rules:
            for begin, finish in rule.spans():
                cuts.update((begin, finish))
        periods: list[tuple[int, float | None]] = []
        for cut in sorted(c for c in cuts if c < _WEEK_S):
            limit = self._limit_at_second(cut)
            if not periods or periods[-1][1] != limit:
                periods.append((cut, limit))
        return periods

    def _limit_at_second(self, second: int) -> float | None:
        limits = [
            rule.limit_a
            for rule in self.rules
            for begin, finish in rule.spans()
            if begin <= second < finish
        ]
        return min(limits) if limits else self.default_a

    def limit_at(self, moment: datetime) -> float | None:
        """The limit in force at `moment` (None: no limit)."""
        local = moment.astimezone(self.timezone)
        second = local.weekday() * _DAY_S + _seconds(local.time())
        return self._limit_at_second(second)

    def week_start(self, moment: datetime) -> datetime:
        """Monday 00:00 (local) of the week `moment` is in."""
        local = moment.astimezone(self.timezone)
        monday = local.date() - timedelta(days=local.weekday())
        return datetime.combine(monday, time(), self.timezone)

    def occurrences(self, start: datetime, end: datetime) -> Iterator[Occurrence]:
        """Each rule's occurrences that overlap `start`..`end`, by their start.

        Rules are local wall-clock times: 22:00-06:00 is 22:00 one day to 06:00 the
        next whatever daylight saving time does in between (so that night is an hour
        shorter or longer in real time). A start or end the clock skips (02:30 when it
        jumps from 02:00 to 03:00) falls at the time after the jump; a time the clock
        passes twice is taken the first time. Days are expanded lazily, one at a time.
        """
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        # A rule of the day before may run past midnight into the period.
        day = start.astimezone(self.timezone).date() - timedelta(days=1)
        last = end.astimezone(self.timezone).date()
        while day <= last:
            found = [
                Occurrence(number, rule, begin, finish)
                for number, rule in enumerate(self.rules)
                if day.weekday() in rule.days
                for begin, finish in (rule.on(day, self.timezone),)
                if begin.astimezone(UTC) < end_utc and finish.astimezone(UTC) > start_utc
            ]
            yield from sorted(found, key=lambda o: (o.start.astimezone(UTC), o.rule_number))
            day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One rule (`rule_number` in its schedule) on one day, in the schedule's time zone."""

    rule_number: int
    rule: ScheduleRule
    start: datetime
    end: datetime


def utc_offset_of_week(schedule: WeeklySchedule, moment: datetime) -> timedelta | None:
    """The UTC offset a weekly profile sent at `moment` counts with."""
    return moment.astimezone(schedule.timezone).utcoffset()


def default_profile(
    station: Station,
    *,
    schedule: WeeklySchedule | None,
    cap_a: float | None,
    unlimited_a: float,
    now: datetime,
) -> ChargingProfile | None:
    """The charger's default profile: the schedule held to `cap_a`; None: nothing to hold.

    `unlimited_a` stands for "no limit" in a schedule's periods (the charger's maximum).
    """
    if schedule is None and cap_a is None:
        return None

    def held(limit: float | None) -> float:
        limit = unlimited_a if limit is None else limit
        return limit if cap_a is None else min(limit, cap_a)

    if schedule is None:
        periods = [(0, held(None))]
        start = now.replace(microsecond=0)
        kind, recurrency = ProfileKind.ABSOLUTE, None
    else:
        periods = [(second, held(limit)) for second, limit in schedule.periods()]
        start = schedule.week_start(now)
        kind, recurrency = ProfileKind.RECURRING, "Weekly"
    unit = in_charger_unit(station, 0.0)[0]
    return ChargingProfile(
        id=DEFAULT_PROFILE_ID,
        stack_level=0,
        purpose=ProfilePurpose.TX_DEFAULT,
        kind=kind,
        recurrency=recurrency,
        start_schedule=start,
        duration_s=_WEEK_S if recurrency else None,
        unit=unit,
        periods=tuple(
            SchedulePeriod(second, in_charger_unit(station, limit)[1])
            for second, limit in _merged(periods)
        ),
    )


def _merged(periods: list[tuple[int, float]]) -> list[tuple[int, float]]:
    merged: list[tuple[int, float]] = []
    for second, limit in periods:
        if not merged or merged[-1][1] != limit:
            merged.append((second, limit))
    return merged


def _local(wall: datetime, timezone: tzinfo) -> datetime:
    """A wall-clock time in `timezone`; one the clock skips is taken after the jump."""
    moment = wall.replace(tzinfo=timezone)
    # A skipped time does not come back unchanged from UTC (zoneinfo reads it with the
    # offset before the jump, which lands after it).
    return moment.astimezone(UTC).astimezone(timezone)


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second
