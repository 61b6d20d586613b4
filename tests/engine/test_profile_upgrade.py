"""ProfileUpgrade on its own: the steps per version, a scheduled reset, refusals, slots.

A fake host answers the commands, so each path runs without a network; the whole
upgrade over wss:// is in tests/ha/test_profile_upgrade.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.certificates import CertificateFacts
from custom_components.ocpp_csms.csms.commands import (
    Command,
    CommandResult,
    CommandStatus,
    GetConfiguration,
    RequestCertificateSigning,
    Reset,
    SetConfiguration,
    SetNetworkProfile,
)
from custom_components.ocpp_csms.csms.host import SecurityProfile
from custom_components.ocpp_csms.csms.profile_upgrade import (
    CertificatePolicy,
    Outcome,
    Problem,
    ProfileUpgrade,
    UpgradeOptions,
    UpgradeRefused,
    UpgradeStep,
    free_slot,
    holds_fresh_certificate,
)
from custom_components.ocpp_csms.csms.station import ClientCertificate, OcppVersion, Station

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
URL = "wss://ha.local:9000/ocpp"


def _certificate(*, installed: bool = True, days: int = 300) -> ClientCertificate:
    facts = CertificateFacts("CN=CP-1", "ab", "AA:BB", NOW, NOW + dt.timedelta(days=days))
    return ClientCertificate(facts, installed, "Accepted", NOW)


class FakeHost:
    """Answers commands from `answers` (by command type), Accepted otherwise."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.sent: list[Command] = []
        self.answers: dict[type, CommandResult] = {}
        self.link: object = object()
        # The charger's priority list as GetConfiguration reads it (None: unknown).
        self.priority: str | None = "1,2"
        # Commands of these types are answered once their event is set.
        self.held: dict[type, asyncio.Event] = {}

    @property
    def stations(self) -> Mapping[str, Station]:
        return {self.station.id: self.station}

    def connection(self, charger_id: str) -> object | None:
        return self.link if self.station.connected else None

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        self.sent.append(command)
        if (held := self.held.get(type(command))) is not None:
            await held.wait()
        if isinstance(command, RequestCertificateSigning):
            self.station.client_certificate = _certificate()
        if isinstance(command, SetConfiguration) and command.key == "SecurityProfile":
            self.link = object()  # it reconnects
        if isinstance(command, GetConfiguration):
            if self.priority is None:
                return CommandResult(CommandStatus.REJECTED, "Rejected")
            data = {"configuration": {command.keys[0]: {"value": self.priority}}}
            return CommandResult(CommandStatus.ACCEPTED, data=data)
        return self.answers.get(type(command), CommandResult(CommandStatus.ACCEPTED, "Accepted"))

    async def sent_one(self, kind: type) -> None:
        """Wait until a command of `kind` was sent."""
        async with asyncio.timeout(30):
            while not any(isinstance(command, kind) for command in self.sent):
                await asyncio.sleep(0.01)


class Setting:
    """Our record of the profile, as a list of what was set."""

    def __init__(self) -> None:
        self.history: list[Any] = [SecurityProfile.TLS_BASIC_AUTH]

    async def set(self, profile: SecurityProfile) -> None:
        self.history.append(profile)

    async def restore(self) -> None:
        self.history.append("restored")


def _station(version: OcppVersion) -> Station:
    return Station("CP-1", version, connected=True, central_system_url=URL)


def test_free_slots_and_fresh_certificates() -> None:
    assert free_slot(None) == 1
    assert free_slot("0") == 1
    assert free_slot("1, 2,0") == 3
    assert free_slot(",".join(str(n) for n in range(100))) is None
    station = _station(OcppVersion.V16)
    assert not holds_fresh_certificate(station, NOW)
    station.client_certificate = _certificate(days=3)
    assert not holds_fresh_certificate(station, NOW)  # ends within the margin
    station.client_certificate = _certificate(installed=False)
    assert not holds_fresh_certificate(station, NOW)
    station.client_certificate = _certificate()
    assert holds_fresh_certificate(station, NOW)


async def test_16_steps() -> None:
    host, setting = FakeHost(_station(OcppVersion.V16)), Setting()
    options = UpgradeOptions(reconnect_timeout_s=5)
    steps = await ProfileUpgrade(host, "CP-1", setting, options).run()
    assert [(step.step, step.outcome) for step in steps] == [
        (UpgradeStep.CLIENT_CERTIFICATE, Outcome.SIGNED),
        (UpgradeStep.PROFILE_SETTING, Outcome.DONE),
        (UpgradeStep.SECURITY_PROFILE, Outcome.ACCEPTED),
        (UpgradeStep.RECONNECT, Outcome.RECONNECTED),
    ]
    assert host.sent[1:] == [SetConfiguration("SecurityProfile", "3")]
    assert setting.history[-1] is SecurityProfile.TLS_CLIENT_CERTIFICATE


