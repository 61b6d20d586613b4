"""Fixtures for tests that run the integration inside Home Assistant."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from homeassistant import loader
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.ocpp_csms.const import (
    CONF_CHARGER_ID,
    CONF_PASSWORD_HASH,
    CONF_TLS,
    CONF_UNKNOWN_CHARGERS,
    DOMAIN,
    SUBENTRY_CHARGER,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture(autouse=True)
def config_dir_per_test(hass: HomeAssistant, tmp_path: Path) -> None:
    """Files the integration writes (session journals) go to the test's own folder.

    The test `hass` otherwise points into the installed test plugin.
    """
    hass.config.config_dir = str(tmp_path)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_data(port: int | None = None, /, **overrides: Any) -> dict[str, Any]:
    """Config entry data for a server on the loopback interface."""
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port or free_port(),
        CONF_UNKNOWN_CHARGERS: "ask",
        CONF_TLS: False,
        **overrides,
    }


def charger_subentry(charger_id: str, password_hash: str | None = None) -> dict[str, Any]:
    """Subentry data for an admitted charger, as MockConfigEntry takes it."""
    return {
        "data": {CONF_CHARGER_ID: charger_id, CONF_PASSWORD_HASH: password_hash},
        "subentry_type": SUBENTRY_CHARGER,
        "title": charger_id,
        "unique_id": charger_id,
    }


SetUpEntry = Callable[..., Awaitable[MockConfigEntry]]


@pytest.fixture
def setup_entry(hass: HomeAssistant) -> SetUpEntry:
    """Add and set up a central-system entry on a free loopback port."""

    async def _setup(
        *,
        chargers: list[dict[str, Any]] | None = None,
        options: dict[str, Any] | None = None,
        entry_id: str | None = None,
        **overrides: Any,
    ) -> MockConfigEntry:
        data = server_data(**overrides)
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"OCPP Central System (port {data[CONF_PORT]})",
            unique_id=str(data[CONF_PORT]),
            data=data,
            subentries_data=chargers or [],
            options=options or {},
            **({"entry_id": entry_id} if entry_id else {}),
        )
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        return entry

    return _setup


def url_of(entry: MockConfigEntry) -> str:
    """The base URL chargers of this entry connect to."""
    return f"ws://127.0.0.1:{entry.data[CONF_PORT]}/ocpp"


@asynccontextmanager
async def restarted(
    hass: HomeAssistant, entry: MockConfigEntry, chargers: list[dict[str, Any]]
) -> AsyncIterator[tuple[HomeAssistant, MockConfigEntry]]:
    """Stop Home Assistant (no unload, as at a real stop) and start a new one on its files.

    Yields the new Home Assistant and the same entry, set up again in it.
    """
    config_dir = hass.config.config_dir
    await hass.async_stop(force=True)  # the stop event writes what is pending
    async with async_test_home_assistant(config_dir=config_dir) as again:
        again.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        entry_again = MockConfigEntry(
            domain=DOMAIN,
            entry_id=entry.entry_id,
            title=entry.title,
            unique_id=entry.unique_id,
            data=dict(entry.data),
            options=dict(entry.options),
            subentries_data=chargers,
        )
        entry_again.add_to_hass(again)
        assert await again.config_entries.async_setup(entry_again.entry_id)
        await again.async_block_till_done()
        yield again, entry_again
