"""Quirk profiles: chargers that deviate from OCPP as real brands do, and cope with them.

Each simulated twin (`simulator/twins.py`) names itself as its brand does and deviates
as users reported it to. A twin is tested twice where it matters: with the profile its
BootNotification chooses, which must work, and with the standard behaviour (named in
its settings), which shows the deviation is real.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from custom_components.ocpp_csms.csms.charging import limit_profile
from custom_components.ocpp_csms.csms.cheapest import ChargingGoal
from custom_components.ocpp_csms.csms.commands import (
    ChargingProfile,
    ClearChargingProfile,
    Command,
    CommandResult,
    CommandStatus,
    GetCompositeSchedule,
    ProfilePurpose,
    RemoteStart,
    RemoteStop,
    SchedulePeriod,
    SetChargingProfile,
)
from custom_components.ocpp_csms.csms.events import StationUpdated
from custom_components.ocpp_csms.csms.host import ChargerRecord
from custom_components.ocpp_csms.csms.plug_in import START_GRACE_S, PlugInStarter
from custom_components.ocpp_csms.csms.price_plan import PriceSlot
from custom_components.ocpp_csms.csms.quirks import (
    AUTOMATIC,
    BY_KEY,
    PROFILES,
    STANDARD,
    Quirks,
    adapt_command,
    command_timeout,
    quirks_for,
)
from custom_components.ocpp_csms.csms.site import SiteBalancer
from custom_components.ocpp_csms.csms.site_settings import NoChargerLimits, SiteSettings
from custom_components.ocpp_csms.csms.solar import ChargingMode
from custom_components.ocpp_csms.csms.station import (
    ConnectorStatus,
    Evse,
    RegistrationStatus,
    Station,
    Transaction,
)
from custom_components.ocpp_csms.csms.station_facts import BootInfo
from simulator.twins import TWINS, Deviations
from tests.chargers import charger, wait_for
from tests.engine.conftest import Running, StartSystem

# The profile each twin's BootNotification chooses (None: handled for every charger).
EXPECTED_PROFILE = {
    "abb_terra_ac": "abb_terra_ac",
    "huawei_scharger": "huawei_scharger",
    "en_plus": "en_plus",
    "alfen": "alfen",
    "wallbox": "wallbox",
    "grizzl_e_firmware_5": "grizzl_e_firmware_5",
    "grizzl_e_firmware_3": "grizzl_e_firmware_3",
    "foxess": STANDARD,
    "autel": STANDARD,
}


def boot_of(twin: str) -> BootInfo:
    found = TWINS[twin]
    return BootInfo(found.vendor, found.model, "SN-1", found.firmware_version)


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_each_twin_boots_into_its_profile(twin: str) -> None:
    assert quirks_for(boot_of(twin)).key == EXPECTED_PROFILE[twin]


def test_every_profile_has_a_twin() -> None:
    assert {profile.quirks.key for profile in PROFILES} <= set(EXPECTED_PROFILE.values())


def test_a_charger_nobody_profiled_is_standard() -> None:
    assert quirks_for(BootInfo("OCPP CSMS Simulator", "SimCharger")) == Quirks()
    assert quirks_for(None) == Quirks()


def test_the_settings_choose_over_the_boot() -> None:
    abb = boot_of("abb_terra_ac")
    assert quirks_for(abb, STANDARD).key == STANDARD
    assert quirks_for(boot_of("autel"), "en_plus").key == "en_plus"
    # Automatic, or a profile since removed, leaves it to the boot.
    assert quirks_for(abb, AUTOMATIC).key == "abb_terra_ac"
    assert quirks_for(abb, "a_profile_we_removed").key == "abb_terra_ac"


def test_a_profile_says_what_it_changes() -> None:
    assert BY_KEY["abb_terra_ac"].differences() == {
        "max_stack_level": 0,
        "limit_in_default_profile": True,
    }
    assert BY_KEY["huawei_scharger"].differences() == {"rate_units": ["W"]}
    assert Quirks().differences() == {}


def _profile(purpose: ProfilePurpose, stack_level: int = 0) -> ChargingProfile:
    return ChargingProfile(1, stack_level, purpose, (SchedulePeriod(0, 10.0),))


def test_commands_are_adapted_only_where_the_profile_says() -> None:
    en_plus = BY_KEY["en_plus"]
    default = SetChargingProfile(0, _profile(ProfilePurpose.TX_DEFAULT))
    assert adapt_command(en_plus, default) == SetChargingProfile(1, default.profile)
    # A station maximum stays on EVSE 0, as the specification requires.
    maximum = SetChargingProfile(0, _profile(ProfilePurpose.STATION_MAX))
    assert adapt_command(en_plus, maximum) == maximum
    clear = ClearChargingProfile(evse_id=0, purpose=ProfilePurpose.TX_DEFAULT)
    assert adapt_command(en_plus, clear) == ClearChargingProfile(
        evse_id=1, purpose=ProfilePurpose.TX_DEFAULT
    )
    assert adapt_command(en_plus, GetCompositeSchedule(0, 60)) == GetCompositeSchedule(1, 60)
    assert adapt_command(Quirks(), default) is default
    assert adapt_command(Quirks(), clear) is clear

    abb = BY_KEY["abb_terra_ac"]
    high = SetChargingProfile(1, _profile(ProfilePurpose.TX, stack_level=3))
    assert adapt_command(abb, high) == SetChargingProfile(
        1, _profile(ProfilePurpose.TX, stack_level=0)
    )
    start = RemoteStart("TAG", evse_id=1, profile=_profile(ProfilePurpose.TX, stack_level=2))
    adapted = adapt_command(abb, start)
    assert isinstance(adapted, RemoteStart)
    assert adapted.profile is not None
    assert adapted.profile.stack_level == 0

    alfen = BY_KEY["alfen"]
    assert command_timeout(alfen, start, None) == 90.0
    assert command_timeout(alfen, default, 5.0) == 5.0
    assert command_timeout(Quirks(), start, None) is None


async def _twin_system(
    start_system: StartSystem, profile: str | None = None, **settings: object
) -> Running:
    running = await start_system(**settings)
    running.directory.known["CP-1"] = ChargerRecord("CP-1", quirks=profile)
    return running


def _learnt(running: Running) -> bool:
    return any(
        "capabilities" in event.changed
        for event in running.recorder.of_type(StationUpdated, "CP-1")
    )


@pytest.mark.parametrize(("profile", "accepted"), [(None, True), (STANDARD, False)])
async def test_abb_takes_its_profiles_at_stack_level_zero(
    start_system: StartSystem, profile: str | None, accepted: bool
) -> None:
    running = await _twin_system(start_system, profile)
    options = {"twin": "abb_terra_ac"}
    async with charger(running.url, "CP-1", charger_options=options) as client:
        assert await client.boot() == "Accepted"
        command = SetChargingProfile(1, _profile(ProfilePurpose.TX_DEFAULT, stack_level=2))
        result = await running.system.execute("CP-1", command)
        assert result.accepted is accepted
        assert client.limit_a == (10.0 if accepted else None)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize(("profile", "accepted"), [(None, True), (STANDARD, False)])
async def test_huawei_gets_its_limits_in_watts(
    start_system: StartSystem, version: str, profile: str | None, accepted: bool
) -> None:
    """It claims to take amperes and refuses them: its profile sends watts."""
    running = await _twin_system(start_system, profile, learn_capabilities=True)
    options = {"twin": "huawei_scharger"}
    async with charger(running.url, "CP-1", version, charger_options=options) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: _learnt(running))
        station = running.system.stations["CP-1"]
        profile_sent = limit_profile(station, 10, ProfilePurpose.STATION_MAX)
        assert profile_sent.unit == ("W" if accepted else "A")
        result = await running.system.execute("CP-1", SetChargingProfile(0, profile_sent))
        assert result.accepted is accepted
        if accepted:
            # 10 A on the three phases it is assumed to use: the same current.
            assert client.limit_a == pytest.approx(10 / 3, abs=0.1)


@pytest.mark.parametrize(("profile", "applied"), [(None, 10.0), (STANDARD, None)])
async def test_en_plus_gets_its_default_profile_on_connector_1(
    start_system: StartSystem, profile: str | None, applied: float | None
) -> None:
    """On connector 0 it accepts the profile and never applies it (nor charges)."""
    running = await _twin_system(start_system, profile)
    async with charger(running.url, "CP-1", charger_options={"twin": "en_plus"}) as client:
        assert await client.boot() == "Accepted"
        station = running.system.stations["CP-1"]
        result = await running.system.upkeep.set_default_cap(station, 10.0)
        assert result.accepted
        assert client.limit_a == applied
        [(_, payload)] = [r for r in client.received if r[0] == "SetChargingProfile"]
        assert payload["connector_id"] == (1 if applied else 0)


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize(("profile", "status"), [(None, "accepted"), (STANDARD, "timed_out")])
async def test_alfen_is_given_time_to_answer_a_remote_start(
    start_system: StartSystem, version: str, profile: str | None, status: str
) -> None:
    """It answers after the usual timeout; the session starts either way and is kept."""
    running = await _twin_system(start_system, profile, call_timeout=0.3)
    deviations = Deviations(remote_start_delay_s=1.0)
    options = {"twin": "alfen", "deviations": deviations}
    async with charger(running.url, "CP-1", version, charger_options=options) as client:
        assert await client.boot() == "Accepted"
        result = await running.system.execute("CP-1", RemoteStart("TAG1", evse_id=1))
        assert result.status == CommandStatus(status)
        station = running.system.stations["CP-1"]
        await wait_for(lambda: station.evses.get(1) is not None and station.evses[1].transaction)


async def test_a_charger_that_reconnects_every_minute_keeps_its_session(
    start_system: StartSystem,
) -> None:
    """Alfen-like: the socket drops and comes back without a boot, again and again.
    The session goes on, nothing is learnt or written again, nothing is lost."""
    running = await _twin_system(
        start_system,
        learn_capabilities=True,
        meter_measurands=("Energy.Active.Import.Register",),
        meter_interval_s=10,
        first_word_wait_s=0.05,
    )
    station = running.system.ensure_station("CP-1")
    async with charger(running.url, "CP-1", charger_options={"twin": "alfen"}) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: _learnt(running))
        learnt_capabilities = station.capabilities
        await client.send_status(1, "Preparing")
        transaction_id = await client.start_session(1, "TAG1")
        await client.send_meter_values(1, 60)
    for minute in range(3):
        async with charger(running.url, "CP-1", charger_options={"twin": "alfen"}) as client:
            client.transactions[1] = transaction_id  # the same session, still running
            client.energy_wh[1] = 1000.0 * (minute + 1)
            await client.heartbeat()
            await client.send_meter_values(1, 60)
            await wait_for(lambda: station.connected)
            # The charger was reconnected, not rebooted: nothing to learn or set again.
            assert not [action for action, _ in client.received if "Configuration" in action]
    assert station.capabilities is learnt_capabilities
    transaction = station.evses[1].transaction
    assert transaction is not None
    assert transaction.id == str(transaction_id)
    assert transaction.last_register_wh is not None


METERING = {
    "learn_capabilities": True,
    "meter_measurands": ("Energy.Active.Import.Register", "Power.Active.Import"),
    "meter_interval_s": 10,
    "meter_edge_measurands": ("Energy.Active.Import.Register",),
}


async def test_a_grizzl_e_on_firmware_5_is_not_configured(start_system: StartSystem) -> None:
    running = await _twin_system(start_system, **METERING)  # type: ignore[arg-type]
    options = {"twin": "grizzl_e_firmware_5", "sampling": "every_60s"}
    async with charger(running.url, "CP-1", charger_options=options) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: _learnt(running))
        assert running.system.stations["CP-1"].quirks.key == "grizzl_e_firmware_5"
        assert not [action for action, _ in client.received if action in WRITES]
        assert client.reboots_after_configuration == 0


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_charger_that_reboots_on_every_write_is_left_alone(
    start_system: StartSystem, version: str
) -> None:
    """No profile names it: after two boots that follow our writes, we stop writing,
    instead of a reboot loop."""
    running = await _twin_system(start_system, **METERING)  # type: ignore[arg-type]
    options = {"deviations": Deviations(reboots_on_configuration=True), "sampling": "every_60s"}
    async with charger(running.url, "CP-1", version, charger_options=options) as client:
        assert await client.boot() == "Accepted"
        station = running.system.stations["CP-1"]
        await wait_for(lambda: "configuration_writes_stopped" in station.warnings)
        reboots = client.reboots_after_configuration
        # Each write it answers before rebooting; at most one per metering key is on
        # its way before the reboot it causes is seen.
        assert 2 <= reboots <= 2 + 4
        # Another boot of its own: learnt again, still nothing written.
        learnings, heard = _learnings(running), len(client.received)
        await client.boot()
        await wait_for(lambda: _learnings(running) > learnings)
        assert client.reboots_after_configuration == reboots
        writes = [a for a, _ in client.received[heard:] if a in WRITES]
        assert writes == []


WRITES = ("ChangeConfiguration", "SetVariables")


def _learnings(running: Running) -> int:
    return sum(
        "capabilities" in event.changed
        for event in running.recorder.of_type(StationUpdated, "CP-1")
    )


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_charger_that_reports_no_connectors_still_charges(
    start_system: StartSystem, version: str
) -> None:
    """FoxESS-like: zero connectors in its report, one in reality."""
    running = await _twin_system(start_system, learn_capabilities=True)
    async with charger(running.url, "CP-1", version, charger_options={"twin": "foxess"}) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: _learnt(running))
        station = running.system.stations["CP-1"]
        assert station.capabilities is not None
        assert not station.capabilities.number_of_evses
        await client.send_status(1, "Preparing" if version == "ocpp1.6" else "Occupied")
        result = await running.system.execute("CP-1", RemoteStart("TAG1", evse_id=1))
        assert result.accepted
        await wait_for(lambda: station.evses.get(1) is not None and station.evses[1].transaction)


async def test_a_changed_profile_setting_applies_to_a_connected_charger(
    start_system: StartSystem,
) -> None:
    running = await _twin_system(start_system, learn_capabilities=True)
    options = {"twin": "huawei_scharger"}
    async with charger(running.url, "CP-1", charger_options=options) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: _learnt(running))
        station: Station = running.system.stations["CP-1"]
        assert station.capabilities is not None
        assert station.capabilities.charging_rate_units == {"W"}
        learnt_before = len(running.recorder.of_type(StationUpdated, "CP-1"))
        running.directory.known["CP-1"] = ChargerRecord("CP-1", quirks=STANDARD)
        running.system.reapply_quirks()
        assert station.quirks.key == STANDARD
        # Learnt again, now as it reports itself.
        await wait_for(
            lambda: (
                station.capabilities is not None
                and station.capabilities.charging_rate_units == {"A", "W"}
            )
        )
        assert len(running.recorder.of_type(StationUpdated, "CP-1")) > learnt_before
        told = len(running.recorder.of_type(StationUpdated, "CP-1"))
        running.system.reapply_quirks()  # unchanged: nothing to tell, nothing to learn
        assert len(running.recorder.of_type(StationUpdated, "CP-1")) == told


# -- a charger that starts only when told to and goes on at 0 A (Wallbox) ---------------

WALLBOX = BY_KEY["wallbox"]
FUSE = SiteSettings(fuse_a=16, margin_a=1, min_interval_s=0, profile_duration_s=300)


class Commands:
    """Answers every command Accepted; records them."""

    def __init__(self) -> None:
        self.sent: list[Command] = []

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        self.sent.append(command)
        return CommandResult(CommandStatus.ACCEPTED)

    def of[T](self, kind: type[T]) -> list[T]:
        return [command for command in self.sent if isinstance(command, kind)]


def wallbox(status: ConnectorStatus, previous: ConnectorStatus) -> tuple[Station, Evse]:
    station = Station("WB", connected=True, registration=RegistrationStatus.ACCEPTED)
    station.quirks = WALLBOX
    evse = station.evses[1] = Evse(1, status=status, previous_status=previous)
    return station, evse


class StartTag(NoChargerLimits):
    def __init__(self, mode: ChargingMode = ChargingMode.FAST) -> None:
        self._mode = mode

    def mode(self, charger_id: str) -> ChargingMode:
        return self._mode

    def start_tag(self, charger_id: str) -> str:
        return "HOME"


async def test_the_site_stops_a_session_it_pauses_and_starts_it_again() -> None:
    commands = Commands()
    site = SiteBalancer(FUSE, commands.execute, chargers=StartTag())
    station, evse = wallbox(ConnectorStatus.CHARGING, ConnectorStatus.PREPARING)
    evse.transaction = Transaction("T-1", 1, 1, datetime.now(UTC), id_tag="ALICE")
    # The house alone takes nearly all of the fuse: no room for 6 A.
    site.set_grid((12.0, 12.0, 12.0))
    assert await site.rebalance([station]) == {"WB/1": 0.0}
    [stop] = commands.of(RemoteStop)
    assert stop.transaction_id == "T-1"
    assert not commands.of(SetChargingProfile)  # a 0 A profile would not pause it
    # Until the charger reports the end, the stop is not sent again.
    await site.rebalance([station])
    assert len(commands.of(RemoteStop)) == 1
    # The session ended; the car is still plugged in.
    evse.transaction = None
    evse.previous_status, evse.status = ConnectorStatus.CHARGING, ConnectorStatus.FINISHING
    await site.rebalance([station])
    assert not commands.of(RemoteStart)
    # The house needs less: the session starts again, with its own tag and its share.
    site.set_grid((2.0, 2.0, 2.0))
    [allocation] = [await site.rebalance([station])]
    [start] = commands.of(RemoteStart)
    assert (start.id_tag, start.evse_id) == ("ALICE", 1)
    assert start.profile is not None
    assert start.profile.periods[0].limit == allocation["WB/1"] > 0


async def test_a_cheapest_plan_goes_on_across_the_sessions_a_pause_makes() -> None:
    """Paused by stopping, resumed as a new session: the car's energy and start carry on."""
    commands = Commands()
    site = SiteBalancer(
        SiteSettings(fuse_a=16, margin_a=0, min_interval_s=0, failsafe_a=6),
        commands.execute,
        chargers=StartTag(ChargingMode.CHEAPEST),
    )
    evening = datetime(2026, 11, 23, 18, tzinfo=UTC)
    cheap = datetime(2026, 11, 24, 2, tzinfo=UTC)
    site.cheapest.set_prices(
        [PriceSlot(evening + timedelta(hours=n), evening + timedelta(hours=n + 1),
                   0.05 if 8 <= n < 10 else 0.5) for n in range(13)]
    )  # fmt: skip
    site.cheapest.set_goal("WB", ChargingGoal(2 * 11_040, ready_at=time(7, 0)))
    station, evse = wallbox(ConnectorStatus.CHARGING, ConnectorStatus.PREPARING)
    evse.transaction = Transaction(
        "T-1", 1, 1, evening, id_tag="ALICE", meter_start_wh=0, last_register_wh=11_040
    )
    with freeze_time(evening + timedelta(hours=1)):
        assert await site.rebalance([station]) == {"WB/1": 0.0}  # dear now: paused
    assert commands.of(RemoteStop)
    evse.transaction = None
    evse.previous_status, evse.status = ConnectorStatus.CHARGING, ConnectorStatus.FINISHING
    with freeze_time(cheap):
        await site.rebalance([station])  # its hour: started again
    assert commands.of(RemoteStart)
    evse.transaction = Transaction(
        "T-2", 1, 1, cheap, id_tag="ALICE", meter_start_wh=11_040, last_register_wh=11_040
    )
    evse.status = ConnectorStatus.CHARGING
    with freeze_time(cheap + timedelta(minutes=1)):
        await site.rebalance([station])
    planned = site.cheapest.plans["WB/1"]
    # Half was in before the pause: one hour left, and the goal still that first night.
    assert planned.plan.needed_wh == 11_040
    assert planned.deadline == datetime(2026, 11, 24, 7, tzinfo=UTC)


