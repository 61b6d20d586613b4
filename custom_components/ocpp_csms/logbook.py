"""Logbook lines for the integration's events: what a charger reported, in a sentence.

"Garage reported a security event: FirmwareUpdated", "Garage: firmware Installed",
"Garage sent vendor data (com.vendor)". Each event carries the charger's device, so the
lines also show on the charger's device page.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import Event, HomeAssistant, callback

from .charger_reports import EVENT_DATA_TRANSFER, EVENT_SECURITY
from .const import DOMAIN
from .file_progress import EVENT_FIRMWARE_STATUS

type Describe = Callable[[Event], dict[str, str]]


def _named(event: Event, message: str) -> dict[str, str]:
    return {
        LOGBOOK_ENTRY_NAME: str(event.data.get("name") or event.data.get("charger_id")),
        LOGBOOK_ENTRY_MESSAGE: message,
    }


@callback
def async_describe_events(
    hass: HomeAssistant, async_describe_event: Callable[[str, str, Describe], None]
) -> None:
    """Describe the integration's events for the logbook."""

    @callback
    def security_event(event: Event) -> dict[str, str]:
        return _named(event, f"reported a security event: {event.data.get('type')}")

    @callback
    def data_transfer(event: Event) -> dict[str, str]:
        return _named(event, f"sent vendor data ({event.data.get('vendor_id')})")

    @callback
    def firmware_status(event: Event) -> dict[str, str]:
        return _named(event, f"firmware update: {event.data.get('status')}")

    async_describe_event(DOMAIN, EVENT_SECURITY, security_event)
    async_describe_event(DOMAIN, EVENT_DATA_TRANSFER, data_transfer)
    async_describe_event(DOMAIN, EVENT_FIRMWARE_STATUS, firmware_status)
