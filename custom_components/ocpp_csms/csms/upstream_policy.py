"""What a charger's upstream may have it do: the upstream's CALLs under its `CommandPolicy`.

One `CommandGate` per upstream connection is the dispatcher of the CALLs the upstream
sends us (see `upstream`). A CALL the policy permits goes on to the charger over the
charger's live connection as it came (the upstream speaks the charger's version: there
is nothing to translate), and the charger's answer, or its CALLERROR, goes back under
the upstream's message id. The rest never reaches the charger: answered Rejected where
that message's answer has such a status, else NotSupported (an action OCPP does not
have is NotImplemented, from the RPC layer).

What a policy permits (`permitted_commands`), always within the commands a central
system may send a charger of that version (`upstream_commands`):
- MIRROR_ONLY: nothing;
- SESSIONS_AND_AUTH: starting and stopping sessions (`SESSION_COMMANDS`);
- FULL: the settings' allow-list (`UpstreamSettings.allowed_commands`).

Bounded: `MAX_IN_FLIGHT` (one) permitted command at a time reaches the charger. The
upstream's connection reads on meanwhile (its `RpcConnection` answers in the
background) and answers a further command at once with a GenericError ("busy"), so an
upstream that floods us costs the charger one command at a time, never a queue.

What a permitted command may not smuggle in:
- a RemoteStartTransaction / RequestStartTransaction's `chargingProfile` is taken out
  unless SetChargingProfile is itself permitted (a TxProfile would override our
  balancing); the session still starts, under our limits;
- a TriggerMessage / ExtendedTriggerMessage for a certificate signing request is
  answered Rejected unless CertificateSigned is permitted (the charger's request would
  have our CA sign and install a new certificate);
- under SESSIONS_AND_AUTH, a RemoteStopTransaction / RequestStopTransaction of a
  session started with a tag we know is answered Rejected: such a session is ours (see
  `upstream_authorization`). Under FULL the user granted the upstream that too.

1.6 transaction ids: the upstream knows our sessions by the ids it gave them (in its
answers to the StartTransactions we relayed). A RemoteStopTransaction or
SetChargingProfile naming one goes to the charger with ours instead; one naming an id
we cannot map is answered Rejected and not passed on (the number could be one of ours,
of another session). 2.x transaction ids are the charger's own: nothing to map.

Every command is logged within a budget and reported as an `UpstreamCommand` (through
`set_upstream`'s `on_command`): each one that reached the charger, and of those that
did not at most `REPORTS_PER_MINUTE` a minute per charger (a flood is counted in the
link's status, not reported one by one).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from .log_budget import LogBudget, shorten
from .rpc_types import CallError, CallOutcome, ErrorCode, Handler, OutcomeStatus, Reply
from .schemas import VersionSchemas
from .station import OcppVersion
from .upstream_settings import (
    SESSION_COMMANDS,
    CommandPolicy,
    UpstreamSettings,
    upstream_commands,
)

_LOGGER = logging.getLogger(__name__)

# How many of the upstream's commands may be on their way to the charger at once.
MAX_IN_FLIGHT = 1
# How many `UpstreamCommand` reports one charger's upstream may cause per minute.
REPORTS_PER_MINUTE = 20

_LOG_BUDGET = LogBudget(per_source=10, overall=60, period_s=600.0)
_REJECTED = {"status": "Rejected"}
# 1.6 commands that may name one of our transactions, and the object that holds its id
# (None: the payload itself).
_TRANSACTION_HOLDERS_16: dict[str, str | None] = {
    "RemoteStopTransaction": None,
    "SetChargingProfile": "csChargingProfiles",
}
_STARTS = frozenset({"RemoteStartTransaction", "RequestStartTransaction"})
_STOPS = frozenset({"RemoteStopTransaction", "RequestStopTransaction"})
_TRIGGERS = frozenset({"TriggerMessage", "ExtendedTriggerMessage"})
# What a trigger may ask for only when CertificateSigned is permitted: each has the
# charger send a signing request, which our CA answers with a certificate it installs.
_SIGN_REQUESTS = frozenset(
    {
        "SignChargePointCertificate", "SignChargingStationCertificate",
        "SignV2GCertificate", "SignCombinedCertificate",
    }
)  # fmt: skip


class CommandOutcome(StrEnum):
    """How one of the upstream's commands ended (`UpstreamCommand.detail` says more)."""

    FORWARDED = "forwarded"  # the charger answered; detail: its status, if any
    CHARGER_ERROR = "charger_error"  # the charger answered a CALLERROR; detail: its code
    TIMED_OUT = "timed_out"  # the charger did not answer in time
    OFFLINE = "offline"  # the charger is not connected (or not admitted)
    REFUSED = "refused"  # the policy forbids it; detail: "Rejected" or "NotSupported"
    BUSY = "busy"  # another of the upstream's commands was still with the charger
    UNKNOWN_TRANSACTION = "unknown_transaction"  # a 1.6 transaction id we cannot map

    @property
    def reached_charger(self) -> bool:
        """Whether the command was sent to the charger."""
        return self in _REACHED_CHARGER