async def test_a_car_that_leaves_while_paused_is_not_started() -> None:
    commands = Commands()
    site = SiteBalancer(FUSE, commands.execute, chargers=StartTag())
    station, evse = wallbox(ConnectorStatus.CHARGING, ConnectorStatus.PREPARING)
    evse.transaction = Transaction("T-1", 1, 1, datetime.now(UTC), id_tag="ALICE")
    site.set_grid((12.0, 12.0, 12.0))
    await site.rebalance([station])
    evse.transaction = None
    evse.previous_status, evse.status = ConnectorStatus.FINISHING, ConnectorStatus.AVAILABLE
    site.set_grid((2.0, 2.0, 2.0))
    await site.rebalance([station])
    assert not commands.of(RemoteStart)


@pytest.mark.parametrize(("mode", "starts"), [(ChargingMode.FAST, True), (ChargingMode.OFF, False)])
async def test_the_site_starts_a_car_just_plugged_in_when_it_has_current(
    mode: ChargingMode, starts: bool
) -> None:
    commands = Commands()
    site = SiteBalancer(FUSE, commands.execute, chargers=StartTag(mode))
    station, _ = wallbox(ConnectorStatus.PREPARING, ConnectorStatus.AVAILABLE)
    await site.rebalance([station])
    assert [(c.id_tag, c.evse_id) for c in commands.of(RemoteStart)] == (
        [("HOME", 1)] if starts else []
    )


