"""Client certificates known and renewed before they end, on a clock the tests move.

Chargers connect over wss:// with a client certificate of our CA (security profile 3),
issued long enough ago that a few weeks of the test clock bring it into its renewal
window. The certificates the CA signs during a renewal are dated by the real clock
(a year from now), so they end after the old ones whatever the test clock says.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from custom_components.ocpp_csms.csms.certificate_renewal import (
    MAX_LEAD,
    MIN_LEAD,
    presented_facts,
    renewal_starts,
)
from custom_components.ocpp_csms.csms.certificates import (
    CertificateAuthority,
    CertificateFacts,
    certificate_facts,
    load_or_create_ca,
)
from custom_components.ocpp_csms.csms.events import (
    CertificateRenewalFailed,
    CertificateRenewed,
    RenewalFailure,
    StationConnected,
)
from custom_components.ocpp_csms.csms.host import ChargerRecord, SecurityProfile
from custom_components.ocpp_csms.csms.tls import build_ssl_context
from tests.chargers import charger, wait_for
from tests.engine.conftest import Running, StartSystem
from tests.engine.pki import client_files, server_files

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]
CP = "CP-3"
TRIGGERS = ("TriggerMessage", "ExtendedTriggerMessage")
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


class Clock:
    """A wall clock that stands still until the test moves it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Site:
    """A central system on wss:// with our CA, a profile 3 charger and its certificate."""

    running: Running
    clock: Clock
    ca: CertificateAuthority
    folder: Path
    server_cert: Path
    files: tuple[Path, Path]
    started: dt.datetime

    @property
    def facts(self) -> CertificateFacts:
        """The facts of the certificate the charger was given at the start."""
        return certificate_facts(self.files[0].read_text())

    def context(self, files: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.server_cert))
        context.load_cert_chain(*(files or self.files))
        return context

    @asynccontextmanager
    async def charger(self, version: str = "ocpp1.6", **options: Any) -> AsyncIterator[Any]:
        """The charger connected with its certificate, booted (and so ready)."""
        async with charger(
            self.running.url, CP, version, ssl=self.context(), charger_options=options
        ) as client:
            assert await client.boot() == "Accepted"
            yield client

    def at(self, offset: dt.timedelta) -> None:
        """Move the clock to `offset` after the test's start and check every charger."""
        self.clock.now = self.started + offset
        self.running.system.renewal.check_all()

    def failures(self) -> list[CertificateRenewalFailed]:
        return self.running.recorder.of_type(CertificateRenewalFailed, CP)

    def renewed(self) -> list[CertificateRenewed]:
        return self.running.recorder.of_type(CertificateRenewed, CP)


def _triggers(client: Any) -> list[str]:
    return [action for action, _payload in client.received if action in TRIGGERS]


async def _site(
    start_system: StartSystem,
    tmp_path: Path,
    *,
    issued_days_ago: int = 300,
    profile: SecurityProfile = SecurityProfile.TLS_CLIENT_CERTIFICATE,
) -> Site:
    """The charger's certificate (a year's) was issued `issued_days_ago` days ago."""
    ca = await asyncio.to_thread(load_or_create_ca, tmp_path / "ca")
    server_cert, server_key = server_files(tmp_path)
    context = await asyncio.to_thread(
        build_ssl_context, str(server_cert), str(server_key), ca.ca_pem
    )
    running: Running = await start_system(ssl_context=context)
    running.system.set_certificate_authority(ca)
    running.directory.known[CP] = ChargerRecord(CP, security_profile=profile)
    started = dt.datetime.now(dt.UTC)
    issued = started - dt.timedelta(days=issued_days_ago)
    files = client_files(tmp_path, ca, CP, now=issued)
    clock = Clock(started)
    running.system.renewal.clock = clock
    return Site(running, clock, ca, tmp_path, server_cert, files, started)


def _facts(not_before: dt.datetime, lifetime: dt.timedelta) -> CertificateFacts:
    return CertificateFacts("CN=CP-3", "1f", "AA:BB", not_before, not_before + lifetime)


