"""Test chargers: the project's simulator over real WebSockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.connection import basic_auth_header
from simulator.connection import connected_charger as charger
from simulator.stations import SimulatedCharger

VENDOR = SimulatedCharger.vendor
MODEL = SimulatedCharger.model
SERIAL = SimulatedCharger.serial_number
FIRMWARE = SimulatedCharger.firmware_version


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until `predicate()` is true, polling the loop."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


__all__ = ["basic_auth_header", "charger", "wait_for"]
