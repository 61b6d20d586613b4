"""Accepting what real chargers send when it bends the schema.

Real chargers send `" 0.0"` where a number belongs, invent error codes and units,
overrun string lengths, add vendor fields and send empty `sampledValue` arrays.
Refusing such a message drops data and, for a StopTransaction, a whole session. So
when a request breaks its schema, `repair` tries the known quirks on it. It returns
the repaired payload and the names of the quirks it accepted (the station counts them),
or None when the message is truly malformed and deserves a CALLERROR.

A message with an error no quirk explains is refused before anything is changed, and
the errors the caller already has are not computed again: jsonschema's detailed errors
are the dearest part of a refused message.
"""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSequence
from typing import Any

from jsonschema.exceptions import ValidationError

from .schemas import VersionSchemas

# Enum fields whose unknown values can be dropped: the field is optional and the
# value it qualifies is still useful without it.
_DROPPABLE_ENUM_FIELDS = frozenset({"unit", "phase", "location", "context", "format"})
# Rounds of repair: removing one thing can reveal an error under it.
_MAX_ROUNDS = 4
# The schema keywords whose breaks a quirk may explain (see `_fix`); any other is fatal.
_FIXABLE = frozenset({"type", "maxLength", "enum", "additionalProperties", "minItems"})


class _Fatal(Exception):
    """An error that no known quirk explains."""


def repair(
    schemas: VersionSchemas,
    action: str,
    payload: dict[str, Any],
    errors: list[ValidationError] | None = None,
) -> tuple[dict[str, Any], list[str]] | None:
    """`payload` made schema-valid (or harmlessly invalid), and the quirks fixed.

    Repairs in place: on None, the payload may be half repaired and is of no further
    use. `errors`: the payload's schema errors, if the caller has them already.
    """
    repaired = payload
    quirks: list[str] = []
    for round_ in range(_MAX_ROUNDS):
        if round_ or errors is None:
            errors = schemas.request_errors(action, repaired)
        if not errors:
            return repaired, quirks
        if any(error.validator not in _FIXABLE for error in errors):
            return None
        # Deepest paths first, and among siblings the last first, so removing an item
        # does not shift the paths still to fix.
        errors.sort(key=_fix_order, reverse=True)
        try:
            fixed = [_fix(repaired, error) for error in errors]
        except _Fatal:
            return None
        if all(kind == "tolerated" for kind in fixed):
            # Only harmless leftovers (such as an empty meter value list): the handlers
            # cope with them, and refusing would lose the rest of the message.
            return repaired, quirks
        quirks.extend(kind for kind in fixed if kind != "tolerated")
    return None


def _fix_order(error: ValidationError) -> tuple[int, tuple[tuple[int, int | str], ...]]:
    """Sort key: depth, then the path with list indexes comparable among themselves."""
    path = tuple(
        (0, part) if isinstance(part, int) else (1, str(part)) for part in error.absolute_path
    )
    return len(path), path


def _container(root: Any, path: list[Any]) -> Any:
    node = root
    for part in path:
        node = node[part]
    return node


def _fix(root: dict[str, Any], error: ValidationError) -> str:
    path = list(error.absolute_path)
    instance = error.instance
    match error.validator:
        case "type":
            return _fix_type(root, path, instance, error.validator_value)
        case "maxLength" if isinstance(instance, str) and path:
            _set(root, path, instance[: int(error.validator_value)])
            return "overlong_string"
        case "enum" if path:
            return _fix_enum(root, path, instance)
        case "additionalProperties" if isinstance(instance, MutableMapping):
            allowed = set(error.schema.get("properties", {}))
            for key in [key for key in instance if key not in allowed]:
                del instance[key]
            return "unknown_field"
        case "minItems" if path and path[-1] in ("sampledValue", "meterValue"):
            return _drop_empty_sampled_value(root, path)
    raise _Fatal(error.message)


def _fix_type(root: dict[str, Any], path: list[Any], instance: Any, expected: Any) -> str:
    wanted = {expected} if isinstance(expected, str) else set(expected)
    if not path:
        raise _Fatal("the payload has the wrong type")
    if isinstance(instance, str) and wanted & {"number", "integer"}:
        try:
            number = float(instance.strip())
        except ValueError as err:
            raise _Fatal(instance) from err
        if "integer" in wanted and "number" not in wanted:
            if not number.is_integer():
                raise _Fatal(instance)
            _set(root, path, int(number))
        else:
            _set(root, path, number)
        return "numeric_string"
    if isinstance(instance, (int, float)) and not isinstance(instance, bool) and "string" in wanted:
        _set(root, path, str(instance))
        return "number_as_string"
    if isinstance(instance, float) and instance.is_integer() and "integer" in wanted:
        _set(root, path, int(instance))
        return "float_as_integer"
    raise _Fatal(f"wrong type at {path}")


def _fix_enum(root: dict[str, Any], path: list[Any], instance: Any) -> str:
    field = path[-1]
    parent = _container(root, path[:-1])
    if field == "errorCode" and isinstance(parent, MutableMapping):
        # 1.6 StatusNotification: keep the charger's own code where vendors put theirs.
        parent["errorCode"] = "OtherError"
        if not parent.get("vendorErrorCode"):
            parent["vendorErrorCode"] = str(instance)[:50]
        return "unknown_error_code"
    if field in _DROPPABLE_ENUM_FIELDS and isinstance(parent, MutableMapping):
        del parent[field]
        return f"unknown_{field}"
    if field == "measurand" and len(path) >= 2:
        # A measurand the protocol does not know: that one value cannot be placed.
        holder = _container(root, path[:-2])
        if isinstance(holder, MutableSequence):
            del holder[path[-2]]
            return "unknown_measurand"
    raise _Fatal(f"unknown value {instance!r} for {field}")


def _drop_empty_sampled_value(root: dict[str, Any], path: list[Any]) -> str:
    if path[-1] == "meterValue":
        return "tolerated"
    # .../meterValue/<i>/sampledValue is empty: drop that meter value.
    meter_values = _container(root, path[:-2])
    if isinstance(meter_values, MutableSequence):
        del meter_values[path[-2]]
        return "empty_sampled_value"
    raise _Fatal("empty sampledValue")


def _set(root: dict[str, Any], path: list[Any], value: Any) -> None:
    _container(root, path[:-1])[path[-1]] = value