@pytest.mark.parametrize(
    ("lifetime", "lead"),
    [
        (dt.timedelta(days=365), MAX_LEAD),  # a third would be four months: capped
        (dt.timedelta(days=30), dt.timedelta(days=10)),  # the last third
        (dt.timedelta(hours=12), MIN_LEAD),  # at least a day: renewed at once
    ],
)
def test_the_renewal_window(lifetime: dt.timedelta, lead: dt.timedelta) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    facts = _facts(start, lifetime)
    assert renewal_starts(facts) == facts.not_after - lead


@pytest.mark.parametrize("version", VERSIONS)
async def test_presented_certificate_is_known_at_connect(
    start_system: StartSystem, tmp_path: Path, version: str
) -> None:
    """The certificate of the TLS handshake is the station's before the listener hears."""
    site = await _site(start_system, tmp_path)
    station = site.running.system.ensure_station(CP)
    seen: list[CertificateFacts | None] = []
    recorder = site.running.recorder
    handle = recorder.handle

    def record(event: Any) -> None:
        if isinstance(event, StationConnected):
            seen.append(event.station.known_certificate)
        handle(event)

    recorder.handle = record  # type: ignore[method-assign]
    async with site.charger(version) as client:
        assert _triggers(client) == []  # months before its window
    assert seen == [site.facts]
    assert station.known_certificate == site.facts


def test_a_certificate_of_another_charger_says_nothing(tmp_path: Path) -> None:
    ca = load_or_create_ca(tmp_path / "ca")
    cert_path, _key = client_files(tmp_path, ca, "CP-OTHER")
    der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(Encoding.DER)
    assert presented_facts(der, CP) is None
    assert presented_facts(der, "CP-OTHER") is not None
    assert presented_facts(b"junk", CP) is None
    assert presented_facts(None, CP) is None


@pytest.mark.parametrize("version", VERSIONS)
async def test_renewed_inside_the_window_and_not_before(
    start_system: StartSystem, tmp_path: Path, version: str
) -> None:
    """A year's certificate issued 300 days ago ends in 65 days: its window opens in 35.

    Renewed then through the simulator: a new key, a CSR, the certificate installed; the
    charger gets in again with it.
    """
    site = await _site(start_system, tmp_path)
    station = site.running.system.stations
    old = site.facts
    async with site.charger(version) as client:
        site.at(dt.timedelta(days=34))
        await client.heartbeat()  # anything sent would have come before its answer
        assert _triggers(client) == []
        site.at(dt.timedelta(days=36))
        await wait_for(site.renewed)
        assert len(_triggers(client)) == 1
        files = client.write_client_files(tmp_path)
    [renewed] = site.renewed()
    new = certificate_facts(files[0].read_text())
    assert renewed.facts == new == station[CP].known_certificate
    assert new.not_after > old.not_after + dt.timedelta(days=200)
    assert site.failures() == []
    # The charger connects with its new certificate; renewal is done for a year.
    async with charger(site.running.url, CP, version, ssl=site.context(files)) as client:
        assert await client.boot() == "Accepted"
        site.at(dt.timedelta(days=60))
        await client.heartbeat()
        assert _triggers(client) == []
    assert station[CP].known_certificate == new


async def test_renewed_when_it_connects_inside_the_window(
    start_system: StartSystem, tmp_path: Path
) -> None:
    """A charger that comes back inside its window is renewed once it is ready."""
    site = await _site(start_system, tmp_path, issued_days_ago=350)
    async with site.charger("ocpp2.0.1") as client:
        await wait_for(site.renewed)
        assert _triggers(client) == ["TriggerMessage"]


# (charger options, answers, what the failure is)
FAILURES: dict[str, tuple[dict[str, Any], dict[str, str], RenewalFailure]] = {
    "trigger_rejected": ({}, {"TriggerMessage": "Rejected", "ExtendedTriggerMessage": "Rejected"},
                         RenewalFailure.TRIGGER_REJECTED),
    "trigger_not_implemented": ({}, {"ExtendedTriggerMessage": "NotImplemented"},
                                RenewalFailure.TRIGGER_NOT_SUPPORTED),
    "no_csr": ({"csr_on_trigger": False}, {}, RenewalFailure.NO_CSR),
    "csr_refused": ({"csr_common_name": "CP-OTHER"}, {}, RenewalFailure.CSR_REFUSED),
    "not_installed": ({}, {"CertificateSigned": "Rejected"}, RenewalFailure.NOT_INSTALLED),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(FAILURES))
