"""Connecting a simulated charger to a central system."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from .stations import CHARGER_CLASSES, SimulatedCharger


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic Auth header (OCPP security profile 1/2: user = charger id)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@asynccontextmanager
async def connected_charger(
    url: str,
    charger_id: str,
    version: str = "ocpp1.6",
    *,
    password: str | None = None,
    subprotocols: list[str] | None = None,
    response_timeout: float = 5,
    charger_options: dict[str, Any] | None = None,
    **connect_kwargs: Any,
) -> AsyncIterator[Any]:
    """Connect a charger to `url`/`charger_id` and run it until the block ends.

    The charger offers `version` (or the `subprotocols` given) and is built for the
    version the server picks, with `charger_options` (connectors, phases). Its
    `websocket` attribute is the connection.
    """
    headers = basic_auth_header(charger_id, password) if password is not None else None
    offered = [version] if subprotocols is None else subprotocols
    async with connect(
        f"{url.rstrip('/')}/{charger_id}",
        subprotocols=offered or None,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=10,
        **connect_kwargs,
    ) as websocket:
        negotiated = websocket.subprotocol or "ocpp1.6"
        charger: SimulatedCharger = CHARGER_CLASSES[negotiated](
            charger_id, websocket, response_timeout=response_timeout, **(charger_options or {})
        )
        charger.websocket = websocket
        # start() is the ocpp library's receive loop (ChargePoint.start).
        runner = asyncio.create_task(charger.start())  # type: ignore[attr-defined]
        try:
            yield charger
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await charger.close()


__all__ = ["ClientConnection", "basic_auth_header", "connected_charger"]
