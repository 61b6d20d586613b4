"""Test chargers: the `ocpp` library's charge-point side over real WebSockets.

Each simulated charger answers TriggerMessage(BootNotification) by booting again, as
real chargers do, and records the boot answers it got.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from websockets.asyncio.client import ClientConnection, connect

VENDOR = "Test Vendor"
MODEL = "Test Model"
SERIAL = "SN-0001"
FIRMWARE = "1.2.3"


class Charger16(ChargePoint16):
    """An OCPP 1.6J charger."""

    boot_statuses: list[str]

    async def boot(self) -> str:
        """Send a BootNotification; returns the status answered."""
        response = await self.call(
            call16.BootNotification(
                charge_point_vendor=VENDOR,
                charge_point_model=MODEL,
                charge_point_serial_number=SERIAL,
                firmware_version=FIRMWARE,
            )
        )
        self.boot_statuses.append(response.status)
        return str(response.status)

    async def heartbeat(self) -> Any:
        """Send a Heartbeat."""
        return await self.call(call16.Heartbeat())

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        """Accept a boot trigger."""
        return result16.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        """Boot again when asked to."""
        if requested_message == "BootNotification":
            await self.boot()


class _Charger2x:
    """Shared body of the 2.0.1 and 2.1 chargers (their boot messages match)."""

    boot_statuses: list[str]
    _call: Any
    _result: Any

    async def boot(self) -> str:
        """Send a BootNotification; returns the status answered."""
        response = await self.call(  # type: ignore[attr-defined]
            self._call.BootNotification(
                charging_station={
                    "model": MODEL,
                    "vendor_name": VENDOR,
                    "serial_number": SERIAL,
                    "firmware_version": FIRMWARE,
                },
                reason="PowerUp",
            )
        )
        self.boot_statuses.append(response.status)
        return str(response.status)

    async def heartbeat(self) -> Any:
        """Send a Heartbeat."""
        return await self.call(self._call.Heartbeat())  # type: ignore[attr-defined]


class Charger201(_Charger2x, ChargePoint201):
    """An OCPP 2.0.1 charger."""

    _call = call201
    _result = result201

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        """Accept a boot trigger."""
        return result201.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        """Boot again when asked to."""
        if requested_message == "BootNotification":
            await self.boot()


class Charger21(_Charger2x, ChargePoint21):
    """An OCPP 2.1 charger."""

    _call = call21
    _result = result21

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        """Accept a boot trigger."""
        return result21.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    async def after_trigger_message(self, requested_message: str, **_: Any) -> None:
        """Boot again when asked to."""
        if requested_message == "BootNotification":
            await self.boot()


CHARGER_CLASSES: dict[str, type[Any]] = {
    "ocpp1.6": Charger16,
    "ocpp2.0.1": Charger201,
    "ocpp2.1": Charger21,
}


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic Auth header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@asynccontextmanager
async def charger(
    url: str,
    charger_id: str,
    version: str = "ocpp1.6",
    *,
    password: str | None = None,
    subprotocols: list[str] | None = None,
    **connect_kwargs: Any,
) -> AsyncIterator[Any]:
    """Connect a simulated charger to `url`/`charger_id` and run it until the block ends."""
    headers = basic_auth_header(charger_id, password) if password is not None else None
    offered = [version] if subprotocols is None else subprotocols
    async with connect(
        f"{url}/{charger_id}",
        subprotocols=offered or None,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=5,
        **connect_kwargs,
    ) as websocket:
        negotiated = websocket.subprotocol or "ocpp1.6"
        client = CHARGER_CLASSES[negotiated](charger_id, websocket, response_timeout=5)
        client.boot_statuses = []
        client.websocket = websocket
        runner = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    """Wait until `predicate()` is true, polling the loop."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


__all__ = ["ClientConnection", "charger", "wait_for"]
