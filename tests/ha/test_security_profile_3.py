"""Security profile 3 from Home Assistant: the setting, the CA, admission and secrecy."""

from __future__ import annotations

import json
import logging
import ssl
import stat
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_csms.const import (
    CONF_CA_CERTFILE,
    CONF_CA_KEYFILE,
    CONF_CERTFILE,
    CONF_CHARGER_ID,
    CONF_KEYFILE,
    CONF_SECURITY_PROFILE,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from custom_components.ocpp_csms.csms.certificates import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CertificateAuthority,
    load_ca,
    load_or_create_ca,
)
from custom_components.ocpp_csms.csms.credentials import hash_password
from custom_components.ocpp_csms.csms.host import SecurityProfile
from tests.chargers import charger, wait_for
from tests.engine.pki import client_files, server_files
from tests.ha.conftest import SetUpEntry, charger_subentry, server_data, url_of
from tests.ha.test_admission import _pending_flow

PASSWORD = "profile-password-123"


def _ca_folder(hass: HomeAssistant) -> Path:
    return Path(hass.config.config_dir) / DOMAIN / "ca"


def _tls(tmp_path: Path) -> dict[str, Any]:
    cert, key = server_files(tmp_path)
    return {"tls": True, CONF_CERTFILE: str(cert), CONF_KEYFILE: str(key)}


def _on_profile(charger_id: str, profile: int, password_hash: str | None = None) -> dict[str, Any]:
    subentry = charger_subentry(charger_id, password_hash)
    subentry["data"] = {**subentry["data"], CONF_SECURITY_PROFILE: profile}
    return subentry


def _url(entry: MockConfigEntry) -> str:
    return f"wss://127.0.0.1:{entry.data[CONF_PORT]}/ocpp"


def _client(entry: MockConfigEntry, files: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A charger's TLS context trusting the server, with a client certificate or none."""
    context = ssl.create_default_context(cafile=entry.data[CONF_CERTFILE])
    if files is not None:
        context.load_cert_chain(*files)
    return context


async def _our_ca(hass: HomeAssistant) -> CertificateAuthority:
    folder = _ca_folder(hass)
    return await hass.async_add_executor_job(load_ca, folder / CA_CERT_FILE, folder / CA_KEY_FILE)


async def _add(hass: HomeAssistant, entry: MockConfigEntry, profile: str) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHARGER), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_CHARGER_ID: "CP-NEW",
            CONF_NAME: "",
            CONF_PASSWORD: "",
            CONF_SECURITY_PROFILE: profile,
        },
    )
    return dict(result)


@pytest.mark.parametrize("profile", ["2", "3"])
async def test_profiles_2_and_3_need_tls(
    hass: HomeAssistant, setup_entry: SetUpEntry, profile: str
) -> None:
    """Without TLS the form says so, and no CA is made."""
    entry = await setup_entry()
    result = await _add(hass, entry, profile)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SECURITY_PROFILE: "profile_needs_tls"}
    assert not _ca_folder(hass).exists()


async def test_profile_1_is_the_default_and_needs_nothing(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """The form offers profile 1 first; the charger's record follows the setting."""
    entry = await setup_entry()
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHARGER), context={"source": "user"}
    )
    schema = result["data_schema"]
    assert schema is not None
    defaults = {key.schema: key.default() for key in schema.schema if callable(key.default)}
    assert defaults[CONF_SECURITY_PROFILE] == "1"
    added = await _add(hass, entry, "1")
    assert added["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    record = entry.runtime_data.index.find("CP-NEW")
    assert record is not None
    assert record.security_profile is SecurityProfile.BASIC_AUTH
    assert not _ca_folder(hass).exists()


async def test_our_ca_with_tls_and_profile_3_asks_for_certificates_without_a_reload(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """With TLS our CA is made at start (key 0600, folder 0700) under the config folder,
    ready to sign; the first profile-3 charger makes the running server ask for
    certificates, and a charger already connected stays connected."""
    stored = hash_password(PASSWORD, generated=True)
    entry = await setup_entry(chargers=[_on_profile("CP-1", 1, stored)], **_tls(tmp_path))
    hub = entry.runtime_data
    assert hub.client_certificates is False
    assert hub.ca is not None
    context = _client(entry)
    async with charger(_url(entry), "CP-1", ssl=context, password=PASSWORD) as client:
        assert await client.boot() == "Accepted"
        result = await _add(hass, entry, "3")
        await hass.async_block_till_done()
        assert await client.heartbeat()
        assert hub.system is not None
        assert hub.system.connection("CP-1") is not None
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    folder = _ca_folder(hass)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / CA_KEY_FILE).stat().st_mode) == 0o600
    assert (folder / CA_CERT_FILE).exists()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is hub
    assert hub.client_certificates is True
    record = hub.index.find("CP-NEW")
    assert record is not None
    assert record.security_profile is SecurityProfile.TLS_CLIENT_CERTIFICATE
    assert hub.ca.facts == (await _our_ca(hass)).facts
    # The next connection is asked for a certificate: ours admits CP-NEW.
    files = await hass.async_add_executor_job(client_files, tmp_path, hub.ca, "CP-NEW")
    async with charger(_url(entry), "CP-NEW", ssl=_client(entry, files)) as client:
        assert await client.boot() == "Accepted"


