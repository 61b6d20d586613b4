"""The load generator of `scripts/bench load`: many chargers, from their own process.

Each simulated charger is one WebSocket speaking raw OCPP-J (1.6 and 2.0.1 alike, by
index), because a generator built on a full OCPP library would itself become the
bottleneck before Home Assistant does. It boots, reports its connector, then sends
MeterValues with six measurands, either back to back (`--saturate`) or one every
`--interval` seconds, and times every CALL until its CALLRESULT. CALLs from the central
system get a plain answer (or NotImplemented), as a simple charger would give.

The generator talks to the benchmark over its standard streams, one JSON object a
line: it says `connected` (with the admission time), then waits for a line on its
standard input before the window (`window_start`, `window_end` with the window's
figures), and for another before it disconnects, so the benchmark can read Home
Assistant's CPU time and memory at the right moments.
Each MeterValues carries a unique power value; `--trace` writes (charger, power,
monotonic send time) of every one, so the benchmark can time the power sensor's
new state against it (`time.monotonic` is one clock for every process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

MEASURANDS = (
    ("Energy.Active.Import.Register", "Wh"),
    ("Power.Active.Import", "W"),
    ("Current.Import", "A"),
    ("Voltage", "V"),
    ("Current.Offered", "A"),
    ("SoC", "Percent"),
)
# CALLs of the central system a simple charger accepts; the rest are NotImplemented.
_ACCEPTED = {"ChangeConfiguration", "TriggerMessage", "SetChargingProfile", "ClearCache"}


def now_text() -> str:
    """The current time as OCPP writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Charger:
    """One simulated charger on one WebSocket."""

    charger_id: str
    version: str  # "ocpp1.6" or "ocpp2.0.1"
    websocket: ClientConnection | None = None
    pending: dict[str, tuple[float, asyncio.Future[Any]]] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0
    energy_wh: float = 0.0
    closed: bool = False
    trace: list[tuple[str, float, float]] | None = None

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        """Send a CALL and wait for its answer; the round trip goes in `latencies`."""
        assert self.websocket is not None
        uid = f"{self.charger_id}-{next(self.ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        sent_at = time.monotonic()
        self.pending[uid] = (sent_at, future)
        await self.websocket.send(json.dumps([2, uid, action, payload]))
        self.sent += 1
        return await future

    async def read(self) -> None:
        """Answers to our CALLs, and CALLs of the central system, until the socket closes."""
        assert self.websocket is not None
        try:
            async for raw in self.websocket:
                frame = json.loads(raw)
                if frame[0] == 2:
                    await self.websocket.send(json.dumps(self._answer(frame[1], frame[2])))
                    continue
                sent_at, future = self.pending.pop(frame[1], (None, None))
                if future is None or sent_at is None:
                    continue
                self.latencies.append(time.monotonic() - sent_at)
                if frame[0] == 3:
                    future.set_result(frame[2])
                else:
                    self.errors += 1
                    future.set_result(None)
        finally:
            self.closed = True
            for _sent, future in self.pending.values():
                if not future.done():
                    future.set_result(None)

    @staticmethod
    def _answer(uid: str, action: str) -> list[Any]:
        if action == "GetConfiguration":
            return [3, uid, {"configurationKey": [], "unknownKey": []}]
        if action in _ACCEPTED:
            return [3, uid, {"status": "Accepted"}]
        return [4, uid, "NotImplemented", f"{action} is not simulated", {}]

    def boot_payload(self) -> dict[str, Any]:
        """BootNotification in this charger's version."""
        if self.version == "ocpp1.6":
            return {"chargePointVendor": "Bench", "chargePointModel": "Load"}
        return {"chargingStation": {"vendorName": "Bench", "model": "Load"}, "reason": "PowerUp"}

    def status_payload(self) -> dict[str, Any]:
        """The connector is charging."""
        if self.version == "ocpp1.6":
            return {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        return {
            "timestamp": now_text(),
            "connectorStatus": "Occupied",
            "evseId": 1,
            "connectorId": 1,
        }

    def meter_payload(self, power_w: float) -> dict[str, Any]:
        """MeterValues with six measurands; `power_w` tells this message apart."""
        self.energy_wh += 10.0
        values = (self.energy_wh, power_w, power_w / 690, 230.0, 16.0, 50.0)
        version16 = self.version == "ocpp1.6"
        sampled = [
            {
                "value": f"{value:.1f}" if version16 else round(value, 1),
                "measurand": measurand,
                **({"unit": unit} if version16 else {"unitOfMeasure": {"unit": unit}}),
            }
            for (measurand, unit), value in zip(MEASURANDS, values, strict=True)
        ]
        key = "connectorId" if version16 else "evseId"
        return {key: 1, "meterValue": [{"timestamp": now_text(), "sampledValue": sampled}]}

    async def send_meter_values(self, sequence: int) -> None:
        """One MeterValues whose power (W) is unique to this charger and message."""
        power = 1000 + sequence % 9000
        if self.trace is not None:
            self.trace.append((self.charger_id, float(power), time.monotonic()))
        await self.call("MeterValues", self.meter_payload(power))


def say(event: str, **figures: Any) -> None:
    """One line for the benchmark."""
    print(json.dumps({"event": event, **figures}), flush=True)


async def connect_all(url: str, chargers: list[Charger], tasks: set[asyncio.Task[None]]) -> float:
    """Connect and boot every charger at once; returns the seconds until all are accepted."""
    started = time.monotonic()

    async def one(charger: Charger) -> None:
        charger.websocket = await connect(
            f"{url}/{charger.charger_id}",
            subprotocols=[charger.version],  # type: ignore[list-item]
            open_timeout=120,
            ping_interval=None,
            max_queue=None,
        )
        reader = asyncio.create_task(charger.read())
        tasks.add(reader)
        while True:
            answer = await charger.call("BootNotification", charger.boot_payload())
            if answer and answer.get("status") == "Accepted":
                break
            await asyncio.sleep(1)  # Pending: ask again, as chargers do
        await charger.call("StatusNotification", charger.status_payload())

    await asyncio.gather(*(one(charger) for charger in chargers))
    return time.monotonic() - started


async def saturate(chargers: list[Charger], seconds: float) -> None:
    """Each charger sends MeterValues back to back."""
    deadline = time.monotonic() + seconds

    async def loop(charger: Charger) -> None:
        for sequence in itertools.count():
            if time.monotonic() >= deadline or charger.closed:
                return
            await charger.send_meter_values(sequence)

    await asyncio.gather(*(loop(charger) for charger in chargers))


async def at_rate(chargers: list[Charger], seconds: float, interval: float) -> None:
    """Each charger sends one MeterValues every `interval` s, spread evenly over it."""
    start = time.monotonic()
    deadline = start + seconds
    in_flight: set[asyncio.Task[None]] = set()

    async def loop(index: int, charger: Charger) -> None:
        due = start + interval * index / len(chargers)
        for sequence in itertools.count():
            # Never past the deadline: the window ends on time, whatever the interval.
            await asyncio.sleep(max(0.0, min(due, deadline) - time.monotonic()))
            if time.monotonic() >= deadline or charger.closed:
                return
            # Not awaited: a slow answer must not delay the next send.
            task = asyncio.get_running_loop().create_task(charger.send_meter_values(sequence))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            due += interval

    await asyncio.gather(*(loop(index, charger) for index, charger in enumerate(chargers)))
    await asyncio.sleep(min(interval, 2.0))  # the last answers


async def _line() -> str:
    """The next line of standard input (empty at its end), read off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def window_figures(chargers: list[Charger], seconds: float) -> dict[str, Any]:
    """Messages per second and round trips of the window's MeterValues."""
    latencies = [latency for charger in chargers for latency in charger.latencies]
    answered = len(latencies)
    return {
        "answered": answered,
        "messages_per_s": round(answered / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "errors": sum(charger.errors for charger in chargers),
        "disconnected": sum(charger.closed for charger in chargers),
    }


async def run(args: argparse.Namespace) -> None:
    """Connect, measure one window, wait for the benchmark to let go."""
    versions = ("ocpp1.6", "ocpp2.0.1")
    chargers = [
        Charger(f"{args.prefix}{index:04d}", versions[index % 2]) for index in range(args.chargers)
    ]
    tasks: set[asyncio.Task[None]] = set()
    admission_s = await connect_all(args.url, chargers, tasks)
    if args.prime:  # one MeterValues each: the sensors exist before the window
        await asyncio.gather(*(charger.send_meter_values(0) for charger in chargers))
    say("connected", admission_s=round(admission_s, 2))
    await _line()  # the benchmark says when to start
    active = chargers[: args.saturate] if args.saturate else chargers
    trace: list[tuple[str, float, float]] = []
    for charger in chargers:
        charger.latencies.clear()
        charger.errors = 0
        charger.trace = trace if args.trace else None
    say("window_start")
    started = time.monotonic()
    if args.saturate:
        await saturate(active, args.seconds)
    elif args.interval:
        await at_rate(active, args.seconds, args.interval)
    else:
        await asyncio.sleep(args.seconds)  # idle: connected, nothing sent
    elapsed = time.monotonic() - started
    say("window_end", seconds=round(elapsed, 2), **window_figures(active, args.seconds))
    if args.trace:  # after the window: blocking here delays nothing measured
        Path(args.trace).write_text(json.dumps(trace), encoding="utf-8")  # noqa: ASYNC240
    await _line()  # the benchmark has read what it needs
    for charger in chargers:
        if charger.websocket is not None:
            with contextlib.suppress(Exception):
                await charger.websocket.close()


def main() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="ws://host:port of the central system")
    parser.add_argument("--chargers", type=int, default=10)
    parser.add_argument("--prefix", default="BENCH-")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the window")
    parser.add_argument("--prime", action="store_true", help="one MeterValues each first")
    parser.add_argument("--saturate", type=int, default=0, help="chargers sending back to back")
    parser.add_argument("--interval", type=float, default=0.0, help="s between a charger's sends")
    parser.add_argument("--trace", help="file for (charger, power, send time) of each message")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
