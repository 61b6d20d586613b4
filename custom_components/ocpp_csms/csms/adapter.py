"""What every protocol-version adapter shares.

An adapter links one connected station, its RPC conversation and the central system
that hosts it.

A version adapter (`ocpp16`, `ocpp201`) is the only place that knows message names and
field spellings. It turns the charger's messages into changes of the `Station` model
and reports them to its `StationHost`; it turns commands ("start on connector 1") into
CALLs and their answers into a `CommandResult`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from .rpc import CallError, CallOutcome, ErrorCode, Handler, OutcomeStatus, Reply, RpcConnection
from .schemas import VersionSchemas
from .station import BootInfo, OcppVersion, RegistrationStatus, Station

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BootDecision:
    """The central system's answer to a boot: the status and the retry/heartbeat interval."""

    status: RegistrationStatus
    interval: int


class StationHost(Protocol):
    """What an adapter asks of the central system."""

    def decide_boot(self, station: Station) -> BootDecision:
        """Decide the answer to a BootNotification whose details are on `station`."""

    def station_updated(self, station: Station, changed: frozenset[str]) -> None:
        """Report that fields named in `changed` of `station` changed."""


class CommandStatus(StrEnum):
    """How a command to a charger ended, whatever the protocol version."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_SUPPORTED = "not_supported"
    TIMED_OUT = "timed_out"
    OFFLINE = "offline"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The typed end of a command: never an exception, never a hang."""

    status: CommandStatus
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Whether the charger accepted the command."""
        return self.status is CommandStatus.ACCEPTED


# Answers to a CALL that mean "this charger does not do that".
_UNSUPPORTED_ERRORS = frozenset({"NotImplemented", "NotSupported"})


def result_from_outcome(outcome: CallOutcome, accepted: frozenset[str]) -> CommandResult:
    """Map a CALL's outcome with a `status` field onto a `CommandResult`."""
    match outcome.status:
        case OutcomeStatus.TIMEOUT:
            return CommandResult(CommandStatus.TIMED_OUT)
        case OutcomeStatus.OFFLINE:
            return CommandResult(CommandStatus.OFFLINE)
        case OutcomeStatus.ERROR:
            status = (
                CommandStatus.NOT_SUPPORTED
                if outcome.error_code in _UNSUPPORTED_ERRORS
                else CommandStatus.FAILED
            )
            return CommandResult(status, f"{outcome.error_code}: {outcome.error_description}")
    answer = str(outcome.payload.get("status", ""))
    if answer in accepted:
        return CommandResult(CommandStatus.ACCEPTED, answer, outcome.payload)
    if answer in ("NotImplemented", "NotSupported"):
        return CommandResult(CommandStatus.NOT_SUPPORTED, answer, outcome.payload)
    return CommandResult(CommandStatus.REJECTED, answer, outcome.payload)


def utc_now_text() -> str:
    """The current time as OCPP writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StationAdapter(ABC):
    """One connected station speaking one protocol version."""

    version: OcppVersion

    def __init__(
        self,
        station: Station,
        websocket: Any,
        schemas: VersionSchemas,
        host: StationHost,
        *,
        call_timeout: float,
    ) -> None:
        """Wire the adapter to its socket; `serve` runs the conversation."""
        self.station = station
        self._host = host
        self.rpc = RpcConnection(
            websocket, schemas, self, label=f"Charger {station.id}", call_timeout=call_timeout
        )
        self._handlers: dict[str, Handler] = self._build_handlers()

    @abstractmethod
    def _build_handlers(self) -> dict[str, Handler]:
        """Map the actions this version handles to their handlers."""

    def handler_for(self, action: str) -> Handler | None:
        """The handler of a CALL, refusing all but a boot until the station is accepted."""
        if not self.station.accepted and action != "BootNotification":
            return _refuse_until_accepted
        return self._handlers.get(action)

    async def serve(self) -> None:
        """Run the conversation until the socket closes."""
        await self.rpc.serve()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket."""
        await self.rpc.close(code, reason)

    def _touch(self) -> None:
        self.station.last_seen = datetime.now(UTC)

    def _answer_boot(self, info: BootInfo) -> Reply:
        """Record what the station said about itself and answer its boot.

        The payload of the answer is the same in 1.6 and 2.x.
        """
        self._touch()
        self.station.boot = info
        decision = self._host.decide_boot(self.station)
        self.station.registration = decision.status
        self._host.station_updated(self.station, frozenset({"boot", "registration"}))
        return Reply(
            {
                "status": decision.status.value,
                "currentTime": utc_now_text(),
                "interval": decision.interval,
            }
        )

    def _on_heartbeat(self, _payload: dict[str, Any]) -> Reply:
        """Answer a heartbeat; its shape is the same in 1.6 and 2.x."""
        self._touch()
        self._host.station_updated(self.station, frozenset({"last_seen"}))
        return Reply({"currentTime": utc_now_text()})

    async def request_boot_notification(self) -> CommandResult:
        """Ask the charger to send a BootNotification now (same CALL in 1.6 and 2.x)."""
        outcome = await self.rpc.call("TriggerMessage", {"requestedMessage": "BootNotification"})
        return result_from_outcome(outcome, frozenset({"Accepted"}))


def _refuse_until_accepted(_payload: dict[str, Any]) -> Any:
    # OCPP 2.x (B02.FR.09 and friends): before acceptance, anything but a boot is
    # answered with SecurityError. 1.6 leaves it open; the same answer is honest there.
    raise CallError(ErrorCode.SECURITY_ERROR, "The charger is not accepted yet")
