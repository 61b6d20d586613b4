"""The boundary: every value a charger sends is made safe here, before anything reads it.

A charger's frame is untrusted text. Python's `json` accepts `NaN`, `Infinity` and
`1e999` (an infinite float), ints of thousands of digits, lone UTF-16 surrogates that no
encoder will write back, and nesting deep enough to exhaust the stack of any recursive
reader after it. Each of those, once in the model, breaks something far away: Home
Assistant refuses the state, SQLite refuses the row, the device registry cannot save,
`10**multiplier` runs for minutes. So `decode_frame` turns a frame into values that are
safe for every reader downstream, or says exactly why it cannot:

- numbers are finite and within +-`MAX_MAGNITUDE` (a JSON peer loses precision beyond it,
  and no reading, id or limit comes near it);
- text holds no lone surrogate (each is replaced with U+FFFD and counted);
- nesting is at most `MAX_DEPTH` deep (OCPP's deepest message is about 8);
- a CALL carries at most `MAX_VALUES_PER_METER_VALUE` sampled values in one meter value
  and `MAX_VALUES_PER_MESSAGE` in all.

An unsafe number inside a `sampledValue` item drops that one sample (the rest of the
message still counts); anywhere else the frame is refused, and the caller answers a CALL
with PropertyConstraintViolation naming the place.

What one frame may cost is bounded too, before the frame is read: nesting is measured
on the raw text (`_deeper_than`), so a frame nested 100,000 levels deep is refused for
the price of a few byte scans instead of a decode that builds 100,000 lists and then
fails. The walk that repairs values only runs when the decode met an unsafe number or
the text escapes a surrogate; every other frame (nearly all) is used as decoded. Meter
values beyond the bounds are thinned before anything validates or applies them, so a
message's readings cost a bounded amount (a meter with every measurand on every phase
sends about 60 per reading).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

# Deeper than any OCPP message (2.1's deepest is about 8 levels); a bound that keeps every
# recursive reader after this one (schema check, repair, copy) far from the stack limit.
MAX_DEPTH = 32
# Integers and floats beyond 2**53 lose precision in JSON peers and are no plausible
# reading, id or limit; SQLite and Home Assistant's state JSON take them safely.
MAX_MAGNITUDE = 2**53
# A JSON integer literal longer than this cannot be within MAX_MAGNITUDE; refusing it
# before `int()` also avoids the quadratic cost of converting very long literals.
_MAX_INT_DIGITS = 17
# Lists whose items are single readings: an unsafe number drops the item, not the frame.
_DROPPABLE_ITEMS = frozenset({"sampledValue"})
# Vendor data the engine passes on but never reads (2.x customData, DataTransfer data):
# an unsafe number there (a nanosecond timestamp, a 64-bit id) becomes null instead of
# costing the whole message, which may end a session.
_OPAQUE_KEYS = frozenset({"customData", "data"})
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The only way a lone surrogate gets into a decoded frame: text that arrived as valid
# UTF-8 holds none, so one can only come from a JSON escape of U+D800..U+DFFF.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

# Sampled values one meter value (one moment) may carry: OCPP 1.6 knows 22 measurands,
# a meter sends each on at most a few phases and locations. The rest are left out.
MAX_VALUES_PER_METER_VALUE = 200
# Sampled values one message may carry in all (a 1.6 StopTransaction's transactionData,
# a 2.x TransactionEvent's meterValue): beyond it, whole meter values are left out,
# evenly over the message, the first and the last kept.
MAX_VALUES_PER_MESSAGE = 1000
# The payload keys that hold meter values (1.6 MeterValues and StopTransaction, 2.x
# MeterValues and TransactionEvent).
_METER_VALUE_KEYS = ("meterValue", "transactionData")

# Nesting measured on the bytes of a frame: `{` and `}` count as `[` and `]`; escaped
# backslashes and quotes are removed first, so that quotes delimit the strings.
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')
# The start of an OCPP-J frame: its message type, unique id and (a CALL's) action, read
# without decoding the rest (a frame refused for its nesting is still answered by id).
_FRAME_HEAD = re.compile(
    r'\s*\[\s*(\d{1,2})\s*,\s*("(?:[^"\\]|\\.){0,100}")\s*(?:,\s*("(?:[^"\\]|\\.){0,100}"))?'
)


class _Unsafe:
    """Stands in, while decoding, for a number no reader may see."""

    __slots__ = ("literal",)
    # How many were ever made: a decode that made none needs no walk for numbers. (Only
    # compared before and after one decode; another thread's decode meanwhile can only
    # make a walk happen that was not needed.)
    made = 0

    def __init__(self, literal: str) -> None:
        self.literal = literal[:40]
        _Unsafe.made += 1


def _parse_float(literal: str) -> float | _Unsafe:
    value = float(literal)
    return value if math.isfinite(value) and abs(value) <= MAX_MAGNITUDE else _Unsafe(literal)


def _parse_int(literal: str) -> int | _Unsafe:
    if len(literal) < 16:
        return int(literal)  # nearly every int: 15 digits at most, far within the bound
    if len(literal.lstrip("-")) > _MAX_INT_DIGITS:
        return _Unsafe(literal)
    value = int(literal)
    return value if abs(value) <= MAX_MAGNITUDE else _Unsafe(literal)


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int, parse_constant=_Unsafe)


class FrameError(Exception):
    """The text is no JSON at all (or nests beyond what the decoder can follow)."""


@dataclass(slots=True)
class Decoded:
    """A frame as safe values, and what had to be done or could not be done to it."""

    value: Any
    # Repairs, by station-warning kind (counted): "invalid_text", "unsafe_number_dropped",
    # "meter_values_thinned".
    repairs: list[str] = field(default_factory=list)
    # Why the frame cannot be used, and where (a JSON-pointer-like path), if so.
    violation: str | None = None
    violation_path: str = ""


def decode_frame(text: str) -> Decoded:
    """Decode one frame's text and make its values safe (see the module's rules).

    Raises FrameError when the text is not JSON.
    """
    if _deeper_than(text, MAX_DEPTH):
        return _refused_by_depth(text)
    unsafe_before = _Unsafe.made
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as err:
        raise FrameError(str(err)[:200]) from err
    decoded = Decoded(value)
    if _Unsafe.made != unsafe_before or ("\\u" in text and _SURROGATE_ESCAPE.search(text)):
        decoded.value = _make_safe(value, decoded)
    if decoded.violation is None:
        _bound_meter_values(decoded)
    return decoded


def _deeper_than(text: str, limit: int) -> bool:
    """Whether the JSON `text` nests deeper than `limit`, found without decoding it.

    Linear in the text, in C (a few scans of its bytes), and stopping as soon as a run
    of `limit + 1` openings shows. Brackets inside strings do not count. For text that
    is no JSON the answer may be either; the decoder then says what is wrong.
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # nearly every frame: too few openings to nest that deep
    data = text.encode("utf-8", "surrogatepass")
    if b"\\" in data:
        # Escaped backslashes first, so that what is left of `\\"` is a string's end.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only brackets and quotes are left; a string then holds only the brackets it had.
    data = data.translate(_AS_SQUARE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in data:
        data = b"".join(data.split(b'"')[::2])  # strings with brackets in them
    run = b"[" * (limit + 1)
    # Each round takes the innermost level away: a text that nests at most `limit`
    # deep is gone after `limit` rounds.
    for _ in range(limit):
        if not data:
            return False
        if run in data:
            return True
        shorter = data.replace(b"[]", b"")
        if len(shorter) == len(data):
            return False  # unbalanced: no JSON
        data = shorter
    return bool(data)


def _refused_by_depth(text: str) -> Decoded:
    """A frame nested too deep, refused undecoded: its head (type, id, action) if it has one."""
    decoded = Decoded(None, violation=f"nested deeper than {MAX_DEPTH} levels")
    if (head := _FRAME_HEAD.match(text)) is None:
        return decoded
    kind, unique_id, action = head.groups()
    # An id that is no JSON string leaves the frame without one (answered as such).
    with contextlib.suppress(ValueError):
        decoded.value = [
            int(kind),
            clean_text(json.loads(unique_id)),
            None if action is None else clean_text(json.loads(action)),
        ]
    return decoded


def _bound_meter_values(decoded: Decoded) -> None:
    """Thin out a CALL's meter values beyond the bounds (see `MAX_VALUES_PER_MESSAGE`)."""
    message = decoded.value
    if not (
        isinstance(message, list)
        and len(message) == 4
        and message[0] == 2
        and isinstance(message[3], dict)
    ):
        return
    for key in _METER_VALUE_KEYS:
        entries = message[3].get(key)
        if isinstance(entries, list) and _thin(entries):
            decoded.repairs.append("meter_values_thinned")


def _thin(entries: list[Any]) -> bool:
    """Bound a list of meter values in place; whether anything was left out."""
    thinned = False
    sizes: list[int] = []
    for entry in entries:
        values = entry.get("sampledValue") if isinstance(entry, dict) else None
        if not isinstance(values, list):
            sizes.append(1)
            continue
        if len(values) > MAX_VALUES_PER_METER_VALUE:
            del values[MAX_VALUES_PER_METER_VALUE:]
            thinned = True
        sizes.append(max(len(values), 1))
    kept = list(range(len(entries)))
    total = sum(sizes)
    while total > MAX_VALUES_PER_MESSAGE:
        # Fewer each round (meter values differ in size); one alone always fits.
        keep = max(1, min(len(kept) - 1, len(kept) * MAX_VALUES_PER_MESSAGE // total))
        kept = _evenly(len(entries), keep)
        total = sum(sizes[index] for index in kept)
    if len(kept) == len(entries):
        return thinned
    entries[:] = [entries[index] for index in kept]
    return True


def _evenly(count: int, keep: int) -> list[int]:
    """`keep` indexes of `count`, spread evenly, the first and the last among them."""
    if keep == 1:
        return [count - 1]
    return sorted({round(step * (count - 1) / (keep - 1)) for step in range(keep)})


def finite_number(text: Any) -> float | None:
    """A reading sent as text (1.6 `sampledValue.value`), or None if no safe number."""
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= MAX_MAGNITUDE else None


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _make_safe(root: Any, decoded: Decoded) -> Any:
    """Walk the value without recursion, repairing in place; the (new) root."""
    if isinstance(root, str):
        return _safe_text(root, decoded)
    if isinstance(root, _Unsafe):
        _refuse(decoded, f"{root.literal} is not a safe number", [])
        return None
    # (container, path to it, depth)
    stack: list[tuple[dict[str, Any] | list[Any], list[str | int], int]] = []
    if isinstance(root, (dict, list)):
        stack.append((root, [], 1))
    while stack and decoded.violation is None:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            _refuse(decoded, f"nested deeper than {MAX_DEPTH} levels", path)
            break
        if isinstance(node, dict):
            _safe_dict(node, path, depth, decoded, stack)
        else:
            _safe_list(node, path, depth, decoded, stack)
    return root


def _safe_dict(
    node: dict[str, Any],
    path: list[str | int],
    depth: int,
    decoded: Decoded,
    stack: list[tuple[dict[str, Any] | list[Any], list[str | int], int]],
) -> None:
    for key in [key for key in node if _LONE_SURROGATE.search(key)]:
        node[clean_text(key)] = node.pop(key)
        decoded.repairs.append("invalid_text")
    opaque = any(part in _OPAQUE_KEYS for part in path)
    for key, item in node.items():
        if isinstance(item, str):
            node[key] = _safe_text(item, decoded)
        elif isinstance(item, _Unsafe):
            if opaque or key in _OPAQUE_KEYS:
                node[key] = None
                decoded.repairs.append("unsafe_number_dropped")
                continue
            _refuse(decoded, f"{item.literal} is not a safe number", [*path, key])
            return
        elif isinstance(item, (dict, list)):
            stack.append((item, [*path, key], depth + 1))


def _safe_list(
    node: list[Any],
    path: list[str | int],
    depth: int,
    decoded: Decoded,
    stack: list[tuple[dict[str, Any] | list[Any], list[str | int], int]],
) -> None:
    droppable = bool(path) and path[-1] in _DROPPABLE_ITEMS
    if droppable:
        kept = [item for item in node if not _holds_unsafe_number(item)]
        if len(kept) != len(node):
            decoded.repairs.extend(["unsafe_number_dropped"] * (len(node) - len(kept)))
            node[:] = kept
    opaque = any(part in _OPAQUE_KEYS for part in path)
    for index, item in enumerate(node):
        if isinstance(item, str):
            node[index] = _safe_text(item, decoded)
        elif isinstance(item, _Unsafe):
            if opaque:
                node[index] = None
                decoded.repairs.append("unsafe_number_dropped")
                continue
            _refuse(decoded, f"{item.literal} is not a safe number", [*path, index])
            return
        elif isinstance(item, (dict, list)):
            stack.append((item, [*path, index], depth + 1))


def _holds_unsafe_number(item: Any) -> bool:
    """Whether a single reading has an unsafe number in it (its unitOfMeasure too).

    A reading nests two levels at most; deeper ones are left to the walk, which refuses.
    """
    if not isinstance(item, dict):
        return False
    return any(
        isinstance(value, _Unsafe)
        or (isinstance(value, dict) and any(isinstance(v, _Unsafe) for v in value.values()))
        for value in item.values()
    )


def _safe_text(text: str, decoded: Decoded) -> str:
    if text.isascii() or not _LONE_SURROGATE.search(text):
        return text
    decoded.repairs.append("invalid_text")
    return clean_text(text)


def _refuse(decoded: Decoded, why: str, path: list[str | int]) -> None:
    decoded.violation = why
    decoded.violation_path = "/".join(str(part) for part in path)
