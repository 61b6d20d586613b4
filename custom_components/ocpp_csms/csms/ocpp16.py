"""OCPP 1.6J: the charger's messages mapped onto the model, and commands as CALLs."""

from __future__ import annotations

from typing import Any

from .adapter import StationAdapter
from .rpc import Handler, Reply
from .station import BootInfo, OcppVersion


class Ocpp16Adapter(StationAdapter):
    """A station speaking OCPP 1.6J."""

    version = OcppVersion.V16

    def _build_handlers(self) -> dict[str, Handler]:
        return {
            "BootNotification": self._on_boot_notification,
            "Heartbeat": self._on_heartbeat,
        }

    def _on_boot_notification(self, payload: dict[str, Any]) -> Reply:
        serial = payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber")
        return self._answer_boot(
            BootInfo(
                vendor=payload["chargePointVendor"],
                model=payload["chargePointModel"],
                serial_number=serial,
                firmware_version=payload.get("firmwareVersion"),
            )
        )
