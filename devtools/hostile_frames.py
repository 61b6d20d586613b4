"""Hostile frames for `scripts/bench hostile`: a seeded generator, and the chargers that send them.

`HostileFrames` draws, from a fixed seed (a run repeats exactly), frames of these kinds:
- `mutated`: a valid message of the charger's version with one to three leaves replaced
  by a hostile value (NaN, 1e999, a 30-digit int, a lone surrogate, a long string, deep
  nesting, the wrong type), a field dropped, or one added;
- `number`: a valid message with one leaf written as NaN, Infinity, 1e999, -1e400 or an
  integer of up to 5,000 digits (text no JSON encoder writes, so it is spliced in);
- `surrogate`: lone UTF-16 surrogates as JSON escapes in values and keys, and, as
  binary frames, bytes that are no UTF-8 at all;
- `deep`: a value nested 33 to 100,000 levels deep;
- `unknown_action`: actions of the other version, misspelt, empty or 5,000 characters;
- `huge_string`: one value of 10 KB to 900 KB;
- `evse_flood`: StatusNotification and MeterValues naming an EVSE or connector id the
  charger never had, counting up from 2, or negative, or beyond 2**31;
- `broken`: broken framing: no JSON, truncated JSON, wrong element counts and types,
  unknown message types, answers to calls never made, a BOM, duplicate keys, a 10,000
  character message id, NUL bytes, binary frames;
- `wide`: 2,000 sampled values in one MeterValues, 500 meter values, 10,000 unknown keys;
- `oversize`: a frame beyond the central system's 1 MiB limit (the connection closes
  with 1009 and the charger connects again).

Run as a module, it is the benchmark's hostile chargers in a process of their own:
admitted chargers (each with its password) connect and boot, then, told to, send their
share of the frames as fast as the central system reads them (at most two batches of
`--batch` unread, see `HostileCharger.send_share`; or at `--rate`), answer
the central system's own CALLs with hostile answers half of the time, count what comes
back, and connect again whenever the central system closes a connection. It talks to
the benchmark like `devtools.loadgen`: `connected`, then `window_start` and
`window_end` (the figures) after a line on its standard input, and it disconnects after
another line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import random
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from devtools.admitted_hass import basic_auth, version_of
from devtools.loadgen import say
from devtools.storm_chargers import Backoff

T0 = "2026-12-07T10:00:00Z"
_EVSE = {"id": 1, "connectorId": 1}
_METER_16 = {
    "timestamp": T0,
    "sampledValue": [
        {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "16", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
    ],
}
_METER_2X = {
    "timestamp": T0,
    "sampledValue": [
        {"value": 1.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 0}},
        {"value": 7200, "measurand": "Power.Active.Import"},
        {"value": 16, "measurand": "Current.Import", "phase": "L1"},
    ],
}
CORPUS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "ocpp1.6": [
        ("Authorize", {"idTag": "TAG1"}),
        ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
        ("DataTransfer", {"vendorId": "com.example", "messageId": "m", "data": "d"}),
        ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
        ("FirmwareStatusNotification", {"status": "Installed"}),
        ("Heartbeat", {}),
        ("MeterValues", {"connectorId": 1, "transactionId": 1, "meterValue": [_METER_16]}),
        ("StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": T0}),
        (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": T0},
        ),
        ("StopTransaction", {"transactionId": 1, "meterStop": 2000, "timestamp": T0}),
        ("SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": T0}),
    ],
    "ocpp2.0.1": [
        ("Authorize", {"idToken": {"idToken": "TAG1", "type": "ISO14443"}}),
        (
            "BootNotification",
            {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
        ),
        ("DataTransfer", {"vendorId": "com.example", "data": {"a": [1, 2]}}),
        ("FirmwareStatusNotification", {"status": "Installed", "requestId": 1}),
        ("Heartbeat", {}),
        ("MeterValues", {"evseId": 1, "meterValue": [_METER_2X]}),
        ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1}),
        (
            "StatusNotification",
            {"timestamp": T0, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        ),
        (
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": T0,
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-1", "chargingState": "Charging"},
                "evse": _EVSE,
                "idToken": {"idToken": "TAG1", "type": "ISO14443"},
                "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 0}]}],
            },
        ),
        (
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": T0,
                "triggerReason": "StopAuthorized",
                "seqNo": 1,
                "transactionInfo": {"transactionId": "TX-1", "stoppedReason": "Local"},
                "evse": _EVSE,
            },
        ),
        ("SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": T0}),
        (
            "NotifyEvent",
            {
                "generatedAt": T0,
                "seqNo": 0,
                "eventData": [
                    {
                        "eventId": 1,
                        "timestamp": T0,
                        "trigger": "Delta",
                        "actualValue": "x",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "AvailabilityState"},
                    }
                ],
            },
        ),
    ],
}

# Text no JSON encoder writes: put in as placeholders, spliced in after encoding.
_RAW = {
    "@NAN@": "NaN",
    "@INF@": "Infinity",
    "@NINF@": "-Infinity",
    "@HUGE@": "1e999",
    "@NHUGE@": "-1e400",
    "@BIGINT@": "123456789012345678901234567890",
    "@INT64@": "-9223372036854775809",
    "@LONGINT@": "9" * 5000,
    "@SURROGATE@": '"bad\\ud800text"',
    "@LOWSURROGATE@": '"\\udfff"',
    "@DEEP@": "[" * 200 + "]" * 200,
}
_NUMBERS = ["@NAN@", "@INF@", "@NINF@", "@HUGE@", "@NHUGE@", "@BIGINT@", "@INT64@", "@LONGINT@"]
_HOSTILE: list[Any] = [
    *_RAW,
    None,
    True,
    -1,
    0,
    2**31,
    -(2**53),
    2**53 + 1,
    1e300,
    -0.0,
    "",
    " 12 ",
    "x" * 5000,
    "0001-01-01T00:00+14:00",
    "9999-12-31T23:59:59Z",
    "not a time",
    [],
    {},
    {"unexpected": [1, {"deeper": None}]},
    [[[[["nested"]]]]],
]
_ACTIONS = [
    "NoSuchThing",
    "",
    "heartbeat",
    "Heartbeat ",
    "__class__",
    "../../etc/passwd",
    "Bo\u00f6tNotification",
    "A" * 5000,
    "TransactionEvent",  # 2.x only: unknown to 1.6
    "StartTransaction",  # 1.6 only: unknown to 2.x
    "NotifyReport",
    "GetVariables",  # the central system's own action, sent the wrong way
]
_BROKEN = [
    "",
    "   ",
    "\x00",
    "[",
    "]",
    "{}",
    "null",
    "[2]",
    '[2, "{id}"]',
    '[2, "{id}", "Heartbeat"]',
    '[2, "{id}", "Heartbeat", {}, {}]',
    '[2, 17, "Heartbeat", {}]',
    '[2, "{id}", 7, {}]',
    '[2, "{id}", "Heartbeat", []]',
    '[9, "{id}", "Heartbeat", {}]',
    '[5, "{id}", "Heartbeat", {}]',
    '[6, "{id}", "Heartbeat", {}]',
    '[3, "{id}", {"currentTime": "x"}]',
    '[4, "{id}", "GenericError", "", {}]',
    '[4, "{id}"]',
    '["2", "{id}", "Heartbeat", {}]',
    '[2, "{id}", "Heartbeat", {}] trailing',
    '\ufeff[2, "{id}", "Heartbeat", {}]',
    '[2, "{id}", "Heartbeat", {"a": 1, "a": 2}]',
    '[2, "", "Heartbeat", {}]',
    '[2, "' + "i" * 10000 + '", "Heartbeat", {}]',
    '[2, "{id}", "Heartbeat", {}',
    '[2, "{id}", "Heartbeat", {"a": tru}]',
    '[2, "{id}", "Heartbeat", {"a": "\\x"}]',
    '{"2": "{id}"}',
]
KINDS = {
    "mutated": 40.0,
    "number": 8.0,
    "surrogate": 5.0,
    "deep": 3.0,
    "unknown_action": 5.0,
    "huge_string": 0.3,
    "evse_flood": 15.0,
    "broken": 12.0,
    "wide": 0.5,
    "oversize": 0.03,
}
# The central system's frame limit (csms/server.py ServerSettings.max_frame_bytes).
MAX_FRAME_BYTES = 1024 * 1024

type Frame = str | bytes


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list) and value:
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, (*path, i))]
    return [path]


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return root


def _spliced(frame: list[Any]) -> str:
    """The frame as JSON text, with the placeholders of `_RAW` replaced by their text."""
    text = json.dumps(frame)
    for placeholder, raw in _RAW.items():
        text = text.replace(json.dumps(placeholder), raw)
    return text


def _text(unique_id: str, action: str, payload: Any) -> str:
    return _spliced([2, unique_id, action, payload])


class HostileFrames:
    """Hostile frames for one charger of one version, drawn from a seed."""

    def __init__(self, seed: int, version: str) -> None:
        """Draw from `seed` for a charger speaking `version` (ocpp1.6 or ocpp2.0.1)."""
        self._rng = random.Random(seed)
        self._version = version
        self._corpus = CORPUS[version]
        self._ids = 0
        self._flood_id = 1

    def next(self) -> tuple[str, Frame]:
        """The next frame and its kind."""
        kind = self._rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        return kind, getattr(self, f"_{kind}")()

    def _id(self) -> str:
        self._ids += 1
        return f"h{self._ids}"

    def _message(self) -> tuple[str, dict[str, Any]]:
        action, payload = self._rng.choice(self._corpus)
        return action, copy.deepcopy(payload)

    def _mutated(self) -> Frame:
        action, payload = self._message()
        rng = self._rng
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            path = rng.choice(_leaves(payload))
            choice = rng.random()
            if choice < 0.7 or not path:
                payload = _set(payload, path, copy.deepcopy(rng.choice(_HOSTILE)))
            elif choice < 0.85:
                parent = payload
                for part in path[:-1]:
                    parent = parent[part]
                del parent[path[-1]]
            elif isinstance(payload, dict):
                key = rng.choice(("extra", "evseId", "connectorId", "x\ud800"))
                payload[key] = copy.deepcopy(rng.choice(_HOSTILE))
        return _text(self._id(), action, payload)

    def _number(self) -> Frame:
        action, payload = self._message()
        path = self._rng.choice(_leaves(payload))
        return _text(self._id(), action, _set(payload, path, self._rng.choice(_NUMBERS)))

    def _surrogate(self) -> Frame:
        action, payload = self._message()
        roll = self._rng.random()
        if roll < 0.15:  # not UTF-8 at all: only a binary frame can carry it
            return f'[2, "{self._id()}", "{action}", {{"a": "'.encode() + b'\xff\xfe\xed\xa0\x80"}]'
        if roll < 0.3:
            payload["@SURROGATE@"] = 1  # a key holding a lone surrogate
            return _text(self._id(), action, payload)
        path = self._rng.choice(_leaves(payload))
        marker = self._rng.choice(["@SURROGATE@", "@LOWSURROGATE@"])
        return _text(self._id(), action, _set(payload, path, marker))

    def _deep(self) -> Frame:
        action, payload = self._message()
        depth = self._rng.choice((33, 33, 100, 100, 1000, 10000, 100000))
        path = self._rng.choice(_leaves(payload))
        text = _text(self._id(), action, _set(payload, path, "@NEST@"))
        return text.replace('"@NEST@"', "[" * depth + "]" * depth)

    def _unknown_action(self) -> Frame:
        _action, payload = self._message()
        return _text(self._id(), self._rng.choice(_ACTIONS), payload)

    def _huge_string(self) -> Frame:
        action, payload = self._message()
        size = int(10_000 * 90 ** self._rng.random())  # 10 KB to 900 KB, log-uniform
        path = self._rng.choice(_leaves(payload))
        filler = self._rng.choice(("x", "\u00e9", "\\u0000"))
        text = _text(self._id(), action, _set(payload, path, "@HUGESTRING@"))
        return text.replace('"@HUGESTRING@"', '"' + filler * (size // len(filler)) + '"')

    def _evse_flood(self) -> Frame:
        rng = self._rng
        if rng.random() < 0.7:
            self._flood_id += 1
            evse_id = self._flood_id
        else:
            evse_id = rng.choice((0, -1, -(2**31), 9, 100, 2**31 - 1, 2**31, 2**53))
        is_16 = self._version == "ocpp1.6"
        if rng.random() < 0.5:
            action = "StatusNotification"
            payload: dict[str, Any] = (
                {"connectorId": evse_id, "errorCode": "NoError", "status": "Available"}
                if is_16
                else {
                    "timestamp": T0,
                    "connectorStatus": "Available",
                    "evseId": evse_id,
                    "connectorId": rng.choice((1, evse_id)),
                }
            )
        else:
            action = "MeterValues"
            key = "connectorId" if is_16 else "evseId"
            meter = _METER_16 if is_16 else _METER_2X
            payload = {key: evse_id, "meterValue": [copy.deepcopy(meter)]}
        return _text(self._id(), action, payload)

    def _broken(self) -> Frame:
        if self._rng.random() < 0.1:  # binary frames: random bytes, or JSON sent as bytes
            if self._rng.random() < 0.5:
                return self._rng.randbytes(self._rng.randint(1, 200))
            return _text(self._id(), "Heartbeat", {}).encode()
        return self._rng.choice(_BROKEN).replace("{id}", self._id())

    def _wide(self) -> Frame:
        is_16 = self._version == "ocpp1.6"
        key = "connectorId" if is_16 else "evseId"
        meter = _METER_16 if is_16 else _METER_2X
        roll = self._rng.random()
        if roll < 0.4:
            sampled = [copy.deepcopy(meter["sampledValue"][1]) for _ in range(2000)]
            reading = {"timestamp": T0, "sampledValue": sampled}
            payload: dict[str, Any] = {key: 1, "meterValue": [reading]}
            return _text(self._id(), "MeterValues", payload)
        if roll < 0.7:
            payload = {key: 1, "meterValue": [copy.deepcopy(meter) for _ in range(500)]}
            return _text(self._id(), "MeterValues", payload)
        action, payload = self._message()
        payload.update({f"k{n}": n for n in range(10000)})
        return _text(self._id(), action, payload)

    def _oversize(self) -> Frame:
        return _text(self._id(), "DataTransfer", {"vendorId": "x" * (MAX_FRAME_BYTES + 1000)})


def hostile_answer(rng: random.Random, unique_id: str) -> str:
    """An answer to the central system's CALL: plain half of the time, else hostile."""
    roll = rng.random()
    if roll < 0.5:
        return json.dumps([4, unique_id, "NotSupported", "", {}])
    if roll < 0.85:
        return _spliced([3, unique_id, {"status": copy.deepcopy(rng.choice(_HOSTILE))}])
    return rng.choice(_BROKEN).replace("{id}", unique_id)