async def test_a_failing_renewal_is_reported_and_retried_with_backoff(
    start_system: StartSystem, tmp_path: Path, kind: str
) -> None:
    """Each failure says why and when it is tried again (1 h, 2 h, 4 h, 6 h, 6 h...);
    nothing is asked in between; once the charger behaves, the renewal succeeds."""
    options, answers, reason = FAILURES[kind]
    site = await _site(start_system, tmp_path)
    site.running.system.renewal.csr_wait_s = 0.2  # the charger that never sends one
    old = site.facts
    async with site.charger("ocpp1.6", **options) as client:
        client.answers.update(answers)
        now = dt.timedelta(days=40)
        for attempt, delay in enumerate((1, 2, 4, 6, 6), start=1):
            site.at(now)
            await wait_for(lambda attempt=attempt: len(site.failures()) == attempt)  # type: ignore[misc]
            failure = site.failures()[-1]
            assert (failure.reason, failure.expires) == (reason, old.not_after)
            assert failure.retry_at == site.started + now + delay * HOUR
            site.at(now + delay * HOUR - dt.timedelta(minutes=1))
            await client.heartbeat()
            assert len(_triggers(client)) == attempt
            now += delay * HOUR
        assert site.renewed() == []
        # Fixed: the next try succeeds.
        client.answers.clear()
        client.csr_on_trigger = True
        client.csr_common_name = None
        site.at(now)
        await wait_for(site.renewed)
    assert len(site.failures()) == 5
    station = site.running.system.stations[CP]
    assert station.known_certificate is not None
    assert station.known_certificate.not_after > old.not_after
    state = site.running.system.renewal.state(CP)
    assert state is not None
    assert (state.failures, state.failure, state.retry_at) == (0, None, None)


async def test_a_retry_comes_when_it_is_due_not_at_the_next_check(
    start_system: StartSystem, tmp_path: Path
) -> None:
    """A failed renewal is tried again at its `retry_at`, not at the first hourly check
    after it (which, counted from the check that started the renewal, comes just too
    early, so retries came an hour late). Here on a clock that runs in real time, inside
    the window, with retries after half a second and the hourly check an hour away."""
    site = await _site(start_system, tmp_path)
    renewal = site.running.system.renewal
    renewal.retry_delays = (dt.timedelta(seconds=0.5),)
    ahead = dt.timedelta(days=40)
    renewal.clock = lambda: dt.datetime.now(dt.UTC) + ahead
    async with charger(site.running.url, CP, ssl=site.context()) as client:
        client.answers["ExtendedTriggerMessage"] = "Rejected"
        assert await client.boot() == "Accepted"  # ready: renewal is tried, and refused
        await wait_for(site.failures)
        [failure] = site.failures()
        assert failure.retry_at is not None
        client.answers.clear()
        await wait_for(site.renewed)
    assert dt.datetime.now(dt.UTC) + ahead >= failure.retry_at
    assert _triggers(client) == ["ExtendedTriggerMessage"] * 2


async def test_never_two_renewals_at_once(start_system: StartSystem, tmp_path: Path) -> None:
    """While a charger's CSR is awaited, neither checks nor its readiness ask again."""
    site = await _site(start_system, tmp_path, issued_days_ago=350)
    site.running.system.renewal.csr_wait_s = 3600.0
    async with site.charger("ocpp2.0.1", csr_on_trigger=False) as client:
        await wait_for(lambda: _triggers(client))
        station = site.running.system.stations[CP]
        for hours in range(1, 5):
            site.at(hours * HOUR)
            site.running.system.upkeep.station_ready(station)
        await client.heartbeat()
        assert _triggers(client) == ["TriggerMessage"]
        state = site.running.system.renewal.state(CP)
        assert state is not None
        assert state.in_flight
    assert site.failures() == []


