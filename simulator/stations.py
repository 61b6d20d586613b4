"""Simulated chargers on the `ocpp` library's charge-point side, one class per version.

They boot, answer TriggerMessage(BootNotification) by booting again (as real chargers
do), send heartbeats at the interval the central system asks for, and remember every
boot answer they got.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.exceptions import ConnectionClosed


class SimulatedCharger:
    """What every simulated charger knows about itself and has been told."""

    vendor = "OCPP CSMS Simulator"
    model = "SimCharger"
    serial_number = "SIM-0001"
    firmware_version = "1.0.0"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start with no answers; the ChargePoint base takes (id, connection, ...)."""
        super().__init__(*args, **kwargs)
        self.boot_statuses: list[str] = []
        self.interval = 60

    async def call(self, payload: Any, **kwargs: Any) -> Any:
        """Send a CALL (the ChargePoint base class provides it)."""
        return await super().call(payload, **kwargs)  # type: ignore[misc]

    def _boot_payload(self) -> Any:
        raise NotImplementedError

    def _heartbeat_payload(self) -> Any:
        raise NotImplementedError

    async def boot(self) -> str:
        """Send a BootNotification; returns the status answered."""
        response = await self.call(self._boot_payload())
        self.boot_statuses.append(str(response.status))
        self.interval = int(response.interval) or self.interval
        return str(response.status)

    async def heartbeat(self) -> Any:
        """Send a Heartbeat."""
        return await self.call(self._heartbeat_payload())

    async def boot_on_request(self, requested_message: str) -> None:
        """Boot again when the central system triggers it (runs as a detached task).

        Nobody awaits this task, so a connection closing meanwhile must not leave an
        unretrieved exception behind.
        """
        if requested_message != "BootNotification":
            return
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await self.boot()


class Charger16(SimulatedCharger, ChargePoint16):
    """An OCPP 1.6J charger."""

    def _boot_payload(self) -> Any:
        return call16.BootNotification(
            charge_point_vendor=self.vendor,
            charge_point_model=self.model,
            charge_point_serial_number=self.serial_number,
            firmware_version=self.firmware_version,
        )

    def _heartbeat_payload(self) -> Any:
        return call16.Heartbeat()

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        """Accept a boot trigger."""
        return result16.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        """Boot again when asked to."""
        await self.boot_on_request(requested_message)


class _Charger2x(SimulatedCharger):
    """The 2.0.1 and 2.1 chargers: their boot and heartbeat messages match."""

    _call: Any

    def _boot_payload(self) -> Any:
        return self._call.BootNotification(
            charging_station={
                "model": self.model,
                "vendor_name": self.vendor,
                "serial_number": self.serial_number,
                "firmware_version": self.firmware_version,
            },
            reason="PowerUp",
        )

    def _heartbeat_payload(self) -> Any:
        return self._call.Heartbeat()


class Charger201(_Charger2x, ChargePoint201):
    """An OCPP 2.0.1 charger."""

    _call = call201

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        """Accept a boot trigger."""
        return result201.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        """Boot again when asked to."""
        await self.boot_on_request(requested_message)


class Charger21(_Charger2x, ChargePoint21):
    """An OCPP 2.1 charger."""

    _call = call21

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        """Accept a boot trigger."""
        return result21.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        """Boot again when asked to."""
        await self.boot_on_request(requested_message)


CHARGER_CLASSES: dict[str, type[SimulatedCharger]] = {
    "ocpp1.6": Charger16,
    "ocpp2.0.1": Charger201,
    "ocpp2.1": Charger21,
}
