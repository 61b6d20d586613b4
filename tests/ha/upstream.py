"""What the forwarding tests share: an upstream subentry, entity states, the flows' input."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_PASSWORD, CONF_URL, EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_csms.const import SUBENTRY_UPSTREAM
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from custom_components.ocpp_csms.upstream.settings import (
    CONF_POLICY,
    CONF_UPSTREAM_ID,
    CONF_VERSION,
    default_allowed,
    queue_path,
    settings_from,
    subentry_data,
    upstream_subentries,
)

CONNECTED = "binary_sensor.cp_1_upstream_connected"
QUEUED = "sensor.cp_1_upstream_queued_messages"


def upstream_subentry(url: str, password: str | None = "right", **changes: Any) -> dict[str, Any]:
    """An upstream subentry of CP-1, as MockConfigEntry takes it."""
    data = subentry_data(
        "CP-1",
        url=url,
        charge_point_id="UP-1",
        password=password,
        version=OcppVersion.V16,
        policy=CommandPolicy.MIRROR_ONLY,
        allowed_commands=default_allowed(OcppVersion.V16),
    )
    return {
        "data": data | changes,
        "subentry_type": SUBENTRY_UPSTREAM,
        "title": "CP-1 → 127.0.0.1",
        "unique_id": "upstream/CP-1",
    }


async def exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)


def state(hass: HomeAssistant, entity_id: str) -> str | None:
    found = hass.states.get(entity_id)
    return found.state if found is not None else None


def states_written(hass: HomeAssistant, *entity_ids: str) -> list[str]:
    """The states written to these entities from now on, in order."""
    written: list[str] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if event.data["entity_id"] in entity_ids and (new := event.data["new_state"]):
            written.append(new.state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    return written


def the_upstream(entry: MockConfigEntry) -> ConfigSubentry:
    [subentry] = upstream_subentries(entry)
    return subentry


def queue_of(hass: HomeAssistant, entry: MockConfigEntry) -> Path:
    """The queue file of CP-1's upstream, as its subentry is now."""
    settings = settings_from(the_upstream(entry).data)
    assert settings is not None
    return queue_path(hass, entry.entry_id, "CP-1", settings)


async def start_flow(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    return dict(
        await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_UPSTREAM), context={"source": "user"}
        )
    )


def connection(url: str, **changes: Any) -> dict[str, Any]:
    """What the connection form is given."""
    return {
        CONF_URL: url,
        CONF_UPSTREAM_ID: "UP-1",
        CONF_PASSWORD: "right",
        CONF_POLICY: CommandPolicy.MIRROR_ONLY.value,
        CONF_VERSION: OcppVersion.V16.value,
    } | changes


def detail(result: Mapping[str, Any]) -> str:
    """What the failed connection test met, as the form shows it."""
    return str((result.get("description_placeholders") or {})["detail"])


def fields(result: dict[str, Any]) -> list[str]:
    return [str(key) for key in result["data_schema"].schema]
