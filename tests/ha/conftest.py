"""Fixtures for tests that run the integration inside Home Assistant."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_csms.const import (
    CONF_CHARGER_ID,
    CONF_PASSWORD_HASH,
    CONF_TLS,
    CONF_UNKNOWN_CHARGERS,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from tests.engine.fake_upstream import FakeUpstream, fake_upstream


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


# What Home Assistant logs when code uses an API it deprecated (report_usage, the
# helpers in homeassistant.helpers.deprecation, and calls from code outside an integration).
DEPRECATION_REPORT = re.compile(
    r"Detected that (custom )?integration|Detected code that|is deprecated|The deprecated"
)


@pytest.fixture(autouse=True)
def deprecations_are_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail a test on any deprecation report from Home Assistant.

    Home Assistant only logs a custom integration's use of a deprecated API, once per
    process; here every such report raises where the call is made, and anything reported
    in the log fails the test that caused it.
    """
    report = frame._report_usage

    def report_as_error(*args: Any, custom_integration_behavior: Any, **kwargs: Any) -> None:
        if custom_integration_behavior is not frame.ReportBehavior.IGNORE:
            custom_integration_behavior = frame.ReportBehavior.ERROR
        report(*args, custom_integration_behavior=custom_integration_behavior, **kwargs)

    monkeypatch.setattr(frame, "_report_usage", report_as_error)
    yield
    reports = [
        record.getMessage()
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if record.levelno >= logging.WARNING and DEPRECATION_REPORT.search(record.getMessage())
    ]
    assert not reports, reports


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's snapshots, in `snapshots/` beside the test.

    Both syrupy and the Home Assistant plugin define `snapshot`; which one a test gets
    would depend on the order plugins load in. A conftest fixture always wins.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


# A Wednesday in the middle of a month, outside daylight-saving changes.
FROZEN_NOW = "2026-06-17T10:00:00+00:00"


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    """Wall-clock time starts at FROZEN_NOW, for values that depend on the date.

    The clock keeps ticking and the event loop keeps real monotonic time, so timeouts,
    keepalives and the chargers' own waits behave as on any day.
    """
    with freeze_time(FROZEN_NOW, tick=True, real_asyncio=True):
        yield


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
    hass: HomeAssistant, entry: MockConfigEntry
) -> AsyncIterator[tuple[HomeAssistant, MockConfigEntry]]:
    """Stop Home Assistant (no unload, as at a real stop) and start a new one on its files.

    Yields the new Home Assistant and the same entry, with the same charger subentries
    (ids included, as Home Assistant stores them), set up again in it.
    """
    chargers = [
        {
            "data": dict(subentry.data),
            "subentry_id": subentry.subentry_id,
            "subentry_type": subentry.subentry_type,
            "title": subentry.title,
            "unique_id": subentry.unique_id,
        }
        for subentry in entry.subentries.values()
    ]
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


@asynccontextmanager
async def upstream_for(hass: HomeAssistant, **kwargs: Any) -> AsyncIterator[FakeUpstream]:
    """A fake upstream for Home Assistant's links; the links end before it does.

    Otherwise a link reconnecting while the fake server closes can race asyncio's
    accept of a closed server (an assertion inside asyncio, failing the test's teardown).
    """
    async with fake_upstream(**kwargs) as server:
        yield server
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def upstream(hass: HomeAssistant) -> AsyncIterator[FakeUpstream]:
    """The forwarding tests' upstream: charge point UP-1, password "right"."""
    async with upstream_for(hass, password="right") as server:
        yield server
