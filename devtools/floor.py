"""The floor of `scripts/bench load`: a bare WebSocket server that answers every CALL.

It parses each CALL and sends a CALLRESULT (BootNotification: Accepted), nothing
more: what any OCPP server must at least spend per message. The benchmark drives it
with the same generator as Home Assistant and states our cost as a multiple of its.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from websockets.asyncio.server import ServerConnection, serve

from custom_components.ocpp_csms.csms.server import charger_compression


async def answer_calls(websocket: ServerConnection) -> None:
    """Answer every CALL of one charger."""
    async for raw in websocket:
        frame = json.loads(raw)
        if frame[0] != 2:
            continue
        payload: dict[str, object] = {}
        if frame[2] == "BootNotification":
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            payload = {"status": "Accepted", "currentTime": now, "interval": 300}
        await websocket.send(json.dumps([3, frame[1], payload]))


async def run(port: int) -> None:
    """Serve on 127.0.0.1:`port` until killed."""
    async with serve(
        answer_calls,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        ping_interval=None,
        max_queue=None,
        extensions=[charger_compression()],  # the same WebSocket settings as ours
    ):
        print(json.dumps({"event": "listening", "port": port}), flush=True)
        await asyncio.Future()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(run(parser.parse_args().port))


if __name__ == "__main__":
    main()