_REACHED_CHARGER = frozenset(
    {CommandOutcome.FORWARDED, CommandOutcome.CHARGER_ERROR, CommandOutcome.TIMED_OUT}
)


@dataclass(frozen=True, slots=True)
class UpstreamCommand:
    """A command a charger's upstream sent: whether the policy let it through, and how it ended."""

    charger_id: str
    action: str
    allowed: bool
    outcome: CommandOutcome
    detail: str = ""


# Sends a CALL over the charger's live connection: (action, payload, timeout).
ChargerCall = Callable[[str, dict[str, Any], float], Awaitable[CallOutcome]]


class ChargerAccess(Protocol):
    """What links reach of the chargers they forward (the central system provides it)."""

    async def call_charger(
        self,
        charger_id: str,
        version: OcppVersion,
        action: str,
        payload: dict[str, Any],
        timeout: float,
    ) -> CallOutcome:
        """Send the upstream's CALL over the charger's live connection (OFFLINE: none)."""

    def upstream_answered(
        self, charger_id: str, action: str, request: dict[str, Any], outcome: CallOutcome
    ) -> None:
        """The upstream answered a CALL the link sent it (see `upstream_authorization`)."""

    def started_with_known_tag(self, charger_id: str, transaction_id: str) -> bool:
        """Whether the charger's session (our id) started with a tag we know."""


def permitted_commands(settings: UpstreamSettings) -> frozenset[str]:
    """The upstream's commands that reach the charger under `settings`."""
    match settings.policy:
        case CommandPolicy.FULL:
            wanted = settings.allowed_commands
        case CommandPolicy.SESSIONS_AND_AUTH:
            wanted = SESSION_COMMANDS
        case _:
            wanted = frozenset()
    return frozenset(wanted) & frozenset(upstream_commands(settings.version))


def bounded_reports(
    report: Callable[[UpstreamCommand], None], *, per_minute: int = REPORTS_PER_MINUTE
) -> Callable[[UpstreamCommand], None]:
    """`report` with at most `per_minute` a minute of the commands that did not reach the charger.

    Those that did are bounded already (one at a time, each waits for the charger) and
    always passed on.
    """
    budget = LogBudget(per_source=per_minute, overall=per_minute, period_s=60.0, max_sources=1)

    def bounded(command: UpstreamCommand) -> None:
        if command.outcome.reached_charger or budget.take(command.charger_id) is not None:
            report(command)

    return bounded


