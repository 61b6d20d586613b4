"""Site load balancing: profiles sent, in a safe order, at a calm pace, with a failsafe."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.authorization import AuthorizationMode, Tag, TagRegistry
from custom_components.ocpp_csms.csms.charging import AllocationSettings
from custom_components.ocpp_csms.csms.commands import (
    Command,
    CommandResult,
    CommandStatus,
    ProfilePurpose,
    SetChargingProfile,
)
from custom_components.ocpp_csms.csms.site import SiteBalancer
from custom_components.ocpp_csms.csms.site_settings import NoChargerLimits, SiteSettings
from custom_components.ocpp_csms.csms.solar import ChargingMode, SolarSettings
from custom_components.ocpp_csms.csms.station import (
    Evse,
    Measurand,
    Measurement,
    Station,
    Transaction,
)
from tests.engine.conftest import ConnectRaw

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
SITE = SiteSettings(fuse_a=16, margin_a=1, min_interval_s=30, profile_duration_s=300)


class Charger:
    """Answers every command; records what it was sent."""

    def __init__(self, status: CommandStatus = CommandStatus.ACCEPTED) -> None:
        self.status = status
        self.sent: list[tuple[str, SetChargingProfile]] = []

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        assert isinstance(command, SetChargingProfile)
        self.sent.append((charger_id, command))
        await asyncio.sleep(0)
        return CommandResult(self.status)

    def limits(self) -> list[tuple[str, float]]:
        return [(cid, command.profile.periods[0].limit) for cid, command in self.sent]


class Limits(NoChargerLimits):
    """Every charger with one maximum; priorities and modes by charger id."""

    def __init__(
        self,
        max_a: float = 32.0,
        priorities: dict[str, int] | None = None,
        modes: dict[str, ChargingMode] | None = None,
        switching: frozenset[str] = frozenset(),
    ) -> None:
        self.max_a = max_a
        self.priorities = priorities or {}
        self.modes = modes or {}
        self.switching = switching

    def max_current_a(self, charger_id: str) -> float:
        return self.max_a

    def priority(self, charger_id: str) -> int:
        return self.priorities.get(charger_id, 0)

    def mode(self, charger_id: str) -> ChargingMode:
        return self.modes.get(charger_id, ChargingMode.FAST)

    def switches_phases(self, charger_id: str) -> bool:
        return charger_id in self.switching


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def charging(charger_id: str, *, amps: dict[str, float] | None = None, **tx: Any) -> Station:
    """A connected station with a session on EVSE 1 (drawing `amps` per phase)."""
    station = Station(charger_id, connected=True)
    evse = station.evses[1] = Evse(1)
    evse.transaction = Transaction(f"T-{charger_id}", 1, 1, NOW, **tx)
    for phase, value in (amps or {}).items():
        evse.measurements[(Measurand.CURRENT_IMPORT, phase)] = Measurement(
            value, "A", NOW, Measurand.CURRENT_IMPORT, phase
        )
    return station


def balancer(charger: Charger, clock: Clock, settings: SiteSettings = SITE) -> SiteBalancer:
    return SiteBalancer(settings, charger.execute, clock=clock)


async def test_two_sessions_share_the_fuse_with_short_lived_tx_profiles() -> None:
    charger, clock = Charger(), Clock()
    site = balancer(charger, clock)
    allocation = await site.rebalance([charging("A"), charging("B")])
    assert allocation == {"A/1": 7.5, "B/1": 7.5}
    assert sorted(charger.limits()) == [("A", 7.5), ("B", 7.5)]
    command = charger.sent[0][1]
    profile = command.profile
    assert (command.evse_id, profile.purpose, profile.duration_s) == (1, ProfilePurpose.TX, 300)
    assert profile.transaction_id == "T-A"


async def test_decreases_go_first_and_increases_wait_their_turn() -> None:
    charger, clock = Charger(), Clock()
    site = balancer(charger, clock)
    first = charging("A")
    await site.rebalance([first])
    assert charger.limits() == [("A", 15.0)]
    charger.sent.clear()
    clock.now += 60
    second = charging("B")
    await site.rebalance([first, second])
    # A comes down before B (new: it may draw the failsafe already) goes up.
    assert charger.limits() == [("A", 7.5), ("B", 7.5)]
    charger.sent.clear()

    clock.now += 5
    await site.rebalance([first])  # B ended: A may have it all, but not so soon
    assert charger.sent == []
    assert site.allocated == {"A/1": 15.0}
    clock.now += 30
    await site.rebalance([first])
    assert charger.limits() == [("A", 15.0)]


async def test_unchanged_limits_are_refreshed_before_they_expire() -> None:
    charger, clock = Charger(), Clock()
    site = balancer(charger, clock)
    stations = [charging("A")]
    await site.rebalance(stations)
    clock.now += 100
    await site.rebalance(stations)
    assert len(charger.sent) == 1
    clock.now += 50  # half the profile's 300 s
    await site.rebalance(stations)
    assert len(charger.sent) == 2


async def test_the_house_load_measured_at_the_fuse_is_left_alone() -> None:
    charger, clock = Charger(), Clock()
    site = balancer(charger, clock)
    # The grid shows 12 A on L1, 10 A of which is the car: the house takes 2 A there
    # and 6 A on the other phases.
    site.set_grid((12.0, 6.0, 6.0))
    station = charging("A", amps={"L1": 10.0, "L2": 0.0, "L3": 0.0})
    allocation = await site.rebalance([station])
    assert site.available_a == pytest.approx((13.0, 9.0, 9.0))
    assert allocation == {"A/1": 13.0}  # a single-phase car, on L1


async def test_a_tag_limit_and_the_chargers_own_maximum_are_respected() -> None:
    charger, clock = Charger(), Clock()
    site = SiteBalancer(
        SiteSettings(fuse_a=63), charger.execute, chargers=Limits(16.0), clock=clock
    )
    allocation = await site.rebalance([charging("A", max_current_a=10.0), charging("B")])
    assert allocation == {"A/1": 10.0, "B/1": 16.0}


async def test_too_little_current_pauses_a_session_with_a_zero_limit() -> None:
    charger, clock = Charger(), Clock()
    site = balancer(charger, clock, SiteSettings(fuse_a=10, margin_a=0))
    allocation = await site.rebalance([charging("A"), charging("B")])
    assert sorted(allocation.values()) == [0.0, 10.0]
    assert sorted(limit for _, limit in charger.limits()) == [0.0, 10.0]


async def test_unauthorized_and_offline_sessions_are_not_balanced() -> None:
    charger, clock = Charger(), Clock()
    site = balancer(charger, clock)
    offline = charging("B")
    offline.connected = False
    allocation = await site.rebalance([charging("A", authorized=False), offline])
    assert allocation == {}
    assert charger.sent == []


async def test_a_refused_limit_is_a_warning_and_tried_again() -> None:
    charger, clock = Charger(CommandStatus.REJECTED), Clock()
    site = balancer(charger, clock)
    station = charging("A")
    await site.rebalance([station])
    assert station.warnings == {"site_limit_not_applied": 1}
    await site.rebalance([station])
    assert len(charger.sent) == 2


async def test_central_system_stores_the_failsafe_and_balances_sessions(
    raw_charger: ConnectRaw,
) -> None:
    settings = SiteSettings(
        fuse_a=16, margin_a=1, failsafe_a=6, allocation=AllocationSettings(hysteresis_a=1)
    )
    charger = await raw_charger(site=settings)
    uid, failsafe = await charger.expect_call("SetChargingProfile")
    assert failsafe["connectorId"] == 0
    assert failsafe["csChargingProfiles"]["chargingProfilePurpose"] == "TxDefaultProfile"
    await charger.answer(uid, {"status": "Accepted"})
    started = await charger.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": "2026-11-23T18:00:00Z"},
    )
    uid, payload = await charger.expect_call("SetChargingProfile")
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == started["transactionId"]
    assert profile["chargingSchedule"]["duration"] == 300
    assert profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 15
    await charger.answer(uid, {"status": "Accepted"})


async def test_a_missing_grid_reading_gives_every_session_the_failsafe() -> None:
    charger, clock = Charger(), Clock()
    site = balancer(charger, clock, SiteSettings(fuse_a=25, failsafe_a=8, grid_meter=True))
    stations = [charging("A"), charging("B", max_current_a=6.0)]
    assert await site.rebalance(stations) == {"A/1": 8.0, "B/1": 6.0}
    site.set_grid((5.0, 5.0, 5.0))
    assert await site.rebalance(stations) == {"A/1": 13.0, "B/1": 6.0}  # 25 - 1 - 5


async def test_balancing_starts_and_stops_while_running(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    system = charger.running.system
    assert system.site is None
    system.set_site(SiteSettings(fuse_a=16, failsafe_a=10))
    uid, failsafe = await charger.expect_call("SetChargingProfile")
    schedule = failsafe["csChargingProfiles"]["chargingSchedule"]
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 10
    await charger.answer(uid, {"status": "Accepted"})
    # The same failsafe again: nothing new to store.
    system.set_site(SiteSettings(fuse_a=20, failsafe_a=10))
    assert system.site is not None
    assert system.site.settings.fuse_a == 20
    await asyncio.sleep(0.05)
    assert not charger._calls
    system.set_site(None)
    assert system.site is None
    # Without a site there is no failsafe to keep: our default profile is cleared.
    uid, cleared = await charger.expect_call("ClearChargingProfile")
    assert cleared == {"id": 1010}
    await charger.answer(uid, {"status": "Accepted"})
    await charger.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T1", "meterStart": 0, "timestamp": "2026-11-23T18:00:00Z"},
    )
    await asyncio.sleep(0.05)
    assert not charger._calls  # no balancing any more


async def test_with_balancing_a_tag_limit_goes_out_once_as_the_site_limit(
    raw_charger: ConnectRaw,
) -> None:
    registry = TagRegistry()
    registry.load([Tag("GUEST", max_current_a=10)], AuthorizationMode.ACCEPT_ALL)
    charger = await raw_charger(site=SiteSettings(fuse_a=32), authorizer=registry)
    uid, _ = await charger.expect_call("GetLocalListVersion")
    await charger.answer(uid, {"listVersion": -1})
    uid, _ = await charger.expect_call("SetChargingProfile")  # the failsafe
    await charger.answer(uid, {"status": "Accepted"})
    await charger.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "GUEST", "meterStart": 0, "timestamp": "2026-11-23T18:00:00Z"},
    )
    uid, payload = await charger.expect_call("SetChargingProfile")
    schedule = payload["csChargingProfiles"]["chargingSchedule"]
    assert (schedule["duration"], schedule["chargingSchedulePeriod"][0]["limit"]) == (300, 10)
    await charger.answer(uid, {"status": "Accepted"})
    await asyncio.sleep(0.05)
    assert not charger._calls  # no second, lasting profile from the tag


async def test_a_charger_of_higher_priority_is_served_first() -> None:
    def site(fuse_a: float) -> SiteBalancer:
        return SiteBalancer(
            SiteSettings(fuse_a=fuse_a, margin_a=0),
            Charger().execute,
            chargers=Limits(priorities={"B": 1}),
            clock=Clock(),
        )

    # A came first, but B matters more: 12 A is not enough for two.
    assert await site(12).rebalance([charging("A"), charging("B")]) == {"A/1": 0.0, "B/1": 12.0}
    # Enough for both minimums: A keeps its 6 A, B gets all the rest.
    assert await site(14).rebalance([charging("A"), charging("B")]) == {"A/1": 6.0, "B/1": 8.0}


async def test_charging_modes_off_fast_and_solar_within_the_fuse() -> None:
    charger, clock = Charger(), Clock()
    modes = {"A": ChargingMode.OFF, "C": ChargingMode.SOLAR_ONLY}
    site = SiteBalancer(
        SiteSettings(
            fuse_a=25, margin_a=0, export_meter=True, solar=SolarSettings(start_delay_s=60)
        ),
        charger.execute,
        chargers=Limits(modes=modes),
        clock=clock,
    )
    stations = [charging("A"), charging("B"), charging("C")]
    site.set_export(6000)
    # Off: paused (0 A sent). Fast: the whole fuse. Solar: waits for the surplus to last.
    assert await site.rebalance(stations) == {"A/1": 0.0, "B/1": 25.0, "C/1": 0.0}
    assert sorted(charger.limits()) == [("A", 0.0), ("B", 25.0), ("C", 0.0)]
    clock.now += 60
    # C starts on the surplus (8.6 A on three phases); B gives way to it (the fuse).
    assert await site.rebalance(stations) == {"A/1": 0.0, "B/1": 16.4, "C/1": 8.6}
    assert site.solar.surplus_w == 6000


async def test_solar_on_a_charger_that_switches_phases_sends_the_number_of_phases() -> None:
    charger, clock = Charger(), Clock()
    site = SiteBalancer(
        SiteSettings(fuse_a=25, export_meter=True, solar=SolarSettings(start_delay_s=0)),
        charger.execute,
        chargers=Limits(modes={"A": ChargingMode.SOLAR_ONLY}, switching=frozenset({"A", "B"})),
        clock=clock,
    )
    site.set_export(2000)
    assert await site.rebalance([charging("A"), charging("B")]) == {"A/1": 8.6, "B/1": 15.4}
    phases = {cid: command.profile.periods[0].number_phases for cid, command in charger.sent}
    assert phases == {"A": 1, "B": 3}  # A: one phase; B (fast) back on three
    # Without an export reading there is no surplus: A pauses after the stop delay.
    site.set_export(None)
    await site.rebalance([charging("A", amps={"L1": 8.6})])
    clock.now += 300
    assert await site.rebalance([charging("A", amps={"L1": 8.6})]) == {"A/1": 0.0}
