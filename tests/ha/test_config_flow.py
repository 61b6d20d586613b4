"""Setting up and reconfiguring the central system."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.ocpp_csms.const import (
    CONF_CERTFILE,
    CONF_KEYFILE,
    CONF_TLS,
    CONF_UNKNOWN_CHARGERS,
    DOMAIN,
)
from tests.chargers import charger
from tests.engine.test_server import make_certificate
from tests.ha.conftest import SetUpEntry, free_port, server_data, url_of


async def test_user_step_creates_a_running_server(hass: HomeAssistant) -> None:
    """The form's defaults are sensible; submitting starts a server chargers reach."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"]
    assert schema is not None
    defaults = {key.schema: key.default() for key in schema.schema if callable(key.default)}
    assert defaults[CONF_HOST] == "0.0.0.0"
    assert defaults[CONF_PORT] == 9000
    assert defaults[CONF_UNKNOWN_CHARGERS] == "ask"
    assert defaults[CONF_TLS] is False

    data = server_data()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"OCPP Central System (port {data[CONF_PORT]})"
    entry = result["result"]
    assert entry.unique_id == str(data[CONF_PORT])
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Pending"


async def test_port_in_use_is_a_form_error(hass: HomeAssistant) -> None:
    """A port another program holds gives a translated error, not a traceback."""
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_USER}, data=server_data(port)
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_in_use"}
    assert result["description_placeholders"] == {"port": str(port)}


async def test_unknown_host_is_a_form_error(hass: HomeAssistant) -> None:
    """An address this machine does not have is refused."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}, data=server_data(host="192.0.2.1")
    )
    assert result["errors"] == {CONF_HOST: "invalid_host"}


async def test_one_entry_per_port(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """A second central system on the same port is refused."""
    entry = await setup_entry()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}, data=server_data(entry.data[CONF_PORT])
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({}, "certificate_required"),
        ({CONF_CERTFILE: "/nonexistent/cert.pem"}, "certificate_not_found"),
        ({CONF_CERTFILE: "JUNK"}, "invalid_certificate"),
    ],
)
async def test_tls_files_are_validated(
    hass: HomeAssistant, tmp_path: Path, files: dict[str, str], error: str
) -> None:
    """TLS needs a certificate that exists and loads."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    files = {key: str(junk) if value == "JUNK" else value for key, value in files.items()}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}, data=server_data(tls=True, **files)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTFILE: error}


async def test_tls_entry_serves_wss(hass: HomeAssistant, tmp_path: Path) -> None:
    """With valid files the entry runs over wss://."""
    import ssl

    cert, key = make_certificate(tmp_path)
    data = server_data(tls=True, **{CONF_CERTFILE: str(cert), CONF_KEYFILE: str(key)})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}, data=data
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    context = ssl.create_default_context(cafile=str(cert))
    url = f"wss://127.0.0.1:{data[CONF_PORT]}/ocpp"
    async with charger(url, "CP-TLS", ssl=context) as client:
        assert await client.boot() == "Pending"


async def test_reconfigure_moves_the_server(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """Reconfiguring to another port reloads the entry there and frees the old port."""
    entry = await setup_entry()
    old_port = entry.data[CONF_PORT]
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    new_port = free_port()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], server_data(new_port, unknown_chargers="accept_all")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.unique_id == str(new_port)
    assert entry.data[CONF_UNKNOWN_CHARGERS] == "accept_all"
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
    with pytest.raises(ConnectionRefusedError):
        async with charger(f"ws://127.0.0.1:{old_port}/ocpp", "CP-1"):
            pass


async def test_reconfigure_keeps_its_own_port(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """The entry's own server holds its port: keeping the port is not 'in use'."""
    entry = await setup_entry()
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], server_data(entry.data[CONF_PORT], unknown_chargers="reject")
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()  # reloaded with the new policy
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.started_with_server[CONF_UNKNOWN_CHARGERS] == "reject"


async def test_reconfigure_refuses_another_entrys_port(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Moving onto a port another central system uses is a form error."""
    first = await setup_entry()
    second = await setup_entry()
    result = await second.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], server_data(first.data[CONF_PORT])
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PORT: "port_configured"}