async def test_a_charger_that_pauses_at_zero_gets_a_zero_limit_as_before() -> None:
    commands = Commands()
    site = SiteBalancer(FUSE, commands.execute, chargers=StartTag())
    station, evse = wallbox(ConnectorStatus.CHARGING, ConnectorStatus.PREPARING)
    station.quirks = Quirks()
    evse.transaction = Transaction("T-1", 1, 1, datetime.now(UTC), id_tag="ALICE")
    site.set_grid((12.0, 12.0, 12.0))
    await site.rebalance([station])
    assert not commands.of(RemoteStop)
    [profile] = commands.of(SetChargingProfile)
    assert profile.profile.periods[0].limit == 0


@pytest.mark.parametrize("profile", [None, STANDARD])
async def test_a_wallbox_starts_charging_when_a_car_is_plugged_in(
    start_system: StartSystem, profile: str | None
) -> None:
    """Without its profile the car would wait in Preparing for ever."""
    running = await _twin_system(start_system, profile)
    async with charger(running.url, "CP-1", charger_options={"twin": "wallbox"}) as client:
        assert await client.boot() == "Accepted"
        station = running.system.stations["CP-1"]
        await client.send_status(1, "Available")
        await client.send_status(1, "Preparing")
        if profile == STANDARD:
            # A sentinel command goes out after anything the plug-in might have caused.
            await running.system.execute("CP-1", GetCompositeSchedule(1, 60))
            assert not [action for action, _ in client.received if "Start" in action]
            return
        await wait_for(lambda: station.evses[1].transaction is not None)
        # The wallbox knows its transaction once our answer to its start is in: a stop
        # before that is one it rejects (seen on a busy machine).
        await wait_for(lambda: 1 in client.transactions)
        [(_, payload)] = [r for r in client.received if r[0] == "RemoteStartTransaction"]
        assert payload["id_tag"] == "CentralSystem"  # the engine's default tag
        # The user stops it; the car stays plugged in: it is not started again.
        transaction = station.evses[1].transaction
        assert transaction is not None
        assert (await running.system.execute("CP-1", RemoteStop(transaction.id))).accepted
        await wait_for(lambda: station.evses[1].transaction is None)
        await client.send_status(1, "Preparing")
        await running.system.execute("CP-1", GetCompositeSchedule(1, 60))
        starts = [r for r in client.received if r[0] == "RemoteStartTransaction"]
        assert len(starts) == 1


