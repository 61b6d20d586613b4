"""The boundary bounds what one frame can cost before anything reads it.

Counted, not timed: a frame nested 100,000 deep never reaches the JSON decoder, a plain
frame is not walked value by value, and a message's meter values are thinned to a
bounded number before they are validated or applied.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from custom_components.ocpp_csms.csms import boundary
from custom_components.ocpp_csms.csms.boundary import (
    MAX_DEPTH,
    MAX_VALUES_PER_MESSAGE,
    MAX_VALUES_PER_METER_VALUE,
    decode_frame,
)

T0 = "2026-11-23T10:00:00Z"
# Text that tempts a string-blind bracket count: brackets, quotes and backslashes.
_TRICKY = ["[", "]", "{", "}", "[[[", "]]]", '"', '\\"[', "\\", "\\\\", "a\\\\]", "x", ""]


def _depth(value: Any) -> int:
    """How deep a decoded value nests (a container counts one level)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _scalar(rng: random.Random) -> Any:
    return rng.choice([1, -2.5, None, True, rng.choice(_TRICKY) + rng.choice(_TRICKY)])


def _random_value(rng: random.Random, depth: int) -> Any:
    """A value nesting exactly `depth` deep, with shallow siblings along the way."""
    if depth == 0:
        return _scalar(rng)
    items = [
        _random_value(rng, rng.randint(0, min(depth - 1, 2))) for _ in range(rng.randint(0, 2))
    ]
    items.insert(rng.randint(0, len(items)), _random_value(rng, depth - 1))
    if rng.random() < 0.5:
        return items
    return {rng.choice(_TRICKY) + str(index): item for index, item in enumerate(items)}


def test_nesting_is_measured_on_the_text_as_the_decoder_sees_it() -> None:
    rng = random.Random(20261207)
    seen = set()
    for _ in range(3000):
        value = _random_value(rng, rng.randint(0, 2 * MAX_DEPTH))
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        depth = _depth(value)
        seen.add(depth > MAX_DEPTH)
        for limit in (MAX_DEPTH, depth, max(depth - 1, 0)):
            assert boundary._deeper_than(text, limit) == (depth > limit), (limit, text[:300])
    assert seen == {True, False}