async def test_2x_steps_keep_the_old_slots_behind_and_a_scheduled_reset_is_not_waited_for() -> None:
    station = _station(OcppVersion.V201)
    station.client_certificate = _certificate()
    host, setting = FakeHost(station), Setting()
    host.answers[Reset] = CommandResult(CommandStatus.ACCEPTED, "Scheduled")
    options = UpgradeOptions(ocpp_interface="Wireless1", reconnect_timeout_s=600)
    steps = await ProfileUpgrade(host, "CP-1", setting, options).run()
    assert [(step.step, step.outcome) for step in steps] == [
        (UpgradeStep.CLIENT_CERTIFICATE, Outcome.ALREADY_SIGNED),
        (UpgradeStep.PROFILE_SETTING, Outcome.DONE),
        (UpgradeStep.NETWORK_PROFILE, Outcome.ACCEPTED),
        (UpgradeStep.NETWORK_PRIORITY, Outcome.ACCEPTED),
        (UpgradeStep.RESET, Outcome.SCHEDULED),
    ]
    assert host.sent[1:] == [
        SetNetworkProfile(3, URL, 3, "Wireless1", 30),
        SetConfiguration("OCPPCommCtrlr/NetworkConfigurationPriority", "3,1,2"),
        Reset(hard=False),
    ]


@pytest.mark.parametrize(
    ("version", "refused", "step"),
    [
        (OcppVersion.V16, SetConfiguration, UpgradeStep.SECURITY_PROFILE),
        (OcppVersion.V201, SetNetworkProfile, UpgradeStep.NETWORK_PROFILE),
        (OcppVersion.V201, Reset, UpgradeStep.RESET),
    ],
)
async def test_a_refusal_restores_our_setting(
    version: OcppVersion, refused: type, step: UpgradeStep
) -> None:
    host, setting = FakeHost(_station(version)), Setting()
    host.answers[refused] = CommandResult(CommandStatus.REJECTED, "Rejected")
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", setting).run()
    assert stopped.value.step is step
    assert stopped.value.result == CommandResult(CommandStatus.REJECTED, "Rejected")
    assert setting.history[-1] == "restored"
    assert not stopped.value.kept
    assert stopped.value.priority_left is None


PRIORITY = "OCPPCommCtrlr/NetworkConfigurationPriority"


async def test_a_refused_reset_puts_the_old_priority_list_back() -> None:
    """Otherwise the charger, back on profile 2 for us, would try the new slot first at
    its next restart; one that will not take its old list back is named in the error."""
    host, setting = FakeHost(_station(OcppVersion.V201)), Setting()
    host.answers[Reset] = CommandResult(CommandStatus.REJECTED, "Rejected")
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", setting).run()
    assert stopped.value.step is UpgradeStep.RESET
    assert host.sent[-2:] == [Reset(hard=False), SetConfiguration(PRIORITY, "1,2")]
    assert stopped.value.priority_left is None
    assert setting.history[-1] == "restored"

    host, setting = FakeHost(_station(OcppVersion.V201)), Setting()
    host.answers[Reset] = CommandResult(CommandStatus.REJECTED, "Rejected")
    execute = host.execute

    async def refuse_the_old_list(charger_id: str, command: Command) -> CommandResult:
        if command == SetConfiguration(PRIORITY, "1,2"):
            return CommandResult(CommandStatus.REJECTED, "Rejected")
        return await execute(charger_id, command)

    host.execute = refuse_the_old_list  # type: ignore[method-assign]
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", setting).run()
    assert stopped.value.priority_left == "3,1,2"
    assert setting.history[-1] == "restored"


@pytest.mark.parametrize("status", [CommandStatus.TIMED_OUT, CommandStatus.OFFLINE])
@pytest.mark.parametrize(
    ("version", "unanswered", "step"),
    [
        (OcppVersion.V16, SetConfiguration, UpgradeStep.SECURITY_PROFILE),
        (OcppVersion.V201, SetConfiguration, UpgradeStep.NETWORK_PRIORITY),
        (OcppVersion.V201, Reset, UpgradeStep.RESET),
    ],
)
async def test_no_answer_once_told_to_move_keeps_profile_3(
    version: OcppVersion, unanswered: type, step: UpgradeStep, status: CommandStatus
) -> None:
    """A charger that takes the new profile may go before it answers: restoring 2 would
    shut it out when it comes back on 3."""
    host, setting = FakeHost(_station(version)), Setting()
    host.answers[unanswered] = CommandResult(status)
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", setting).run()
    assert stopped.value.step is step
    assert stopped.value.kept
    assert setting.history[-1] is SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert not any(command == SetConfiguration(PRIORITY, "1,2") for command in host.sent)


