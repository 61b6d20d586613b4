"""The vocabulary of OCPP-J remote procedure calls: message types, error codes, answers.

What the RPC layer (`rpc`) and the version adapters that answer through it share: the
types a handler takes and gives, the outcome of a CALL of ours, the hooks a connection
tells, and which CALLERROR code names a payload's break of its schema. No behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

MSG_CALL = 2
MSG_CALLRESULT = 3
MSG_CALLERROR = 4
# OCPP 2.1 only: an error about a CALLRESULT, and a CALL that expects no answer.
MSG_CALLRESULTERROR = 5
MSG_SEND = 6


class ErrorCode(StrEnum):
    """CALLERROR codes of OCPP-J 1.6 and 2.x."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"  # 1.6 spelling
    FORMAT_VIOLATION = "FormatViolation"  # 2.x spelling
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # 1.6 spelling
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"  # 2.x spelling
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"  # 2.x only
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"  # 2.x only
    GENERIC_ERROR = "GenericError"


# The JSON-schema keywords whose break a constraint-violation code names exactly; any
# other break of a payload is a format (1.6: formation) violation.
_TYPE_KEYWORDS = frozenset({"type"})
_OCCURRENCE_KEYWORDS = frozenset({"required", "minItems", "maxItems"})
_PROPERTY_KEYWORDS = frozenset(
    {
        "enum",
        "const",
        "maxLength",
        "minLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "format",
    }
)


def violation_code(keyword: str, *, is_16: bool) -> ErrorCode:
    """The CALLERROR code for a payload that breaks its schema at `keyword`."""
    if keyword in _TYPE_KEYWORDS:
        return ErrorCode.TYPE_CONSTRAINT_VIOLATION
    if keyword in _OCCURRENCE_KEYWORDS:
        return (
            ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
            if is_16
            else ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
        )
    if keyword in _PROPERTY_KEYWORDS:
        return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    # Any other break is one of the payload's format (1.6: formation).
    return ErrorCode.FORMATION_VIOLATION if is_16 else ErrorCode.FORMAT_VIOLATION


class CallError(Exception):
    """Raised by a handler to answer the charger's CALL with a CALLERROR."""

    def __init__(
        self, code: ErrorCode, description: str = "", details: dict[str, Any] | None = None
    ) -> None:
        """Describe the error to send."""
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


@dataclass(slots=True)
class Reply:
    """A handler's answer: the CALLRESULT payload and optional follow-up work."""

    payload: dict[str, Any]
    after: Callable[[], Awaitable[None]] | None = None


Handler = Callable[[dict[str, Any]], Reply | Awaitable[Reply]]

# Told of every CALL the other side sent that we answered with a CALLRESULT, once the
# answer is on the wire: (action, the request as checked and repaired, our answer).
AnsweredHook = Callable[[str, dict[str, Any], dict[str, Any]], None]

# Told how every CALL of ours ended: (action, the request sent, its outcome).
OutcomeHook = Callable[[str, dict[str, Any], "CallOutcome"], None]


class Dispatcher(Protocol):
    """Finds the handler for a CALL the charger sent."""

    def handler_for(self, action: str) -> Handler | None:
        """The handler of `action`, or None when this side does not handle it."""

    def accept_quirks(self, action: str, quirks: list[str]) -> None:
        """A request of `action` bent its schema in these known ways and was accepted."""

    def refused(self, action: str, kind: str) -> None:
        """A frame (a CALL of `action`, or an answer to one) was refused for `kind`."""


class WebSocketLike(Protocol):
    """The part of a WebSocket connection this layer uses."""

    async def send(self, message: str) -> None:
        """Send one text frame."""

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Iterate over received frames until the connection closes."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection."""


class OutcomeStatus(StrEnum):
    """How an outgoing CALL ended."""

    RESULT = "result"
    ERROR = "error"
    TIMEOUT = "timeout"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The end of an outgoing CALL: its result payload or why there is none."""

    status: OutcomeStatus
    payload: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_description: str = ""
