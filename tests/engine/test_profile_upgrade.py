"""ProfileUpgrade on its own: the steps per version, a scheduled reset, refusals, slots.

A fake host answers the commands, so each path runs without a network; the whole
upgrade over wss:// is in tests/ha/test_profile_upgrade.py.
"""

from __future__ import annotations

import datetime as dt
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

    @property
    def stations(self) -> Mapping[str, Station]:
        return {self.station.id: self.station}

    def connection(self, charger_id: str) -> object | None:
        return self.link if self.station.connected else None

    async def execute(self, charger_id: str, command: Command) -> CommandResult:
        self.sent.append(command)
        if isinstance(command, RequestCertificateSigning):
            self.station.client_certificate = _certificate()
        if isinstance(command, SetConfiguration) and command.key == "SecurityProfile":
            self.link = object()  # it reconnects
        if isinstance(command, GetConfiguration):
            value = {"value": "1,2"}
            data = {"configuration": {command.keys[0]: value}}
            return CommandResult(CommandStatus.ACCEPTED, data=data)
        return self.answers.get(type(command), CommandResult(CommandStatus.ACCEPTED, "Accepted"))


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
