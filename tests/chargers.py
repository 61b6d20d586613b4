"""Test chargers: the project's simulator over real WebSockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from simulator.connection import basic_auth_header, connected_charger
from simulator.stations import SimulatedCharger

# How long a test waits for something that should happen. Waits end as soon as it does,
# so only a failing test pays the whole bound; it is generous so that a machine whose
# cores are busy with something else still passes.
PATIENCE_S = 30.0

VENDOR = SimulatedCharger.vendor
MODEL = SimulatedCharger.model
SERIAL = SimulatedCharger.serial_number
FIRMWARE = SimulatedCharger.firmware_version


def charger(
    url: str, charger_id: str, version: str = "ocpp1.6", **kwargs: Any
) -> AbstractAsyncContextManager[Any]:
    """A simulated charger connected to `url` (see `connected_charger`).

    It waits PATIENCE_S for the central system's answers, not a real charger's 5 s.
    """
    kwargs.setdefault("response_timeout", PATIENCE_S)
    return connected_charger(url, charger_id, version, **kwargs)


async def wait_for(predicate: Callable[[], object], timeout: float = PATIENCE_S) -> None:
    """Wait until `predicate()` is true, polling the loop."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


__all__ = ["PATIENCE_S", "basic_auth_header", "charger", "wait_for"]
