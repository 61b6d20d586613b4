"""Firmware updates and diagnostics uploads as they go: events, repairs, file exchanges.

A charger downloads firmware from, and uploads diagnostics to, URLs Home Assistant
serves for a while (`http.FileExchange`). Its status reports end them: the exchange
closes once the update is installed or failed, or the upload is over. Each firmware
status is a Home Assistant event; a failed update is a repair naming the charger,
removed when an update is installed.
"""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .csms.station import Station
from .http import EXCHANGE
from .identifiers import charger_device_id

EVENT_FIRMWARE_STATUS = f"{DOMAIN}_firmware_status"
# Firmware statuses (1.6, its security extension, 2.x) that end an update in failure.
FIRMWARE_FAILED = frozenset(
    {"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"}
)
# Diagnostics / log statuses after which the upload is over, one way or the other.
UPLOAD_OVER = frozenset(
    {"Uploaded", "UploadFailed", "UploadFailure", "PermissionDenied", "BadMessage",
     "NotSupportedOperation"}
)  # fmt: skip


class FileProgress:
    """Follows the firmware and upload statuses of one central system's chargers."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, charger_name: Callable[[str], str]
    ) -> None:
        """Serve one config entry; `charger_name` names a charger for the user."""
        self._hass = hass
        self._entry_id = entry_id
        self._charger_name = charger_name

    def upload_status(self, station: Station) -> None:
        """A diagnostics or log upload moved on: close its exchange once it is over."""
        if station.diagnostics_status in UPLOAD_OVER:
            self._finish(station.id, "diagnostics")

    def firmware_status(self, station: Station) -> None:
        """An update moved on: say so, and close its download (a repair if it failed)."""
        status = station.firmware_status
        self._hass.bus.async_fire(
            EVENT_FIRMWARE_STATUS,
            {
                "charger_id": station.id,
                "name": self._charger_name(station.id),
                "device_id": charger_device_id(self._hass, self._entry_id, station.id),
                "status": status,
            },
        )
        issue_id = f"firmware_failed_{self._entry_id}_{station.id}"
        if status in FIRMWARE_FAILED:
            self._finish(station.id, "firmware")
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="firmware_failed",
                translation_placeholders={
                    "charger": self._charger_name(station.id),
                    "status": str(status),
                },
            )
        elif status == "Installed":
            self._finish(station.id, "firmware")
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)

    def _finish(self, charger_id: str, kind: str) -> None:
        if (exchange := self._hass.data.get(EXCHANGE)) is not None:
            exchange.finish(charger_id, kind)
