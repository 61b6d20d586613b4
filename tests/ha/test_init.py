"""Entry life cycle: unload closes everything, reload comes back, failures are clear."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_csms.const import CONF_CERTFILE, CONF_KEYFILE, DOMAIN
from tests.chargers import charger
from tests.ha.conftest import SetUpEntry, charger_subentry, server_data, url_of


async def test_unload_closes_every_socket_and_reload_returns(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Unloading closes the server and all chargers; reloading listens on the same port."""
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), charger_subentry("CP-2")])
    async with charger(url_of(entry), "CP-1") as one, charger(url_of(entry), "CP-2") as two:
        await one.boot()
        await two.boot()
        assert await hass.config_entries.async_unload(entry.entry_id)
        for client in (one, two):
            with pytest.raises(ConnectionClosed):
                await client.websocket.recv()
    assert entry.state is ConfigEntryState.NOT_LOADED
    with pytest.raises(ConnectionRefusedError):
        async with charger(url_of(entry), "CP-1"):
            pass

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    async with charger(url_of(entry), "CP-2") as client:
        assert await client.boot() == "Accepted"


async def test_stopping_twice_or_concurrently_is_safe(
    hass: HomeAssistant, setup_entry: SetUpEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant's stop, an unload and a reload may overlap: each closes once, quietly."""
    entry = await setup_entry(chargers=[charger_subentry("CP-1")])
    hub = entry.runtime_data
    async with charger(url_of(entry), "CP-1") as client:
        await client.boot()
        await asyncio.gather(hub.async_stop(), hub.async_stop())
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hub.async_stop()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    # And it comes back.
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"


async def test_a_cancelled_set_up_releases_the_port_and_the_journal(
    hass: HomeAssistant,
) -> None:
    """Home Assistant stopping mid-set-up unloads nothing: the entry cleans up itself."""
    data = server_data()
    entry = MockConfigEntry(domain=DOMAIN, unique_id=str(data[CONF_PORT]), data=data)
    entry.add_to_hass(hass)
    forwarding = asyncio.Event()

    async def forward_forever(*_args: Any) -> None:
        forwarding.set()
        await asyncio.Event().wait()

    with patch.object(hass.config_entries, "async_forward_entry_setups", forward_forever):
        set_up = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
        await forwarding.wait()
        set_up.cancel()
        with pytest.raises(asyncio.CancelledError):
            await set_up
    with pytest.raises(ConnectionRefusedError):
        async with charger(url_of(entry), "CP-1"):
            pass
    assert not [t for t in threading.enumerate() if t.name.startswith("ocpp_csms_journal")]


async def test_port_taken_at_start_retries(hass: HomeAssistant) -> None:
    """If another program took the port since set-up, the entry retries with a reason."""
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        data = server_data(other_program.getsockname()[1])
        entry = MockConfigEntry(domain=DOMAIN, unique_id=str(data[CONF_PORT]), data=data)
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "cannot listen" in entry.reason


async def test_broken_certificate_at_start_is_an_error(
    hass: HomeAssistant, tmp_path: object
) -> None:
    """A certificate that no longer loads stops the entry with a reason to reconfigure."""
    from pathlib import Path

    junk = Path(str(tmp_path)) / "junk.pem"
    junk.write_text("not a certificate")
    data = server_data(tls=True, **{CONF_CERTFILE: str(junk), CONF_KEYFILE: str(junk)})
    entry = MockConfigEntry(domain=DOMAIN, unique_id=str(data[CONF_PORT]), data=data)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "Reconfigure" in entry.reason