def test_brackets_in_strings_neither_hide_nor_add_depth() -> None:
    hidden = '["' + "]" * 40 + '",' + "[" * 40 + "]" * 40 + "]"
    assert boundary._deeper_than(hidden, MAX_DEPTH)
    shallow = '["' + "[" * 40 + '\\"", {"' + "{" * 40 + '": 1}]'
    assert not boundary._deeper_than(shallow, MAX_DEPTH)


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_a_frame_nested_too_deep_is_refused_without_decoding(
    monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    class NoDecoder:
        def decode(self, text: str) -> Any:
            raise AssertionError("a frame nested too deep reached the decoder")

    monkeypatch.setattr(boundary, "_DECODER", NoDecoder())
    nested = "[" * depth + "]" * depth
    decoded = decode_frame(f'[2, "deep", "DataTransfer", {{"vendorId": "x", "data": {nested}}}]')
    assert decoded.violation == f"nested deeper than {MAX_DEPTH} levels"
    # Answered by its id all the same.
    assert decoded.value == [2, "deep", "DataTransfer"]
    answer = decode_frame(f'[3, "id\\u00e9", {{"status": {nested}}}]')
    assert (answer.value, answer.violation is not None) == ([3, "idé", None], True)
    assert decode_frame("[" * depth + "]" * depth).value is None


def test_only_frames_that_need_it_are_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[str] = []
    make_safe = boundary._make_safe

    def spy(value: Any, decoded: boundary.Decoded) -> Any:
        walked.append(value[1])
        return make_safe(value, decoded)

    monkeypatch.setattr(boundary, "_make_safe", spy)
    meter = {"timestamp": T0, "sampledValue": [{"value": 1.5, "measurand": "Voltage"}]}
    plain = json.dumps([2, "plain", "MeterValues", {"evseId": 1, "meterValue": [meter] * 40}])
    assert decode_frame(plain).violation is None
    assert decode_frame('[2, "escaped", "Heartbeat", {"note": "caf\\u00e9"}]').repairs == []
    assert walked == []
    nan = decode_frame('[2, "nan", "MeterValues", {"evseId": 1, "x": NaN}]')
    assert nan.violation_path == "3/x"
    lone = decode_frame('[2, "lone", "Heartbeat", {"note": "\\ud800"}]')
    assert (lone.value[3], lone.repairs) == ({"note": "\ufffd"}, ["invalid_text"])
    # An escaped pair is one character: looked at, nothing to repair.
    pair = decode_frame('[2, "pair", "Heartbeat", {"note": "\\ud83d\\ude00"}]')
    assert (pair.value[3], pair.repairs) == ({"note": "\U0001f600"}, [])
    assert walked == ["nan", "lone", "pair"]


def _meter_values(entries: int, values: int) -> list[Any]:
    return [
        {
            "timestamp": f"2026-11-23T10:{entry // 60:02d}:{entry % 60:02d}Z",
            "sampledValue": [{"value": f"{entry}.{value}"} for value in range(values)],
        }
        for entry in range(entries)
    ]


def _call(action: str, payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The payload of a CALL as the boundary passes it on, and its repairs."""
    decoded = decode_frame(json.dumps([2, "m", action, payload]))
    assert decoded.violation is None
    return decoded.value[3], decoded.repairs


def test_one_meter_value_keeps_a_bounded_number_of_values() -> None:
    payload, repairs = _call(
        "MeterValues", {"connectorId": 1, "meterValue": _meter_values(1, 2000)}
    )
    values = payload["meterValue"][0]["sampledValue"]
    assert len(values) == MAX_VALUES_PER_METER_VALUE
    assert values[0] == {"value": "0.0"}
    assert repairs == ["meter_values_thinned"]


def test_a_message_keeps_evenly_spread_meter_values_with_the_first_and_the_last() -> None:
    given = _meter_values(500, 3)
    payload, repairs = _call("StopTransaction", {"transactionId": 1, "transactionData": given})
    kept = payload["transactionData"]
    assert sum(len(entry["sampledValue"]) for entry in kept) <= MAX_VALUES_PER_MESSAGE
    assert len(kept) == MAX_VALUES_PER_MESSAGE // 3
    assert (kept[0], kept[-1]) == (given[0], given[-1])
    order = [given.index(entry) for entry in kept]
    assert order == sorted(order)
    assert max(later - earlier for earlier, later in itertools.pairwise(order)) <= 2
    assert repairs == ["meter_values_thinned"]


def test_meter_values_within_the_bounds_are_untouched() -> None:
    given = _meter_values(MAX_VALUES_PER_MESSAGE // 5, 5)
    payload, repairs = _call("TransactionEvent", {"seqNo": 1, "meterValue": given})
    assert payload["meterValue"] == given
    assert repairs == []
    # Shapes the schema will refuse are left for it to refuse.
    for odd in ("often", [1, "x", None], [{"sampledValue": "many"}]):
        payload, repairs = _call("MeterValues", {"evseId": 1, "meterValue": odd})
        assert (payload["meterValue"], repairs) == (odd, [])


def test_meter_values_of_very_different_sizes_are_bounded() -> None:
    given = _meter_values(1, 200) * 3 + _meter_values(900, 1) + _meter_values(1, 200)
    payload, _repairs = _call("MeterValues", {"connectorId": 1, "meterValue": given})
    kept = payload["meterValue"]
    assert sum(len(entry["sampledValue"]) for entry in kept) <= MAX_VALUES_PER_MESSAGE
    assert (kept[0], kept[-1]) == (given[0], given[-1])
