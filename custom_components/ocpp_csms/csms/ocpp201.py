"""OCPP 2.0.1 and 2.1: the charger's messages mapped onto the model, and commands.

2.1 keeps the 2.0.1 shape of every message handled here, so it is a subclass that
only changes the version (and with it the schemas the RPC layer validates against).
"""

from __future__ import annotations

from typing import Any

from .adapter import StationAdapter
from .rpc import Handler, Reply
from .station import BootInfo, OcppVersion


class Ocpp201Adapter(StationAdapter):
    """A station speaking OCPP 2.0.1."""

    version = OcppVersion.V201

    def _build_handlers(self) -> dict[str, Handler]:
        return {
            "BootNotification": self._on_boot_notification,
            "Heartbeat": self._on_heartbeat,
        }

    def _on_boot_notification(self, payload: dict[str, Any]) -> Reply:
        info = payload["chargingStation"]
        return self._answer_boot(
            BootInfo(
                vendor=info["vendorName"],
                model=info["model"],
                serial_number=info.get("serialNumber"),
                firmware_version=info.get("firmwareVersion"),
            )
        )


class Ocpp21Adapter(Ocpp201Adapter):
    """A station speaking OCPP 2.1."""

    version = OcppVersion.V21
