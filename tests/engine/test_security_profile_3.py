"""Security profile 3 end to end on 127.0.0.1: chargers with client certificates over TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.exceptions import InvalidMessage, InvalidStatus

from custom_components.ocpp_csms.csms.certificates import (
    CA_KEY_FILE,
    CertificateAuthority,
    load_or_create_ca,
)
from custom_components.ocpp_csms.csms.credentials import hash_password
from custom_components.ocpp_csms.csms.host import ChargerRecord, SecurityProfile
from custom_components.ocpp_csms.csms.tls import build_server_context, build_ssl_context
from tests.chargers import charger
from tests.engine.conftest import Running, StartSystem
from tests.engine.pki import client_files, server_files

PASSWORD = "profile-password-123"
PROFILE_3 = "CP-3"


@dataclass
class Pki:
    """The central system's CA and the files a test's clients use."""

    folder: Path
    ca: CertificateAuthority
    server_cert: Path
    server_key: Path

    def client_context(self, files: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """A charger's TLS context trusting the server, with a client certificate or none."""
        context = ssl.create_default_context(cafile=str(self.server_cert))
        if files is not None:
            context.load_cert_chain(*files)
        return context

    def certificate(self, charger_id: str, **options: object) -> tuple[Path, Path]:
        return client_files(self.folder, self.ca, charger_id, **options)  # type: ignore[arg-type]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = load_or_create_ca(tmp_path / "config" / "ocpp_csms" / "ca")
    return Pki(tmp_path, ca, *server_files(tmp_path))


async def _start(
    start_system: StartSystem, pki: Pki, context: ssl.SSLContext | None = None
) -> Running:
    """A central system on wss:// (by default asking for client certificates), with one
    charger per profile."""
    context = context or await asyncio.to_thread(
        build_ssl_context, str(pki.server_cert), str(pki.server_key), pki.ca.ca_pem
    )
    running: Running = await start_system(ssl_context=context)
    stored = hash_password(PASSWORD, generated=True)
    for charger_id, profile in (
        ("CP-1", SecurityProfile.BASIC_AUTH),
        ("CP-2", SecurityProfile.TLS_BASIC_AUTH),
        (PROFILE_3, SecurityProfile.TLS_CLIENT_CERTIFICATE),
    ):
        running.directory.known[charger_id] = ChargerRecord(
            charger_id, stored, security_profile=profile
        )
    return running


async def _refusal(running: Running, charger_id: str, context: ssl.SSLContext, **kw: str) -> int:
    """The HTTP status a connection attempt is refused with."""
    with pytest.raises(InvalidStatus) as refused:
        async with charger(running.url, charger_id, ssl=context, **kw):
            pass
    return refused.value.response.status_code


async def test_right_certificate_admits(start_system: StartSystem, pki: Pki) -> None:
    """The charger's own certificate from our CA admits it, no password needed."""
    running = await _start(start_system, pki)
    context = pki.client_context(pki.certificate(PROFILE_3))
    async with charger(running.url, PROFILE_3, "ocpp2.0.1", ssl=context) as client:
        assert await client.boot() == "Accepted"
    assert running.system.counters.refused == {}