# Frames sent between two checkpoints, and checkpoints awaited at most at once: what a
# hostile charger may have in flight, unread (see `HostileCharger.send_share`).
BATCH = 50
BATCHES_IN_FLIGHT = 2
CHECKPOINT_TIMEOUT_S = 120.0


@dataclass
class Tally:
    """What the central system answered one hostile charger, and how its connections ended."""

    read: Counter[str] = field(default_factory=Counter)  # frames read, by kind
    sent: Counter[str] = field(default_factory=Counter)  # every frame sent, by kind
    unconfirmed: int = 0  # frames sent on connections that closed before a checkpoint
    results: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # CALLERRORs by code
    calls_answered: int = 0  # the central system's own CALLs
    closes: Counter[str] = field(default_factory=Counter)  # by close code
    reconnects: int = 0
    refusals: Counter[str] = field(default_factory=Counter)  # failed attempts to reconnect
    gave_up: bool = False


class HostileCharger:
    """One admitted charger sending hostile frames, connecting again when closed."""

    def __init__(
        self,
        url: str,
        charger_id: str,
        version: str,
        password: str,
        *,
        seed: int,
        batch: int = BATCH,
    ) -> None:
        """Prepare; `connect` opens the connection."""
        self.url, self.charger_id, self.version, self.password = url, charger_id, version, password
        self.batch = batch
        self.frames = HostileFrames(seed, version)
        self.tally = Tally()
        self._rng = random.Random(seed + 1)
        self._websocket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        # Our own CALLs (the boot, checkpoints) by message id, until answered.
        self._calls: dict[str, asyncio.Future[Any]] = {}
        self._checkpoints = 0

    async def connect(self, deadline: float, backoff: Backoff) -> bool:
        """Connect (password, retries with backoff) until `deadline`; whether it did."""
        failures = 0
        while time.monotonic() < deadline:
            try:
                self._websocket = await connect(
                    f"{self.url}/{self.charger_id}",
                    subprotocols=[Subprotocol(self.version)],
                    additional_headers=basic_auth(self.charger_id, self.password),
                    open_timeout=30,
                    ping_interval=None,
                    max_queue=None,
                    max_size=None,
                    proxy=None,
                )
            except InvalidStatus as refused:
                self.tally.refusals[f"http_{refused.response.status_code}"] += 1
            except (OSError, TimeoutError, InvalidHandshake) as error:
                self.tally.refusals[type(error).__name__] += 1
            else:
                self._reader = asyncio.create_task(self._read(self._websocket))
                return True
            failures += 1
            await asyncio.sleep(backoff.wait(failures, self._rng))
        return False

    async def _call(self, unique_id: str, action: str, payload: dict[str, Any]) -> Any:
        """Send a CALL of our own; a future of its CALLRESULT payload (None: none came)."""
        assert self._websocket is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[unique_id] = future
        await self._websocket.send(json.dumps([2, unique_id, action, payload]))
        return future

    async def boot(self) -> Any:
        """BootNotification; the central system's answer (None if the socket closed)."""
        payload = dict(CORPUS[self.version])["BootNotification"]
        future = await self._call("boot", "BootNotification", payload)
        async with asyncio.timeout(30):
            return await future

    async def _read(self, websocket: ClientConnection) -> None:
        try:
            async for raw in websocket:
                self._count(websocket, raw)
        except ConnectionClosed as closed:
            close = closed.rcvd or closed.sent
            self.tally.closes[str(close.code) if close else "1006"] += 1
        else:
            self.tally.closes[str(websocket.close_code or 1006)] += 1
        finally:
            calls, self._calls = self._calls, {}
            for future in calls.values():
                if not future.done():
                    future.set_result(None)

    def _count(self, websocket: ClientConnection, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            kind, unique_id = frame[0], frame[1]
        except ValueError, TypeError, IndexError, KeyError:
            self.tally.errors["unreadable"] += 1
            return
        if kind == 2:
            self.tally.calls_answered += 1
            # Not awaited: the answer goes out with the next write (the reader never blocks).
            answer = hostile_answer(self._rng, str(unique_id))
            task = asyncio.ensure_future(websocket.send(answer))
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        elif (future := self._calls.pop(str(unique_id), None)) is not None:
            future.set_result(frame[2] if kind == 3 and not future.done() else None)
        elif kind == 3:
            self.tally.results += 1
        elif kind == 4:
            self.tally.errors[str(frame[2])] += 1

    async def _send_batch(self, size: int, interval_s: float) -> tuple[Counter[str], Any]:
        """`size` frames and a checkpoint; their kinds and the checkpoint's future."""
        assert self._websocket is not None
        batch: Counter[str] = Counter()
        try:
            for _ in range(size):
                kind, frame = self.frames.next()
                await self._websocket.send(frame)
                batch[kind] += 1
                self.tally.sent[kind] += 1
                if interval_s:
                    await asyncio.sleep(interval_s)
            self._checkpoints += 1
            future = await self._call(f"checkpoint-{self._checkpoints}", "Heartbeat", {})
        except ConnectionClosed:
            return batch, None
        return batch, future

    async def send_share(
        self, frames: int, deadline: float, backoff: Backoff, interval_s: float
    ) -> None:
        """Have the central system read `frames` hostile frames, connecting again as needed.

        Sending is not reading: frames that compress to a few bytes fit by the ten
        thousand in the sockets' buffers. So every `batch` frames go with a Heartbeat,
        a checkpoint: the central system handles a connection's frames in order, so its
        answer means the batch was read. At most `BATCHES_IN_FLIGHT` checkpoints are
        awaited at once. Frames sent on a connection that closes before their
        checkpoint (after an oversized frame) are counted as unconfirmed and sent again.
        """
        remaining = frames
        waiting: deque[tuple[int, Counter[str], Any]] = deque()  # size, kinds, checkpoint
        while remaining or waiting:
            if self._websocket is None:
                if not await self.connect(deadline, backoff):
                    self.tally.gave_up = True
                    return
                self.tally.reconnects += 1
            if remaining and len(waiting) < BATCHES_IN_FLIGHT:
                size = min(self.batch, remaining)
                batch, future = await self._send_batch(size, interval_s)
                remaining -= size
                waiting.append((size, batch, future))
                if future is not None:
                    continue
            size, batch, future = waiting.popleft()
            answer = None
            if future is not None:
                with contextlib.suppress(TimeoutError):
                    answer = await asyncio.wait_for(future, CHECKPOINT_TIMEOUT_S)
            if answer is not None:
                self.tally.read.update(batch)
                continue
            # The connection closed: this batch and those after it may not have been read.
            # Frames a closed socket refused were never sent: only the sent are unconfirmed.
            self.tally.unconfirmed += sum(batch.values()) + sum(
                sum(kinds.values()) for _size, kinds, _future in waiting
            )
            remaining += size + sum(later for later, _kinds, _future in waiting)
            waiting.clear()
            await self.close()
            self._websocket = None

    async def close(self) -> None:
        """Close the connection, if one is open."""
        if self._websocket is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await self._websocket.close()
        if self._reader is not None:
            self._reader.cancel()


def tally_figures(chargers: list[HostileCharger], seconds: float) -> dict[str, Any]:
    """The window's figures over every hostile charger; `seconds`: sending them all took."""
    sent: Counter[str] = Counter()
    read: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    for charger in chargers:
        sent.update(charger.tally.sent)
        read.update(charger.tally.read)
        errors.update(charger.tally.errors)
        closes.update(charger.tally.closes)
        refusals.update(charger.tally.refusals)
    total = sum(read.values())
    return {
        "seconds": round(seconds, 2),
        "frames": total,  # read by the central system (a checkpoint answered after them)
        "frames_per_s": round(total / seconds, 1) if seconds else None,
        "frames_sent": sum(sent.values()),
        "unconfirmed": sum(charger.tally.unconfirmed for charger in chargers),
        "by_kind": dict(sent.most_common()),
        "callresults": sum(charger.tally.results for charger in chargers),
        "callerrors": dict(errors.most_common()),
        "internal_errors": errors.get("InternalError", 0),
        "central_calls_answered": sum(charger.tally.calls_answered for charger in chargers),
        "closes": dict(closes.most_common()),
        "reconnects": sum(charger.tally.reconnects for charger in chargers),
        "refusals": dict(refusals.most_common()),
        "gave_up": [charger.charger_id for charger in chargers if charger.tally.gave_up],
    }


async def _line() -> str:
    """The next line of standard input (empty at its end), read off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run(args: argparse.Namespace, passwords: dict[str, str]) -> None:
    """Boot every charger, send the frames when told to, disconnect when told to."""
    backoff = Backoff()
    chargers = [
        HostileCharger(
            args.url,
            charger_id,
            version_of(index),
            password,
            seed=args.seed + index,
            batch=args.batch,
        )
        for index, (charger_id, password) in enumerate(passwords.items())
    ]
    deadline = time.monotonic() + 120
    for charger in chargers:
        if not await charger.connect(deadline, backoff):
            raise SystemExit(f"{charger.charger_id} could not connect")
        answer = await charger.boot()
        if not answer or answer.get("status") != "Accepted":
            raise SystemExit(f"{charger.charger_id} was not accepted: {answer}")
    say("connected")
    await _line()
    say("window_start")
    started = time.monotonic()
    shares = [args.frames // len(chargers)] * len(chargers)
    shares[0] += args.frames - sum(shares)
    # Each charger's pace when a total rate is asked for; 0: as fast as they are read.
    interval = len(chargers) / args.rate if args.rate else 0.0
    deadline = started + args.timeout
    await asyncio.gather(
        *(
            charger.send_share(share, deadline, backoff, interval)
            for charger, share in zip(chargers, shares, strict=True)
        )
    )
    seconds = time.monotonic() - started
    await asyncio.sleep(1)  # the answers to the last frames
    say("window_end", **tally_figures(chargers, seconds))
    await _line()
    await asyncio.gather(*(charger.close() for charger in chargers))


def main() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="hostile_frames", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="ws://host:port of the central system")
    parser.add_argument("--passwords", required=True, help="JSON file: charger id -> password")
    parser.add_argument("--frames", type=int, default=100_000, help="hostile frames in all")
    parser.add_argument("--rate", type=float, default=0.0, help="frames/s in all, at most")
    parser.add_argument("--batch", type=int, default=BATCH, help="frames between checkpoints")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--timeout", type=float, default=1800.0, help="s for the whole window")
    args = parser.parse_args()
    asyncio.run(run(args, json.loads(Path(args.passwords).read_text())))


if __name__ == "__main__":
    main()
