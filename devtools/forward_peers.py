"""The forwarding benchmark's peers, each a process of its own (`devtools.bench_forward`).

    python -m devtools.forward_peers upstream
        a minimal OCPP 1.6 central system on 127.0.0.1: answers every CALL at once with
        a fixed payload; prints its URL, then runs until stdin closes.
    python -m devtools.forward_peers chargers --url URL --chargers N --messages M
        N OCPP 1.6 chargers: each boots, starts a transaction and prints "ready"; on a
        line "go" on stdin each sends M MeterValues one after the other (each waits for
        its answer), then the process prints "done" and exits.

Both speak raw OCPP-J with `websockets` and no validation: only the central system's
CPU is to be measured, in the benchmark's own process.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

_ANSWERS: dict[str, dict[str, Any]] = {
    "BootNotification": {
        "status": "Accepted",
        "currentTime": "2026-01-01T00:00:00Z",
        "interval": 300,
    },
    "Heartbeat": {"currentTime": "2026-01-01T00:00:00Z"},
    "StartTransaction": {"transactionId": 9001, "idTagInfo": {"status": "Accepted"}},
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
}


async def _serve_upstream(connection: ServerConnection) -> None:
    async for raw in connection:
        message = json.loads(raw)
        if message[0] == 2:
            await connection.send(json.dumps([3, message[1], _ANSWERS.get(message[2], {})]))


async def upstream() -> None:
    """Answer everything until stdin closes."""
    async with serve(
        _serve_upstream,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"ws://127.0.0.1:{port}/ocpp", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class _Charger:
    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        unique_id = str(next(self._ids))
        await self._connection.send(json.dumps([2, unique_id, action, payload]))
        while True:
            message = json.loads(await self._connection.recv())
            if message[0] == 2:  # the central system asks something: answer plainly
                await self._connection.send(json.dumps([3, message[1], {"status": "Accepted"}]))
            elif message[1] == unique_id:
                answer: dict[str, Any] = message[2] if message[0] == 3 else {}
                return answer


async def _charger(
    url: str, charger_id: str, messages: int, ready: asyncio.Event, go: asyncio.Event
) -> int:
    async with connect(f"{url}/{charger_id}", subprotocols=["ocpp1.6"]) as connection:  # type: ignore[list-item]
        charger = _Charger(connection)
        await charger.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        started = await charger.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": _time(0)},
        )
        transaction_id = started.get("transactionId", 0)
        ready.set()
        await go.wait()
        for n in range(1, messages + 1):
            reading = {"value": str(n * 100), "measurand": "Energy.Active.Import.Register"}
            await charger.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": transaction_id,
                    "meterValue": [{"timestamp": _time(n), "sampledValue": [reading]}],
                },
            )
        return messages


def _time(n: int) -> str:
    return f"2026-12-07T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"


async def chargers(url: str, count: int, messages: int) -> None:
    """Boot `count` chargers, say "ready", wait for "go", send, say "done"."""
    go = asyncio.Event()
    ready = [asyncio.Event() for _ in range(count)]
    tasks = [
        asyncio.create_task(_charger(url, f"FW-{n:03d}", messages, ready[n], go))
        for n in range(count)
    ]
    await asyncio.gather(*(event.wait() for event in ready))
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    go.set()
    sent = sum(await asyncio.gather(*tasks))
    print(json.dumps({"done": sent}), flush=True)


def main() -> None:
    """Run one peer."""
    parser = argparse.ArgumentParser(prog="forward_peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=["upstream", "chargers"])
    parser.add_argument("--url", default="")
    parser.add_argument("--chargers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    if args.peer == "upstream":
        asyncio.run(upstream())
    else:
        asyncio.run(chargers(args.url, args.chargers, args.messages))


if __name__ == "__main__":
    main()