async def test_wrong_certificates_are_refused(
    start_system: StartSystem, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """None, another charger's, an expired one and a not yet valid one: HTTP 403, logged."""
    running = await _start(start_system, pki)
    caplog.set_level(logging.WARNING)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    in_a_year = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    attempts = {
        "no_certificate": pki.client_context(),
        "wrong_certificate": pki.client_context(pki.certificate("CP-OTHER")),
        "expired_certificate": pki.client_context(
            pki.certificate("CP-OLD", cn=PROFILE_3, now=long_ago)
        ),
    }
    for context in attempts.values():
        assert await _refusal(running, PROFILE_3, context) == HTTPStatus.FORBIDDEN
    future = pki.client_context(pki.certificate("CP-NEXT", cn=PROFILE_3, now=in_a_year))
    assert await _refusal(running, PROFILE_3, future) == HTTPStatus.FORBIDDEN
    refused = running.system.counters.refused
    assert refused == {"no_certificate": 1, "wrong_certificate": 1, "expired_certificate": 2}
    # One warning for the charger, whatever the reason; its retries at debug level.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no client certificate" in warnings[0]
    assert PROFILE_3 not in running.system.stations


async def test_expired_certificate_is_named_in_the_log(
    start_system: StartSystem, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """The usual trouble after a missed renewal says what it is."""
    running = await _start(start_system, pki)
    caplog.set_level(logging.WARNING)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=800)
    files = client_files(pki.folder, pki.ca, "CP-OLD", cn=PROFILE_3, now=long_ago)
    assert await _refusal(running, PROFILE_3, pki.client_context(files)) == HTTPStatus.FORBIDDEN
    assert "expired" in caplog.text


async def test_foreign_ca_is_refused_in_the_handshake(
    start_system: StartSystem, pki: Pki, tmp_path: Path
) -> None:
    """A certificate of another CA, even for the right id, ends the TLS handshake."""
    running = await _start(start_system, pki)
    foreign = load_or_create_ca(tmp_path / "foreign")
    files = client_files(tmp_path, foreign, "foreign", cn=PROFILE_3)
    # TLS 1.3: the client's handshake ends first, so it learns only when it reads.
    with pytest.raises((ssl.SSLError, InvalidMessage, ConnectionError)):
        async with charger(running.url, PROFILE_3, ssl=pki.client_context(files)) as client:
            await client.boot()
    assert PROFILE_3 not in running.system.stations
    assert running.system.counters.refused == {}  # never got as far as HTTP


async def test_no_downgrade_to_a_password(start_system: StartSystem, pki: Pki) -> None:
    """A profile 3 charger's right password, with no or a wrong certificate, is refused."""
    running = await _start(start_system, pki)
    for context in (pki.client_context(), pki.client_context(pki.certificate("CP-1"))):
        status = await _refusal(running, PROFILE_3, context, password=PASSWORD)
        assert status == HTTPStatus.FORBIDDEN


async def test_profile_3_on_a_plain_server(start_system: StartSystem, pki: Pki) -> None:
    """Without TLS no certificate can be presented: a profile 3 charger never gets in."""
    running = await start_system()
    stored = hash_password(PASSWORD, generated=True)
    running.directory.known[PROFILE_3] = ChargerRecord(
        PROFILE_3, stored, security_profile=SecurityProfile.TLS_CLIENT_CERTIFICATE
    )
    with pytest.raises(InvalidStatus) as refused:
        async with charger(running.url, PROFILE_3, password=PASSWORD):
            pass
    assert refused.value.response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("charger_id", ["CP-1", "CP-2"])
async def test_profiles_1_and_2_are_unaffected(
    start_system: StartSystem, pki: Pki, charger_id: str
) -> None:
    """Password chargers connect as before; a certificate neither helps nor hinders them."""
    running = await _start(start_system, pki)
    plain = pki.client_context()
    with_certificate = pki.client_context(pki.certificate(charger_id))
    for context in (plain, with_certificate):
        async with charger(running.url, charger_id, ssl=context, password=PASSWORD) as client:
            assert await client.boot() == "Accepted"
        assert await _refusal(running, charger_id, context) == HTTPStatus.UNAUTHORIZED
    wrong = await _refusal(running, charger_id, plain, password="wrong-password-1")
    assert wrong == HTTPStatus.UNAUTHORIZED


async def test_ca_key_never_logged(
    start_system: StartSystem, pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through creation, reload, signing, admissions and refusals the CA key stays unlogged."""
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "config" / "ocpp_csms" / "ca"
    load_or_create_ca(folder)  # reload
    running = await _start(start_system, pki)
    async with charger(
        running.url, PROFILE_3, ssl=pki.client_context(pki.certificate(PROFILE_3))
    ) as client:
        await client.boot()
    for files in (None, pki.certificate("CP-OTHER")):
        await _refusal(running, PROFILE_3, pki.client_context(files))
    key_lines = (folder / CA_KEY_FILE).read_text().splitlines()[1:-1]
    assert key_lines
    assert caplog.records
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    for line in key_lines:
        assert line not in logged
    assert "PRIVATE KEY" not in logged


async def test_the_server_context_switches_for_new_connections(
    start_system: StartSystem, pki: Pki, tmp_path: Path
) -> None:
    """Asked for nothing, the profile 3 charger has no certificate to show; asked, it is
    admitted; asked for nothing again, a factory certificate of another CA is no trouble.
    Without a CA the context cannot ask."""
    context = await asyncio.to_thread(
        build_server_context, str(pki.server_cert), str(pki.server_key), pki.ca.ca_pem, ask=False
    )
    running = await _start(start_system, pki, context)
    own = pki.client_context(pki.certificate(PROFILE_3))
    assert await _refusal(running, PROFILE_3, own) == HTTPStatus.FORBIDDEN
    assert context.ask_for_client_certificates(True)
    assert context.asks
    async with charger(running.url, PROFILE_3, ssl=own) as client:
        assert await client.boot() == "Accepted"
    foreign = load_or_create_ca(tmp_path / "factory")
    factory = pki.client_context(client_files(tmp_path, foreign, "CP-1"))
    assert context.ask_for_client_certificates(False)
    async with charger(running.url, "CP-1", ssl=factory, password=PASSWORD) as client:
        assert await client.boot() == "Accepted"
    without_ca = await asyncio.to_thread(
        build_server_context, str(pki.server_cert), str(pki.server_key), None, ask=False
    )
    assert not without_ca.ask_for_client_certificates(True)
    assert not without_ca.asks