async def test_a_broken_ca_is_a_form_error(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """Our CA's certificate without its key (never replaced: that voids every charger's
    certificate) is refused with a translated error."""
    entry = await setup_entry(**_tls(tmp_path))
    folder = _ca_folder(hass)
    await hass.async_add_executor_job(load_or_create_ca, folder)
    (folder / CA_KEY_FILE).unlink()
    result = await _add(hass, entry, "3")
    assert result["errors"] == {CONF_SECURITY_PROFILE: "ca_unavailable"}


async def _profile_3_entry(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> MockConfigEntry:
    stored = hash_password(PASSWORD, generated=True)
    return await setup_entry(
        chargers=[_on_profile("CP-3", 3, stored), _on_profile("CP-1", 1, stored)],
        **_tls(tmp_path),
    )


async def test_profile_3_charger_is_admitted_with_its_certificate_only(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """Over wss:// on 127.0.0.1: our CA's certificate admits, none (even with the right
    password) is refused with HTTP 403; the profile-1 charger is unaffected."""
    entry = await _profile_3_entry(hass, setup_entry, tmp_path)
    assert entry.state is ConfigEntryState.LOADED
    ca = await _our_ca(hass)
    files = await hass.async_add_executor_job(client_files, tmp_path, ca, "CP-3")
    async with charger(_url(entry), "CP-3", "ocpp2.0.1", ssl=_client(entry, files)) as client:
        assert await client.boot() == "Accepted"
    with pytest.raises(InvalidStatus) as refused:
        async with charger(_url(entry), "CP-3", ssl=_client(entry), password=PASSWORD):
            pass
    assert refused.value.response.status_code == HTTPStatus.FORBIDDEN
    async with charger(_url(entry), "CP-1", ssl=_client(entry), password=PASSWORD) as client:
        assert await client.boot() == "Accepted"


async def test_without_profile_3_no_certificate_is_asked(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """TLS with profile-1 chargers only: a factory certificate of another CA is no trouble."""
    stored = hash_password(PASSWORD, generated=True)
    entry = await setup_entry(chargers=[_on_profile("CP-1", 1, stored)], **_tls(tmp_path))
    assert entry.runtime_data.client_certificates is False
    foreign = await hass.async_add_executor_job(load_or_create_ca, tmp_path / "factory")
    files = await hass.async_add_executor_job(client_files, tmp_path, foreign, "CP-1")
    context = _client(entry, files)
    async with charger(_url(entry), "CP-1", ssl=context, password=PASSWORD) as client:
        assert await client.boot() == "Accepted"


async def test_the_users_own_ca(hass: HomeAssistant, tmp_path: Path) -> None:
    """Its files are checked in the server form; a valid pair signs the chargers' certificates."""
    own = await hass.async_add_executor_job(load_or_create_ca, tmp_path / "own")
    cert, key = str(tmp_path / "own" / CA_CERT_FILE), str(tmp_path / "own" / CA_KEY_FILE)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    tls = _tls(tmp_path)
    for files, error in (
        ({CONF_CA_CERTFILE: cert}, "ca_incomplete"),
        ({CONF_CA_CERTFILE: cert, CONF_CA_KEYFILE: str(junk)}, "invalid_ca"),
        ({CONF_CA_CERTFILE: "/nonexistent/ca.pem", CONF_CA_KEYFILE: key}, "invalid_ca"),
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}, data=server_data(**tls, **files)
        )
        assert result["errors"] == {CONF_CA_CERTFILE: error}
    data = server_data(**tls, **{CONF_CA_CERTFILE: cert, CONF_CA_KEYFILE: key})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}, data=data
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.runtime_data.ca.facts == own.facts
    assert not _ca_folder(hass).exists()  # ours is not made


async def test_diagnostics_and_logs_never_hold_the_ca_key(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    tmp_path: Path,
    hass_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Diagnostics show the CA's subject, fingerprint and expiry; never its key or PEM."""
    caplog.set_level(logging.DEBUG)
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await _profile_3_entry(hass, setup_entry, tmp_path)
    ca = await _our_ca(hass)
    files = await hass.async_add_executor_job(client_files, tmp_path, ca, "CP-3")
    async with charger(_url(entry), "CP-3", ssl=_client(entry, files)) as client:
        assert await client.boot() == "Accepted"
        found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    facts = found["certificate_authority"]
    assert facts["sha256_fingerprint"] == ca.facts.sha256_fingerprint
    assert facts["subject"] == ca.facts.subject
    assert facts["not_after"] == ca.facts.not_after.isoformat()
    assert facts["own"] is True
    assert found["chargers"]["CP-3"]["security_profile"] == 3
    key_pem = (_ca_folder(hass) / CA_KEY_FILE).read_text()
    key_body = "".join(line for line in key_pem.splitlines() if "-----" not in line)
    cert_body = "".join(line for line in ca.ca_pem.splitlines() if "-----" not in line)
    for text in (json.dumps(found), caplog.text):
        assert "PRIVATE KEY" not in text
        assert key_body[:40] not in text
        assert "BEGIN CERTIFICATE" not in text
        assert cert_body[:40] not in text


async def test_discovery_admission_checks_the_profile(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Adding a discovered charger on profile 2 without TLS shows the error; profile 1 adds it."""
    entry = await setup_entry()
    async with charger(url_of(entry), "CP-D") as client:
        await client.boot()
        flow = await _pending_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": "add_charger"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_NAME: "", CONF_PASSWORD: "", CONF_SECURITY_PROFILE: "2"}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_SECURITY_PROFILE: "profile_needs_tls"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_NAME: "", CONF_PASSWORD: "", CONF_SECURITY_PROFILE: "1"}
        )
        assert result["reason"] == "charger_added"
        await wait_for(lambda: client.boot_statuses[-1:] == ["Accepted"])
    subentry = next(iter(entry.subentries.values()))
    assert subentry.data[CONF_SECURITY_PROFILE] == 1


async def test_the_last_profile_3_charger_leaving_stops_asking_for_certificates(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """Reconfigured to profile 1, the running server (no reload) stops asking for client
    certificates: a profile-1 charger's factory certificate of another CA, which fails
    the handshake while the server asks (tests/engine/test_security_profile_3.py), is
    no trouble any more."""
    entry = await _profile_3_entry(hass, setup_entry, tmp_path)
    hub = entry.runtime_data
    assert hub.client_certificates is True
    foreign = await hass.async_add_executor_job(load_or_create_ca, tmp_path / "factory")
    files = await hass.async_add_executor_job(client_files, tmp_path, foreign, "CP-1")
    factory = _client(entry, files)
    subentry = next(s for s in entry.subentries.values() if s.unique_id == "CP-3")
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "CP-3", CONF_SECURITY_PROFILE: "1"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is hub
    assert hub.client_certificates is False
    record = hub.index.find("CP-3")
    assert record is not None
    assert record.security_profile is SecurityProfile.BASIC_AUTH
    async with charger(_url(entry), "CP-1", ssl=factory, password=PASSWORD) as client:
        assert await client.boot() == "Accepted"
    async with charger(_url(entry), "CP-3", ssl=_client(entry), password=PASSWORD) as client:
        assert await client.boot() == "Accepted"


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_profile_2_charger_gets_its_csr_signed_by_our_ca(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, version: str
) -> None:
    """Home Assistant gives the engine its CA: a charger's certificate comes over OCPP,
    and with it the charger gets in on profile 3."""
    stored = hash_password(PASSWORD, generated=True)
    entry = await setup_entry(chargers=[_on_profile("CP-2", 2, stored)], **_tls(tmp_path))
    async with charger(
        _url(entry), "CP-2", version, ssl=_client(entry), password=PASSWORD
    ) as client:
        assert await client.boot() == "Accepted"
        assert await client.request_certificate() == "Accepted"
        station = entry.runtime_data.system.stations["CP-2"]
        # Connected until the charger's answer is read: the charger holds the chain
        # before its answer is on its way.
        await wait_for(lambda: station.client_certificate is not None)
        files = client.write_client_files(tmp_path)
    # Moved to profile 3 (the running server asks for certificates from then on).
    subentry = next(iter(entry.subentries.values()))
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_SECURITY_PROFILE: 3}
    )
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(entry.entry_id)
    assert entry is not None
    async with charger(_url(entry), "CP-2", version, ssl=_client(entry, files)) as client:
        assert await client.boot() == "Accepted"
