"""Fuzzing the frame handler: any frame gets an answer, never an exception or a bad value.

A seeded generator (so a failure repeats exactly) mutates valid messages of every
version: a leaf replaced by a hostile value (NaN, 1e999, a 30-digit int, a lone
surrogate, a long string, deep nesting, the wrong type), a field dropped or added, or
the framing broken. Each CALL must be answered with a CALLRESULT or a CALLERROR other
than InternalError (which would mean a handler raised), the connection must live on, and
the model must hold only finite numbers and text that can be written as UTF-8.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import random
from dataclasses import fields, is_dataclass
from typing import Any

import pytest

from tests.chargers import PATIENCE_S
from tests.engine.conftest import ConnectRaw, RawCharger

SEED = 20261207
FRAMES_PER_VERSION = 600
T0 = "2026-11-23T10:00:00Z"

CORPUS_16: list[tuple[str, dict[str, Any]]] = [
    ("Authorize", {"idTag": "TAG1"}),
    ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
    ("DataTransfer", {"vendorId": "com.example", "messageId": "m", "data": "d"}),
    ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
    ("FirmwareStatusNotification", {"status": "Installed"}),
    ("Heartbeat", {}),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 1,
            "meterValue": [
                {
                    "timestamp": T0,
                    "sampledValue": [
                        {"value": "1500", "measurand": "Energy.Active.Import.Register"},
                        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                        {"value": "16", "measurand": "Current.Import", "phase": "L1"},
                    ],
                }
            ],
        },
    ),
    ("StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": T0}),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": T0},
    ),
    ("StopTransaction", {"transactionId": 1, "meterStop": 2000, "timestamp": T0}),
]

_EVSE = {"id": 1, "connectorId": 1}
CORPUS_2X: list[tuple[str, dict[str, Any]]] = [
    ("Authorize", {"idToken": {"idToken": "TAG1", "type": "ISO14443"}}),
    (
        "BootNotification",
        {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
    ),
    ("DataTransfer", {"vendorId": "com.example", "data": {"a": [1, 2]}}),
    ("FirmwareStatusNotification", {"status": "Installed", "requestId": 1}),
    ("Heartbeat", {}),
    (
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": T0,
                    "sampledValue": [
                        {"value": 1.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 0}},
                        {"value": 7200, "measurand": "Power.Active.Import"},
                    ],
                }
            ],
        },
    ),
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
        "NotifyEVChargingNeeds",
        {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
    ),
]

# Placeholders for values `json.dumps` cannot write, put back as text afterwards.
_RAW = {
    "@NAN@": "NaN",
    "@INF@": "Infinity",
    "@NINF@": "-Infinity",
    "@HUGE@": "1e999",
    "@BIGINT@": "123456789012345678901234567890",
    "@SURROGATE@": '"bad\\ud800text"',
    "@DEEP@": "[" * 200 + "]" * 200,
}
_HOSTILE: list[Any] = [
    *_RAW,
    None,
    True,
    -1,
    0,
    2**31,
    -(2**53),
    1e300,
    -0.0,
    "",
    " 12 ",
    "x" * 5000,
    "0001-01-01T00:00+14:00",
    "not a time",
    [],
    {},
    {"unexpected": [1, {"deeper": None}]},
    [[[[["nested"]]]]],
]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))] or [
            path
        ]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, (*path, i))] or [
            path
        ]
    return [path]


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return root


def _mutate(rng: random.Random, payload: dict[str, Any]) -> Any:
    payload = json.loads(json.dumps(payload))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        paths = _leaves(payload)
        path = rng.choice(paths)
        choice = rng.random()
        if choice < 0.7:
            payload = _set(payload, path, copy.deepcopy(rng.choice(_HOSTILE)))
        elif choice < 0.85 and path:
            parent = payload
            for part in path[:-1]:
                parent = parent[part]
            del parent[path[-1]]
        elif isinstance(payload, dict):
            key = rng.choice(("extra", "evseId", "connectorId", "x\ud800"))
            payload[key] = copy.deepcopy(rng.choice(_HOSTILE))
    return payload


def _frame_text(unique_id: str, action: str, payload: Any) -> str:
    text = json.dumps([2, unique_id, action, payload])
    for placeholder, raw in _RAW.items():
        text = text.replace(json.dumps(placeholder), raw)
    return text


_BROKEN_FRAMES = [
    "",
    "[",
    "NaN",
    "[2]",
    '[2, "{id}"]',
    '[2, "{id}", 7, {}]',
    '[2, "{id}", "Heartbeat", []]',
    '[2, "{id}", "Heartbeat", {}, "extra"]',
    '[9, "{id}", "Heartbeat", {}]',
    '[2, "{id}", "NoSuchThing", {}]',
    '{"2": "{id}"}',
    '[2, "{id}", "Heartbeat", {"a": ' + "[" * 5000 + "]" * 5000 + "}]",
]

_NEVER = "InternalError"


async def _answer_to(charger: RawCharger, unique_id: str | None) -> list[Any]:
    """The next answer (skipping the central system's own CALLs)."""
    async with asyncio.timeout(PATIENCE_S):
        while True:
            frame: list[Any] = json.loads(await charger.websocket.recv())
            if frame[0] == 2:
                # Its own CALL: answer with an error so its lock is free again.
                await charger.websocket.send(json.dumps([4, frame[1], "NotSupported", "", {}]))
                continue
            if unique_id is None or frame[1] in (unique_id, "-1"):
                return frame


def _walk_model(value: Any, seen: set[int], path: str = "station") -> None:
    """Every number in the model finite, every text writable as UTF-8."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, float):
        assert math.isfinite(value), path
    elif isinstance(value, int) and not isinstance(value, bool):
        assert abs(value) <= 2**63, path
    elif isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk_model(key, seen, f"{path}.key")
            _walk_model(item, seen, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _walk_model(item, seen, f"{path}[{index}]")
    elif is_dataclass(value) and not isinstance(value, type):
        for each in fields(value):
            _walk_model(getattr(value, each.name), seen, f"{path}.{each.name}")


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_fuzzed_frames_are_always_answered_and_leave_the_model_safe(
    raw_charger: ConnectRaw, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(f"{SEED}-{version}")
    charger = await raw_charger(version)
    corpus = CORPUS_16 if version == "ocpp1.6" else CORPUS_2X
    codes: dict[str, int] = {}
    for index in range(FRAMES_PER_VERSION):
        unique_id = f"f{index}"
        if rng.random() < 0.1:
            text = rng.choice(_BROKEN_FRAMES).replace("{id}", unique_id)
        else:
            action, payload = rng.choice(corpus)
            text = _frame_text(unique_id, action, _mutate(rng, payload))
        await charger.websocket.send(text)
        if version == "ocpp2.1" and text.startswith(("[5", "[6")):
            continue
        answer = await _answer_to(charger, unique_id)
        assert answer[0] in (3, 4), (text[:300], answer)
        if answer[0] == 4:
            assert answer[2] != _NEVER, (text[:300], answer)
            codes[answer[2]] = codes.get(answer[2], 0) + 1
    # Still the same, working connection, and nothing in our code raised.
    assert "currentTime" in await charger.result("Heartbeat", {})
    failures = [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.name.startswith("custom_components")
    ]
    assert not failures, failures
    _walk_model(charger.station, set())
    # The mutations did reach the handlers and the boundary (not only one error path).
    assert len(codes) >= 3, codes
