"""JSON-schema validators for every OCPP message, built once and off the event loop.

The `ocpp` library ships the official schemas but reads a schema file from disk the
first time each message is seen and validates in a thread pool. Reading files on the
event loop is not allowed in Home Assistant, and a thread hop per message is costly,
so this module loads every schema of a version in one go (call `load` from an
executor) and validates inline afterwards.

jsonschema takes about 300 µs for a MeterValues with six values, more than everything
else a message costs. The messages chargers send all the time (`HOT_ACTIONS`) are
therefore also compiled to Python with fastjsonschema (about 10 µs). A message that
passes the compiled check is valid; one that fails it is looked at again by jsonschema,
whose detailed errors the quirk repair and the CALLERROR need (computed once per
message: `request_errors`). Formats are not checked by either, as the ocpp library does
not check them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator, validators
from jsonschema.exceptions import ValidationError

from .station import OcppVersion

_SCHEMA_PACKAGES = {
    OcppVersion.V16: "ocpp.v16",
    OcppVersion.V201: "ocpp.v201",
    OcppVersion.V21: "ocpp.v21",
}


# Requests chargers send over and over; compiled for speed (the others are rare).
HOT_ACTIONS = frozenset(
    {
        "Authorize",
        "Heartbeat",
        "MeterValues",
        "NotifyEvent",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "TransactionEvent",
    }
)

type FastValidator = Callable[[Any], Any]

# Unknown keys a schema error names (the repair finds them all itself).
_NAMED_EXTRAS = 3
_ADDITIONAL_PROPERTIES = Draft4Validator.VALIDATORS["additionalProperties"]


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """The `additionalProperties: false` check, naming only the first few unknown keys.

    jsonschema sorts every unknown key and writes each into its message: for an object
    with 10,000 of them, that was most of what refusing or repairing it cost.
    """
    if allowed is not False or "patternProperties" in schema:
        yield from _ADDITIONAL_PROPERTIES(validator, allowed, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    extras = [key for key in instance if key not in known]
    if not extras:
        return
    named = ", ".join(repr(key)[:50] for key in extras[:_NAMED_EXTRAS])
    if len(extras) > _NAMED_EXTRAS:
        named += f" and {len(extras) - _NAMED_EXTRAS} more"
    verb = "was" if len(extras) == 1 else "were"
    yield ValidationError(f"Additional properties are not allowed ({named} {verb} unexpected)")


# Draft4 is what the ocpp library validates with; the schemas declare draft-06 (2.x) or
# draft-04 (1.6), and the keywords they use are common to both.
_Validator = validators.extend(Draft4Validator, {"additionalProperties": _additional_properties})


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """Why a payload does not match its schema."""

    kind: str  # the JSON-schema keyword that failed: "type", "required", "enum", ...
    message: str
    path: str


class VersionSchemas:
    """Request and response validators of one protocol version, keyed by action."""

    def __init__(
        self,
        version: OcppVersion,
        requests: dict[str, Draft4Validator],
        responses: dict[str, Draft4Validator],
        fast_requests: dict[str, FastValidator] | None = None,
    ) -> None:
        """Hold prebuilt validators; use `load` to build them."""
        self.version = version
        self._requests = requests
        self._responses = responses
        self._fast_requests = fast_requests or {}

    @classmethod
    def load(cls, version: OcppVersion) -> VersionSchemas:
        """Read and compile every schema of `version`. Blocking: run in an executor."""
        folder = resources.files(_SCHEMA_PACKAGES[version]).joinpath("schemas")
        requests: dict[str, Draft4Validator] = {}
        responses: dict[str, Draft4Validator] = {}
        fast: dict[str, FastValidator] = {}
        for entry in folder.iterdir():
            name = entry.name
            if not name.endswith(".json"):
                continue
            stem = name.removesuffix(".json")
            # 2.x schemas start with a byte order mark.
            schema = json.loads(entry.read_text(encoding="utf-8-sig"))
            validator = _Validator(schema)
            if stem.endswith("Response"):
                responses[stem.removesuffix("Response")] = validator
            else:
                action = stem.removesuffix("Request")
                requests[action] = validator
                if action in HOT_ACTIONS:
                    fast[action] = fastjsonschema.compile(schema, use_formats=False)
        return cls(version, requests, responses, fast)

    def knows_action(self, action: str) -> bool:
        """Whether `action` is a message of this protocol version."""
        return action in self._requests

    def request_problem(self, action: str, payload: Any) -> SchemaProblem | None:
        """The first problem of a request payload, or None when it is valid."""
        if self._passes_compiled(action, payload):
            return None
        return _first_problem(self._requests[action], payload)

    def request_errors(self, action: str, payload: Any) -> list[ValidationError]:
        """Every schema error of a request payload, in jsonschema's order; none if valid.

        The first is the one `request_problem` names; all of them are what the quirk
        repair works on.
        """
        if self._passes_compiled(action, payload):
            return []
        return list(self._requests[action].iter_errors(payload))

    def _passes_compiled(self, action: str, payload: Any) -> bool:
        """Whether the compiled check (of the hot actions) finds the payload valid."""
        if (fast := self._fast_requests.get(action)) is None:
            return False
        try:
            fast(payload)
        except fastjsonschema.JsonSchemaException:
            return False  # jsonschema says exactly what is wrong
        return True

    def response_problem(self, action: str, payload: Any) -> SchemaProblem | None:
        """The first problem of a response payload, or None when it is valid."""
        return _first_problem(self._responses[action], payload)


def problem_of(error: ValidationError) -> SchemaProblem:
    """What a CALLERROR says about a schema error."""
    path = "/".join(str(part) for part in error.absolute_path)
    return SchemaProblem(kind=str(error.validator), message=error.message, path=path)


def _first_problem(validator: Draft4Validator, payload: Any) -> SchemaProblem | None:
    for error in validator.iter_errors(payload):
        return problem_of(error)
    return None


@functools.cache
def load_all() -> dict[OcppVersion, VersionSchemas]:
    """Load the validators of every supported version. Blocking: run in an executor.

    Loaded once per process (about half a second) and shared: validators are immutable.
    """
    return {version: VersionSchemas.load(version) for version in OcppVersion}