async def test_a_wallbox_goes_on_at_6_a_under_a_zero_limit(start_system: StartSystem) -> None:
    """The deviation itself, as the twin plays it."""
    running = await _twin_system(start_system)
    async with charger(running.url, "CP-1", charger_options={"twin": "wallbox"}) as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, "TAG1")
        station = running.system.stations["CP-1"]
        transaction = station.evses[1].transaction
        assert transaction is not None
        zero = limit_profile(station, 0, ProfilePurpose.TX, transaction_id=transaction.id)
        assert (await running.system.execute("CP-1", SetChargingProfile(1, zero))).accepted
        assert client.offered_a() == 6.0
        assert client.power_w(1) > 0


async def test_a_start_on_its_way_is_not_sent_twice() -> None:
    """The charger accepted the start; until its transaction begins (or the grace has
    passed) the car is not waiting, however often the site rebalances."""
    commands, now = Commands(), [1000.0]
    site = SiteBalancer(FUSE, commands.execute, chargers=StartTag(), clock=lambda: now[0])
    station, _ = wallbox(ConnectorStatus.PREPARING, ConnectorStatus.AVAILABLE)
    await site.rebalance([station])
    await site.rebalance([station])
    assert len(commands.of(RemoteStart)) == 1
    now[0] += START_GRACE_S + 1  # it never began: the car waits again
    await site.rebalance([station])
    assert len(commands.of(RemoteStart)) == 2


async def test_without_a_site_a_status_sent_again_starts_once() -> None:
    commands, now = Commands(), [1000.0]
    spawned: list[Coroutine[Any, Any, None]] = []
    starter = PlugInStarter(
        commands.execute,
        spawned.append,
        mode=lambda _charger: ChargingMode.FAST,
        start_tag=lambda _charger: "HOME",
        clock=lambda: now[0],
    )
    station, evse = wallbox(ConnectorStatus.PREPARING, ConnectorStatus.AVAILABLE)
    starter.evse_changed(station, evse)
    await spawned.pop()
    starter.evse_changed(station, evse)  # Preparing again, before its StartTransaction
    assert not spawned
    now[0] += START_GRACE_S + 1
    starter.evse_changed(station, evse)
    await spawned.pop()
    assert len(commands.of(RemoteStart)) == 2
