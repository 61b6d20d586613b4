"""Weekly schedules and the default profile that carries them to the charger."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from custom_components.ocpp_csms.csms.authorization import AcceptAll
from custom_components.ocpp_csms.csms.commands import (
    ClearChargingProfile,
    Command,
    CommandResult,
    CommandStatus,
    ProfileKind,
    ProfilePurpose,
    SetChargingProfile,
)
from custom_components.ocpp_csms.csms.schedule import (
    DEFAULT_PROFILE_ID,
    ScheduleRule,
    WeeklySchedule,
    default_profile,
    utc_offset_of_week,
)
from custom_components.ocpp_csms.csms.site_settings import SiteSettings
from custom_components.ocpp_csms.csms.station import RegistrationStatus, Station
from custom_components.ocpp_csms.csms.upkeep import ChargerUpkeep
from tests.chargers import wait_for
from tests.engine.conftest import ConnectRaw

STOCKHOLM = ZoneInfo("Europe/Stockholm")
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
H = 3600
DAY = 24 * H

# "16 A from 22:00 to 06:00, 6 A otherwise; don't charge 17:00-20:00."
NIGHTS = WeeklySchedule(
    rules=(
        ScheduleRule(EVERY_DAY, time(22), time(6), 16),
        ScheduleRule(EVERY_DAY, time(17), time(20), 0),
    ),
    timezone=STOCKHOLM,
    default_a=6,
)


def test_rules_become_periods_of_the_week_with_the_rest_at_the_default() -> None:
    periods = NIGHTS.periods()
    # Monday: 16 A until 06:00 (Sunday night's rule), 6 A, 0 A at 17-20, 6 A, 16 A at 22.
    assert periods[:5] == [(0, 16), (6 * H, 6), (17 * H, 0), (20 * H, 6), (22 * H, 16)]
    assert periods[5] == (DAY + 6 * H, 6)
    assert len(periods) == 1 + 4 * 7  # equal neighbours are merged
    assert periods[-1] == (6 * DAY + 22 * H, 16)


def test_overlapping_rules_take_the_lowest_and_no_default_means_no_limit() -> None:
    schedule = WeeklySchedule(
        rules=(
            ScheduleRule(WEEKDAYS, time(8), time(18), 10),
            ScheduleRule(frozenset({2}), time(12), time(13), 0),
        ),
        timezone=UTC,
    )
    assert schedule.periods()[:4] == [(0, None), (8 * H, 10), (18 * H, None), (DAY + 8 * H, 10)]
    wednesday = [p for p in schedule.periods() if 2 * DAY <= p[0] < 3 * DAY]
    assert wednesday == [
        (2 * DAY + 8 * H, 10),
        (2 * DAY + 12 * H, 0),
        (2 * DAY + 13 * H, 10),
        (2 * DAY + 18 * H, None),
    ]
    assert schedule.limit_at(datetime(2026, 11, 25, 12, 30, tzinfo=UTC)) == 0  # a Wednesday
    assert schedule.limit_at(datetime(2026, 11, 28, 12, 30, tzinfo=UTC)) is None  # Saturday


def test_limit_at_is_in_local_time() -> None:
    # 21:30 UTC on Monday 23 November is 22:30 in Stockholm: the night rule.
    assert NIGHTS.limit_at(datetime(2026, 11, 23, 21, 30, tzinfo=UTC)) == 16
    assert NIGHTS.limit_at(datetime(2026, 11, 23, 20, 30, tzinfo=UTC)) == 6
    assert NIGHTS.limit_at(datetime(2026, 11, 23, 16, 30, tzinfo=UTC)) == 0


def spans_of(schedule: WeeklySchedule, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """The occurrences between two moments, as local wall-clock texts."""
    return [
        (o.start.strftime("%a %d %H:%M %Z"), o.end.strftime("%a %d %H:%M %Z"))
        for o in schedule.occurrences(start, end)
    ]


def test_occurrences_in_a_period_include_a_night_begun_the_day_before() -> None:
    # Tuesday 24 November, midnight to midnight in Stockholm.
    tuesday = datetime(2026, 11, 24, tzinfo=STOCKHOLM)
    assert spans_of(NIGHTS, tuesday, tuesday + timedelta(days=1)) == [
        ("Mon 23 22:00 CET", "Tue 24 06:00 CET"),  # Monday's night runs into Tuesday
        ("Tue 24 17:00 CET", "Tue 24 20:00 CET"),
        ("Tue 24 22:00 CET", "Wed 25 06:00 CET"),
    ]
    # The period's ends are exclusive: an occurrence only touching it is left out.
    assert spans_of(NIGHTS, tuesday.replace(hour=6), tuesday.replace(hour=17)) == []
    only_tuesdays = WeeklySchedule(
        (ScheduleRule(frozenset({1}), time(8), time(9), 10),), timezone=STOCKHOLM
    )
    week = list(only_tuesdays.occurrences(tuesday - timedelta(days=7), tuesday + timedelta(days=8)))
    assert [o.start.day for o in week] == [17, 24, 1]
    assert {(o.rule_number, o.rule.limit_a) for o in week} == {(0, 10)}


def test_occurrences_keep_to_the_wall_clock_across_daylight_saving_changes() -> None:
    # Stockholm: 2026-03-29 02:00 CET becomes 03:00 CEST; 2026-10-25 03:00 CEST is 02:00 CET.
    skipped = WeeklySchedule(
        (
            ScheduleRule(EVERY_DAY, time(22), time(6), 16),
            ScheduleRule(frozenset({6}), time(2, 30), time(4), 8),
        ),
        timezone=STOCKHOLM,
    )
    sunday = datetime(2026, 3, 29, tzinfo=STOCKHOLM)
    spring = list(skipped.occurrences(sunday, sunday + timedelta(hours=12)))
    assert [(o.start.strftime("%d %H:%M %Z"), o.end.strftime("%d %H:%M %Z")) for o in spring] == [
        ("28 22:00 CET", "29 06:00 CEST"),
        ("29 03:30 CEST", "29 04:00 CEST"),  # 02:30 does not exist: it begins after the jump
    ]
    assert [(o.end.astimezone(UTC) - o.start.astimezone(UTC)) for o in spring] == [
        timedelta(hours=7),  # the short night
        timedelta(minutes=30),
    ]
    autumn_sunday = datetime(2026, 10, 25, tzinfo=STOCKHOLM)
    [night] = [
        o
        for o in skipped.occurrences(autumn_sunday, autumn_sunday + timedelta(hours=1))
        if o.rule_number == 0
    ]
    assert (night.start.strftime("%d %H:%M %Z"), night.end.strftime("%d %H:%M %Z")) == (
        "24 22:00 CEST",
        "25 06:00 CET",
    )
    assert night.end.astimezone(UTC) - night.start.astimezone(UTC) == timedelta(hours=9)


def test_the_default_profile_is_a_weekly_profile_held_to_the_cap() -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday
    profile = default_profile(Station("A"), schedule=NIGHTS, cap_a=10, unlimited_a=32, now=now)
    assert profile is not None
    assert (profile.id, profile.purpose, profile.kind, profile.recurrency) == (
        DEFAULT_PROFILE_ID,
        ProfilePurpose.TX_DEFAULT,
        ProfileKind.RECURRING,
        "Weekly",
    )
    # Monday 00:00 in Stockholm, which is Sunday 23:00 UTC.
    assert profile.start_schedule == datetime(2026, 11, 23, tzinfo=STOCKHOLM)
    assert profile.start_schedule.astimezone(UTC) == datetime(2026, 11, 22, 23, tzinfo=UTC)
    assert [(p.start_s, p.limit) for p in profile.periods[:5]] == [
        (0, 10),  # 16 A held to the failsafe's 10 A
        (6 * H, 6),
        (17 * H, 0),
        (20 * H, 6),
        (22 * H, 10),
    ]
    assert profile.duration_s == 7 * DAY


def test_without_a_schedule_the_default_profile_is_the_cap_alone() -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    profile = default_profile(Station("A"), schedule=None, cap_a=8, unlimited_a=32, now=now)
    assert profile is not None
    assert (profile.kind, profile.recurrency, profile.duration_s) == (
        ProfileKind.ABSOLUTE,
        None,
        None,
    )
    assert [(p.start_s, p.limit) for p in profile.periods] == [(0, 8)]
    assert default_profile(Station("A"), schedule=None, cap_a=None, unlimited_a=32, now=now) is None
    free = WeeklySchedule(rules=(ScheduleRule(WEEKDAYS, time(8), time(9), 0),), timezone=UTC)
    profile = default_profile(Station("A"), schedule=free, cap_a=None, unlimited_a=32, now=now)
    assert profile is not None
    assert [(p.start_s, p.limit) for p in profile.periods[:3]] == [(0, 32), (8 * H, 0), (9 * H, 32)]


def test_daylight_saving_changes_the_offset_a_weekly_profile_counts_with() -> None:
    winter = utc_offset_of_week(NIGHTS, datetime(2026, 11, 23, tzinfo=UTC))
    summer = utc_offset_of_week(NIGHTS, datetime(2026, 6, 1, tzinfo=UTC))
    assert (winter, summer) == (timedelta(hours=1), timedelta(hours=2))


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Command]] = []
        self.status = CommandStatus.ACCEPTED

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        self.sent.append((charger_id, command))
        return CommandResult(self.status)


def upkeep_for(recorder: Recorder, stations: list[Station]) -> ChargerUpkeep:
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
        tasks.add(asyncio.create_task(coroutine))

    return ChargerUpkeep(
        AcceptAll(),
        recorder.execute,
        spawn,
        stations=lambda: stations,
        is_admitted=lambda _id: True,
        chargers=None,
    )


async def test_upkeep_sends_schedules_failsafe_and_fallback_limits_as_one_default() -> None:
    recorder = Recorder()
    station = Station("A", connected=True, registration=RegistrationStatus.ACCEPTED)
    upkeep = upkeep_for(recorder, [station])
    upkeep.station_ready(station)
    await asyncio.sleep(0)
    assert recorder.sent == []  # nothing to hold

    upkeep.set_schedules({"A": NIGHTS})
    await asyncio.sleep(0)
    [(_, command)] = recorder.sent
    assert isinstance(command, SetChargingProfile)
    assert command.profile.periods[0].limit == 16
    assert upkeep.schedule_limit("A") is not None
    upkeep.set_schedules({"A": NIGHTS})  # unchanged: nothing sent
    await asyncio.sleep(0)
    assert len(recorder.sent) == 1
    upkeep.refresh_defaults()  # the UTC offset is what it was sent with: nothing to do
    await asyncio.sleep(0)
    assert len(recorder.sent) == 1
    upkeep._sent_offsets["A"] = timedelta(hours=5)  # as if sent before the clocks changed
    upkeep.refresh_defaults()
    await asyncio.sleep(0)
    assert len(recorder.sent) == 2

    upkeep.set_site(SiteSettings(fuse_a=25, failsafe_a=8))
    await asyncio.sleep(0)
    command = recorder.sent[-1][1]
    assert isinstance(command, SetChargingProfile)
    assert command.profile.periods[0].limit == 8  # the night's 16 A, held to the failsafe

    result = await upkeep.set_default_cap(station, 7)
    assert result.accepted
    command = recorder.sent[-1][1]
    assert isinstance(command, SetChargingProfile)
    assert command.profile.periods[0].limit == 7

    # Without the site the failsafe no longer holds the schedule: 16 A at night, capped
    # at the 7 A limit still.
    upkeep.set_site(None)
    await asyncio.sleep(0)
    command = recorder.sent[-1][1]
    assert isinstance(command, SetChargingProfile)
    assert command.profile.periods[0].limit == 7
    # Nothing left to hold: our default profile is cleared.
    upkeep.default_caps.clear()
    upkeep.set_schedules({})
    await asyncio.sleep(0)
    assert recorder.sent[-1][1] == ClearChargingProfile(profile_id=DEFAULT_PROFILE_ID)

    recorder.status = CommandStatus.REJECTED
    upkeep.set_schedules({"A": NIGHTS})
    await asyncio.sleep(0)
    assert station.warnings == {"default_profile_not_applied": 1}
    upkeep.stop()


async def test_a_schedule_reaches_a_raw_charger_and_holds_its_balanced_sessions(
    raw_charger: ConnectRaw,
) -> None:
    charger = await raw_charger(site=SiteSettings(fuse_a=16, margin_a=0, failsafe_a=10))
    uid, _failsafe = await charger.expect_call("SetChargingProfile")
    await charger.answer(uid, {"status": "Accepted"})
    system = charger.running.system
    system.upkeep.set_schedules({"CP-1": WeeklySchedule(rules=(), timezone=UTC, default_a=7)})
    uid, payload = await charger.expect_call("SetChargingProfile")
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfileKind"] == "Recurring"
    assert profile["recurrencyKind"] == "Weekly"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 7.0}
    ]
    await charger.answer(uid, {"status": "Accepted"})
    assert system.upkeep.schedule_limit("CP-1") == 7
    # A session is held to the schedule's 7 A, not the fuse's 16 A.
    await charger.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": "2026-11-23T18:00:00Z"},
    )
    uid, payload = await charger.expect_call("SetChargingProfile")
    schedule = payload["csChargingProfiles"]["chargingSchedule"]
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 7
    await charger.answer(uid, {"status": "Accepted"})


async def test_a_schedule_removed_while_its_profile_is_on_the_way_is_cleared() -> None:
    """Sends of the default profile go one at a time per charger, so the clear that
    follows a send still on its way sees it and goes out."""
    answered = asyncio.Event()
    sent: list[Command] = []

    async def slow_execute(charger_id: str, command: Command) -> CommandResult:
        sent.append(command)
        if isinstance(command, SetChargingProfile):
            await answered.wait()  # the charger takes its time to answer
        return CommandResult(CommandStatus.ACCEPTED)

    station = Station("A", connected=True, registration=RegistrationStatus.ACCEPTED)
    recorder = Recorder()
    upkeep = upkeep_for(recorder, [station])
    upkeep._execute = slow_execute
    upkeep.set_schedules({"A": NIGHTS})
    await wait_for(lambda: len(sent) == 1)
    upkeep.set_schedules({})  # removed before the charger answered the profile
    await asyncio.sleep(0)
    answered.set()
    await wait_for(lambda: len(sent) == 2)
    assert isinstance(sent[1], ClearChargingProfile)
