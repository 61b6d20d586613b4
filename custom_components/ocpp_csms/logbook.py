"""Logbook lines for the integration's events: what a charger did or reported, in a sentence.

"Garage session ended, 12.3 kWh (Alice's tag)", "Garage tag Alice's tag accepted",
"Garage reported a security event: FirmwareUpdated", "Garage firmware update:
Installed", "Garage upstream's Reset refused: not allowed", in Home Assistant's
language (`logbook_phrases`). Each event carries the
charger's device, so the lines also show on the charger's device page; session and tag
lines name the event entity that shows the same, which the logbook links.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .charger_activity import EVENT_SESSION_ENDED, EVENT_SESSION_STARTED, EVENT_TAG_PRESENTED
from .charger_reports import EVENT_DATA_TRANSFER, EVENT_SECURITY
from .const import DOMAIN
from .file_progress import EVENT_FIRMWARE_STATUS
from .logbook_phrases import decimal, phrase
from .upstream.commands import EVENT_UPSTREAM_COMMAND

type Describe = Callable[[Event], dict[str, str]]


def _line(event: Event, message: str) -> dict[str, str]:
    line = {
        LOGBOOK_ENTRY_NAME: str(event.data.get("name") or event.data.get("charger_id")),
        LOGBOOK_ENTRY_MESSAGE: message,
    }
    if entity_id := event.data.get("entity_id"):
        line[LOGBOOK_ENTRY_ENTITY_ID] = str(entity_id)
    return line


@callback
def async_describe_events(
    hass: HomeAssistant, async_describe_event: Callable[[str, str, Describe], None]
) -> None:
    """Describe the integration's events for the logbook."""

    def tag_label(data: Mapping[str, Any]) -> str | None:
        """The tag by its name, else as "tag <id>"; None: the session had no tag."""
        if name := data.get("tag_name"):
            return str(name)
        return phrase(hass, "tag_id", tag=str(tag)) if (tag := data.get("tag")) else None

    @callback
    def session_started(event: Event) -> dict[str, str]:
        label = tag_label(event.data)
        if label is None:
            return _line(event, phrase(hass, "session_started"))
        return _line(event, phrase(hass, "session_started_tag", tag=label))

    @callback
    def session_ended(event: Event) -> dict[str, str]:
        label = tag_label(event.data)
        energy = event.data.get("energy_kwh")
        if energy is None:
            key, placeholders = "session_ended", {}
        else:
            key, placeholders = "session_ended_energy", {"energy": decimal(hass, float(energy))}
        if label is not None:
            key, placeholders = f"{key}_tag", {**placeholders, "tag": label}
        return _line(event, phrase(hass, key, **placeholders))

    @callback
    def tag_presented(event: Event) -> dict[str, str]:
        data = event.data
        tag = str(data.get("tag_name") or data.get("tag"))
        match data.get("decision"), data.get("known"):
            case "accepted", False:
                key = "tag_unknown_accepted"  # accept-all let a tag it does not know in
            case "accepted", _:
                key = "tag_accepted"
            case "unknown", _:
                key = "tag_unknown"
            case _:
                key = "tag_rejected"
        return _line(event, phrase(hass, key, tag=tag))

    @callback
    def security_event(event: Event) -> dict[str, str]:
        return _line(event, phrase(hass, "security_event", type=str(event.data.get("type"))))

    @callback
    def data_transfer(event: Event) -> dict[str, str]:
        vendor = str(event.data.get("vendor_id"))
        return _line(event, phrase(hass, "data_transfer", vendor=vendor))

    @callback
    def firmware_status(event: Event) -> dict[str, str]:
        status = str(event.data.get("status"))
        return _line(event, phrase(hass, "firmware_status", status=status))

    @callback
    def upstream_command(event: Event) -> dict[str, str]:
        data = event.data
        outcome, status = str(data.get("outcome")), str(data.get("detail") or "")
        key = f"upstream_{outcome}"
        if outcome == "forwarded" and status:
            key = "upstream_forwarded_status"  # the charger's answer had a status
        return _line(event, phrase(hass, key, action=str(data.get("action")), status=status))

    for event_type, describe in (
        (EVENT_SESSION_STARTED, session_started),
        (EVENT_SESSION_ENDED, session_ended),
        (EVENT_TAG_PRESENTED, tag_presented),
        (EVENT_SECURITY, security_event),
        (EVENT_DATA_TRANSFER, data_transfer),
        (EVENT_FIRMWARE_STATUS, firmware_status),
        (EVENT_UPSTREAM_COMMAND, upstream_command),
    ):
        async_describe_event(DOMAIN, event_type, describe)