async def test_no_answer_before_that_restores() -> None:
    """SetNetworkProfile only fills a slot nothing uses yet: unanswered, all is as it was."""
    host, setting = FakeHost(_station(OcppVersion.V201)), Setting()
    host.answers[SetNetworkProfile] = CommandResult(CommandStatus.TIMED_OUT)
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", setting).run()
    assert not stopped.value.kept
    assert setting.history[-1] == "restored"


@pytest.mark.parametrize(
    ("version", "held", "restored"),
    [
        (OcppVersion.V201, SetNetworkProfile, True),  # nothing on the charger uses it yet
        (OcppVersion.V16, SetConfiguration, False),  # it may be moving already
    ],
)
async def test_a_cancelled_upgrade(
    version: OcppVersion, held: type, restored: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant stops, or the script calling the action is stopped, mid-command."""
    host, setting = FakeHost(_station(version)), Setting()
    host.held[held] = asyncio.Event()
    upgrade = asyncio.create_task(ProfileUpgrade(host, "CP-1", setting).run())
    await host.sent_one(held)
    upgrade.cancel()
    with caplog.at_level(logging.WARNING), pytest.raises(asyncio.CancelledError):
        await upgrade
    expected = "restored" if restored else SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert setting.history[-1] == expected
    assert "stays on profile 3" in caplog.text or restored


async def test_one_upgrade_of_a_charger_at_a_time() -> None:
    """A second upgrade while one runs is refused before it changes anything: failing,
    it would restore profile 2 after the first one moved the charger to 3."""
    host, setting = FakeHost(_station(OcppVersion.V16)), Setting()
    host.held[RequestCertificateSigning] = asyncio.Event()
    options = UpgradeOptions(reconnect_timeout_s=5)
    first = asyncio.create_task(ProfileUpgrade(host, "CP-1", setting, options).run())
    await host.sent_one(RequestCertificateSigning)
    second = Setting()
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", second, options).run()
    assert stopped.value.problem is Problem.IN_PROGRESS
    assert second.history == [SecurityProfile.TLS_BASIC_AUTH]
    host.held[RequestCertificateSigning].set()
    steps = await first
    assert steps[-1].outcome is Outcome.RECONNECTED
    assert setting.history[-1] is SecurityProfile.TLS_CLIENT_CERTIFICATE
    # Over: the next one may run.
    await ProfileUpgrade(host, "CP-1", Setting(), options).run()


async def test_an_unknown_priority_list_is_not_overwritten() -> None:
    """Without the charger's list, our slot alone would drop its fallbacks (and "slot 1"
    might be the one it uses): nothing is sent; the base report's list will do."""
    host, setting = FakeHost(_station(OcppVersion.V201)), Setting()
    host.priority = None
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", setting).run()
    assert stopped.value.problem is Problem.PRIORITY_UNKNOWN
    assert not any(
        isinstance(command, SetNetworkProfile | SetConfiguration) for command in host.sent
    )
    assert setting.history[-1] == "restored"
    host.station.configuration[PRIORITY] = "0"
    host.answers[Reset] = CommandResult(CommandStatus.ACCEPTED, "Scheduled")
    await ProfileUpgrade(host, "CP-1", Setting()).run()
    assert SetConfiguration(PRIORITY, "1,0") in host.sent


async def test_what_stops_it_before_anything_changes() -> None:
    offline = _station(OcppVersion.V16)
    offline.connected = False
    plain = _station(OcppVersion.V16)
    plain.central_system_url = "ws://ha.local:9000/ocpp"
    for station, problem in ((offline, Problem.OFFLINE), (plain, Problem.NOT_TLS)):
        setting = Setting()
        with pytest.raises(UpgradeRefused) as stopped:
            await ProfileUpgrade(FakeHost(station), "CP-1", setting).run()
        assert stopped.value.problem is problem
        assert setting.history == [SecurityProfile.TLS_BASIC_AUTH]
    # A certificate given by hand: no request; a charger that refuses to ask: stopped.
    host, setting = FakeHost(_station(OcppVersion.V16)), Setting()
    options = UpgradeOptions(certificate=CertificatePolicy.PRESENT, reconnect_timeout_s=0)
    steps = await ProfileUpgrade(host, "CP-1", setting, options).run()
    assert steps[0].outcome is Outcome.ASSUMED
    assert not any(isinstance(command, RequestCertificateSigning) for command in host.sent)
    host, setting = FakeHost(_station(OcppVersion.V16)), Setting()
    host.answers[RequestCertificateSigning] = CommandResult(CommandStatus.NOT_SUPPORTED)
    with pytest.raises(UpgradeRefused) as stopped:
        await ProfileUpgrade(host, "CP-1", setting).run()
    assert stopped.value.step is UpgradeStep.CLIENT_CERTIFICATE
    assert setting.history == [SecurityProfile.TLS_BASIC_AUTH]