async def test_an_expired_certificate_is_reported_once(
    start_system: StartSystem, tmp_path: Path
) -> None:
    """Known from an earlier run, ended while the charger was away: told once; a newer
    certificate (its own request, or the user's doing) ends the failure."""
    site = await _site(start_system, tmp_path)
    renewal = site.running.system.renewal
    station = site.running.system.ensure_station(CP)
    old = site.facts
    renewal.remember(station, old)
    site.at(dt.timedelta(days=64))
    assert site.failures() == []
    site.at(dt.timedelta(days=66))
    site.at(dt.timedelta(days=67))
    [expired] = site.failures()
    assert (expired.reason, expired.expires) == (RenewalFailure.EXPIRED, old.not_after)
    newer = dataclasses.replace(old, not_after=old.not_after + dt.timedelta(days=365))
    renewal.remember(station, newer)
    assert [event.facts for event in site.renewed()] == [newer]
    assert station.known_certificate == newer


async def test_newest_certificate_wins(start_system: StartSystem, tmp_path: Path) -> None:
    """A charger that accepted a newer certificate may present the old one until it
    reconnects: the newer one is what is known (and what renewal watches)."""
    site = await _site(start_system, tmp_path)
    station = site.running.system.ensure_station(CP)
    newer = dataclasses.replace(site.facts, not_after=site.facts.not_after + 100 * DAY)
    site.running.system.renewal.remember(station, newer)
    async with site.charger() as client:
        site.at(dt.timedelta(days=40))  # the presented one's window, not the newer one's
        await client.heartbeat()
        assert _triggers(client) == []
    assert station.known_certificate == newer
    assert site.renewed() == []


async def test_a_profile_2_charger_with_a_certificate_is_renewed(
    start_system: StartSystem, tmp_path: Path
) -> None:
    """It needs none to connect, but one that is known (it is moving to profile 3, or
    was moved back to 2 as its certificate expired) is kept valid alike."""
    site = await _site(start_system, tmp_path, profile=SecurityProfile.TLS_BASIC_AUTH)
    async with charger(site.running.url, CP, ssl=site.context()) as client:
        assert await client.boot() == "Accepted"
        site.at(dt.timedelta(days=70))  # expired: renewed all the same
        await wait_for(site.renewed)
        assert _triggers(client) == ["ExtendedTriggerMessage"]
    assert [event.reason for event in site.failures()] == [RenewalFailure.EXPIRED]


async def test_no_certificate_known_nothing_asked(
    start_system: StartSystem, tmp_path: Path
) -> None:
    """A charger that never presented nor took a certificate of ours is left alone."""
    site = await _site(start_system, tmp_path, profile=SecurityProfile.TLS_BASIC_AUTH)
    context = ssl.create_default_context(cafile=str(site.server_cert))
    async with charger(site.running.url, CP, ssl=context) as client:
        assert await client.boot() == "Accepted"
        site.at(dt.timedelta(days=400))
        await client.heartbeat()
        assert _triggers(client) == []
    assert site.running.system.stations[CP].known_certificate is None
    assert site.failures() == []


async def test_an_offline_charger_is_renewed_when_back(
    start_system: StartSystem, tmp_path: Path
) -> None:
    """Inside its window while away: nothing fails; it is renewed when it connects."""
    site = await _site(start_system, tmp_path)
    station = site.running.system.ensure_station(CP)
    site.running.system.renewal.remember(station, site.facts)
    site.at(dt.timedelta(days=40))
    assert site.failures() == []
    async with site.charger("ocpp1.6") as client:
        await wait_for(site.renewed)
        assert _triggers(client) == ["ExtendedTriggerMessage"]


async def test_a_removed_charger_ends_its_renewal(
    start_system: StartSystem, tmp_path: Path
) -> None:
    site = await _site(start_system, tmp_path, issued_days_ago=350)
    site.running.system.renewal.csr_wait_s = 3600.0
    async with site.charger("ocpp2.0.1", csr_on_trigger=False) as client:
        await wait_for(lambda: _triggers(client))
        await site.running.system.forget_charger(CP)
    assert site.running.system.renewal.state(CP) is None
    assert site.failures() == []