class CommandGate:
    """The dispatcher of one upstream connection's CALLs (see the module docstring)."""

    def __init__(
        self,
        charger_id: str,
        settings: UpstreamSettings,
        schemas: VersionSchemas,
        *,
        charger: ChargerCall | None,
        our_transaction: Callable[[str], str | None],
        refused: Callable[[str], None],
        report: Callable[[UpstreamCommand], None] | None,
        timeout: float,
        ours: Callable[[str], bool] | None = None,
    ) -> None:
        """Gate for `settings`; without a `charger` to call, nothing is permitted.

        `ours` tells whether a session (the charger's id) started with a tag we know.
        """
        self._charger_id = charger_id
        self._policy = settings.policy
        self._schemas = schemas
        self._charger = charger
        self._permitted = permitted_commands(settings) if charger is not None else frozenset()
        self._our_transaction = our_transaction
        self._refused = refused
        self._report = report
        self._timeout = timeout
        # Under SESSIONS_AND_AUTH a session started with a tag we know is not the
        # upstream's to stop; under FULL the user granted it.
        self._ours = ours if settings.policy is CommandPolicy.SESSIONS_AND_AUTH else None
        self._is_16 = not settings.version.is_2x
        self._label = f"Upstream of charger {charger_id}"
        self._in_flight = 0

    # -- Dispatcher ---------------------------------------------------------------------

    def handler_for(self, action: str) -> Handler | None:
        """Refuse what the policy forbids; pass the rest on, one at a time."""
        if action not in self._permitted:
            self._refused(action)
            rejected = self._schemas.response_problem(action, _REJECTED) is None
            detail = "Rejected" if rejected else ErrorCode.NOT_SUPPORTED
            self._tell(action, False, CommandOutcome.REFUSED, detail)
            return _reject if rejected else None  # None: the RPC layer answers NotSupported
        if self._in_flight >= MAX_IN_FLIGHT:
            self._refused(action)
            self._tell(action, True, CommandOutcome.BUSY)
            return _busy
        return functools.partial(self._start, action)

    def accept_quirks(self, action: str, quirks: list[str]) -> None:
        """Nothing to count: the upstream is not a charger."""

    def refused(self, action: str, kind: str) -> None:
        """Nothing to count: the RPC layer logs a refused frame."""

    # -- passing a command on -----------------------------------------------------------

    def _start(self, action: str, payload: dict[str, Any]) -> Reply | Awaitable[Reply]:
        """Runs once the payload passed its schema: map ids, then send (in the background)."""
        mapped = self._with_our_transaction(action, payload) if self._is_16 else payload
        if mapped is None:
            self._refused(action)
            self._tell(action, True, CommandOutcome.UNKNOWN_TRANSACTION)
            return Reply(dict(_REJECTED))
        if self._smuggles(action, mapped):
            self._refused(action)
            self._tell(action, False, CommandOutcome.REFUSED, "Rejected")
            return Reply(dict(_REJECTED))
        if action in _STARTS and "SetChargingProfile" not in self._permitted:
            # A TxProfile of the upstream's would override our balancing: started without.
            mapped = {key: value for key, value in mapped.items() if key != "chargingProfile"}
        # Counted here, not in `handler_for`: a CALL that fails its schema never gets here.
        self._in_flight += 1
        return self._forward(action, mapped)

    async def _forward(self, action: str, payload: dict[str, Any]) -> Reply:
        assert self._charger is not None  # nothing is permitted without one
        try:
            outcome = await self._charger(action, payload, self._timeout)
        finally:
            self._in_flight -= 1
        match outcome.status:
            case OutcomeStatus.RESULT:
                status = outcome.payload.get("status")
                detail = status if isinstance(status, str) else ""
                self._tell(action, True, CommandOutcome.FORWARDED, detail)
                return Reply(outcome.payload)
            case OutcomeStatus.ERROR:
                code = outcome.error_code or ErrorCode.GENERIC_ERROR
                self._tell(action, True, CommandOutcome.CHARGER_ERROR, code)
                raise CallError(_error_code(code), shorten(outcome.error_description, 200))
            case OutcomeStatus.TIMEOUT:
                self._tell(action, True, CommandOutcome.TIMED_OUT)
                raise CallError(ErrorCode.GENERIC_ERROR, "The charger did not answer in time")
        self._tell(action, True, CommandOutcome.OFFLINE)
        raise CallError(ErrorCode.GENERIC_ERROR, "The charger is not connected")

    def _smuggles(self, action: str, payload: dict[str, Any]) -> bool:
        """Whether a permitted command asks for what the policy forbids (module docstring)."""
        if action in _TRIGGERS:
            return (
                payload.get("requestedMessage") in _SIGN_REQUESTS
                and "CertificateSigned" not in self._permitted
            )
        if action in _STOPS and self._ours is not None:
            return self._ours(str(payload.get("transactionId")))
        return False

    def _with_our_transaction(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The payload with our 1.6 transaction id for the upstream's (None: not ours)."""
        if action not in _TRANSACTION_HOLDERS_16:
            return payload
        key = _TRANSACTION_HOLDERS_16[action]
        holder = payload if key is None else payload.get(key)
        if not isinstance(holder, dict) or "transactionId" not in holder:
            return payload
        ours = self._our_transaction(str(holder["transactionId"]))
        if ours is None or not ours.isdigit():
            return None
        mapped = holder | {"transactionId": int(ours)}
        return mapped if key is None else payload | {key: mapped}

    # -- telling ------------------------------------------------------------------------

    def _tell(self, action: str, allowed: bool, outcome: CommandOutcome, detail: str = "") -> None:
        if (left_out := _LOG_BUDGET.take(self._label)) is not None:
            _LOGGER.info(
                "%s: its %s %s%s (policy %s)%s",
                self._label,
                action,
                outcome.value.replace("_", " "),
                f": {shorten(detail, 50)}" if detail else "",
                self._policy,
                f" ({left_out} similar lines left out)" if left_out else "",
            )
        if self._report is None:
            return
        try:
            self._report(UpstreamCommand(self._charger_id, action, allowed, outcome, detail))
        except Exception:
            # A listener's failure must not cost the upstream its answer.
            if _LOG_BUDGET.take(self._label) is not None:
                _LOGGER.exception("%s: reporting its %s failed", self._label, action)


def _reject(_payload: dict[str, Any]) -> Reply:
    return Reply(dict(_REJECTED))


def _busy(_payload: dict[str, Any]) -> Reply:
    raise CallError(
        ErrorCode.GENERIC_ERROR, "Busy: another command of yours is still with the charger"
    )


def _error_code(code: str) -> ErrorCode:
    """The charger's CALLERROR code as ours; one OCPP does not have is GenericError."""
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.GENERIC_ERROR
