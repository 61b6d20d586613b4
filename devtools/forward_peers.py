"""The forwarding benchmark's peers, each a process of its own (`devtools.bench_forward`).

    python -m devtools.forward_peers upstream
        a minimal OCPP 1.6 central system on 127.0.0.1: answers every CALL at once with
        a fixed payload; prints its URL, then runs until stdin closes. For a line "count"
        on stdin it prints {"answered": N}, the CALLs it has answered so far; for a
        line "until N", the same once it has answered N or more.
    python -m devtools.forward_peers chargers --url URL --chargers N --messages M
        N OCPP 1.6 chargers (ids PREFIX000 on, --prefix, default FW-): each boots,
        starts a transaction and prints "ready"; on a line "go" on stdin each sends M
        MeterValues one after the other (each waits for its answer), then the process
        prints {"done": N * M} and exits. With --hold the chargers stay connected after
        "done" until stdin closes, so that their disconnection is not in the window.
        With $FORWARD_PEERS_PASSWORD set they present it (HTTP Basic, security profile 1).

Both speak raw OCPP-J with `websockets` and no validation: only the central system's
CPU is to be measured, in the benchmark's own process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import sys
from contextlib import AsyncExitStack
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


class _Upstream:
    """Answers every CALL, and counts them."""

    def __init__(self) -> None:
        self.answered = 0
        self._counted = asyncio.Condition()

    async def serve(self, connection: ServerConnection) -> None:
        async for raw in connection:
            message = json.loads(raw)
            if message[0] == 2:
                await connection.send(json.dumps([3, message[1], _ANSWERS.get(message[2], {})]))
                # Counted once answered: a count the benchmark reads is one it can wait for.
                self.answered += 1
                async with self._counted:
                    self._counted.notify_all()

    async def tell(self, count: int) -> None:
        """Print the count once it is `count` or more."""
        async with self._counted:
            await self._counted.wait_for(lambda: self.answered >= count)
        print(json.dumps({"answered": self.answered}), flush=True)


async def upstream() -> None:
    """Answer everything until stdin closes; tell how many when asked."""
    peer = _Upstream()
    async with serve(
        peer.serve,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"ws://127.0.0.1:{port}/ocpp", flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            match line.split():
                case ["count"]:
                    await peer.tell(0)
                case ["until", count]:  # one at a time: the benchmark waits for its answer
                    await peer.tell(int(count))


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


async def _connect(stack: AsyncExitStack, url: str, charger_id: str) -> _Charger:
    password = os.environ.get("FORWARD_PEERS_PASSWORD")
    headers = {}
    if password:  # the user name is the charger id (security profile 1)
        token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    connection = await stack.enter_async_context(
        connect(f"{url}/{charger_id}", subprotocols=["ocpp1.6"], additional_headers=headers)  # type: ignore[list-item]
    )
    return _Charger(connection)


async def _start(charger: _Charger) -> int:
    """Boot and start a transaction: its id."""
    await charger.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    started = await charger.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": _time(0)},
    )
    return int(started.get("transactionId", 0))


async def _send(charger: _Charger, transaction_id: int, messages: int) -> int:
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


async def chargers(
    url: str, count: int, messages: int, *, prefix: str = "FW-", hold: bool = False
) -> None:
    """Boot `count` chargers, say "ready", wait for "go", send, say "done" (see --hold)."""
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        ids = [f"{prefix}{n:03d}" for n in range(count)]
        connected = await asyncio.gather(*(_connect(stack, url, charger_id) for charger_id in ids))
        transactions = await asyncio.gather(*(_start(charger) for charger in connected))
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        sent = await asyncio.gather(
            *(
                _send(charger, transaction_id, messages)
                for charger, transaction_id in zip(connected, transactions, strict=True)
            )
        )
        print(json.dumps({"done": sum(sent)}), flush=True)
        if hold:
            await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    """Run one peer."""
    parser = argparse.ArgumentParser(prog="forward_peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=["upstream", "chargers"])
    parser.add_argument("--url", default="")
    parser.add_argument("--chargers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--prefix", default="FW-")
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    if args.peer == "upstream":
        asyncio.run(upstream())
    else:
        asyncio.run(
            chargers(args.url, args.chargers, args.messages, prefix=args.prefix, hold=args.hold)
        )


if __name__ == "__main__":
    main()
