"""Tags under an upstream that counts: local tags first, then the upstream.

Under `SESSIONS_AND_AUTH`, and under `FULL` (which adds commands to it), a tag our own
authorizer does not know (`AuthorizationDecision.known` False: not registered, and not
a tag of our own remote starts) is put to the charger's upstream before we answer the
charger: an Authorize with the same idTag / idToken on the link's own connection, and
the charger is answered with the upstream's status. Asked for: the charger's Authorize,
1.6 StartTransaction, and 2.x TransactionEvent with an idToken (but an Ended one).

This is the one case where the upstream delays our answer to the charger: only for a
tag we do not know, only under those policies, and at most `AUTHORIZE_TIMEOUT_S` (5 s,
well within the time a charger waits for an answer; its connection reads its next
message after that). An upstream not connected is not waited for, and one that is
silent, answers a CALLERROR or something unreadable leaves our own decision (for an
unknown tag: Accepted in accept-all mode, else refused). A tag we know never waits.

The upstream is asked only once it accepted our BootNotification on its connection
(before that it may not know us). An upstream's answer is remembered for `REMEMBER_S`
(at most `MAX_REMEMBERED` tags, each with its 2.x token type: an ISO14443 card and an
eMAID of the same number are different tokens), so the start that follows an Authorize
does not ask again; and the charger's own Authorize that the upstream was just asked
about is not relayed to it a second time. An ask that brought no answer is remembered
too, for `FAILED_REMEMBER_S`: an upstream that is connected but silent costs a tag at
most one wait of `AUTHORIZE_TIMEOUT_S` in that time, not one per message.

The upstream's word on sessions (`refused_session`): it answers every relayed 1.6
StartTransaction with an idTagInfo and every 2.x TransactionEvent with an idToken with
an idTokenInfo. When that is not Accepted, a session that still runs, that we accepted,
and whose start tag we do not know is stopped (by the central system; see
`upstream_bridge`). A session started with a tag we know is ours: the upstream's word
does not end it. ConcurrentTx is no refusal of a session: the upstream only says it
thinks the tag is busy elsewhere (a start it was told of before, or another charger).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .authorization import (
    DEFAULT_TOKEN_TYPE,
    AuthorizationDecision,
    AuthorizationStatus,
    tag_key,
)
from .log_budget import LogBudget
from .ocppj import parse_time
from .rpc_types import CallOutcome, OutcomeStatus
from .station import OcppVersion
from .upstream_settings import CommandPolicy

_LOGGER = logging.getLogger(__name__)

AUTHORIZE_TIMEOUT_S = 5.0
REMEMBER_S = 60.0
# How long an ask that brought no answer (silence, an error) keeps the next ones away.
FAILED_REMEMBER_S = 60.0
MAX_REMEMBERED = 64

_LOG_BUDGET = LogBudget(per_source=5, overall=60, period_s=600.0)
# The upstream's statuses, both versions; one we do not have (NoCredit,
# NotAllowedTypeEVSE, NotAtThisTime) refuses as Invalid.
_STATUS = {
    "Accepted": AuthorizationStatus.ACCEPTED,
    "Blocked": AuthorizationStatus.BLOCKED,
    "Expired": AuthorizationStatus.EXPIRED,
    "Invalid": AuthorizationStatus.INVALID,
    "Unknown": AuthorizationStatus.UNKNOWN,
    "NotAtThisLocation": AuthorizationStatus.NOT_AT_THIS_LOCATION,
    "ConcurrentTx": AuthorizationStatus.CONCURRENT_TX,
}

# Sends a CALL of our own on the link's connection: (action, payload, timeout).
Ask = Callable[[str, dict[str, Any], float], Awaitable[CallOutcome]]


def honours_upstream(policy: CommandPolicy) -> bool:
    """Whether the upstream's authorizations and verdicts on sessions count."""
    return policy is not CommandPolicy.MIRROR_ONLY


@dataclass(slots=True)
class _Remembered:
    at: float
    decision: AuthorizationDecision | None  # None: the ask brought no answer
    # Whether the charger's own Authorize of this tag is still to be held back.
    hold_relay: bool


class UpstreamAuthorization:
    """One charger's upstream as the second word on tags (see the module docstring)."""

    def __init__(
        self,
        charger_id: str,
        version: OcppVersion,
        ask: Ask,
        connected: Callable[[], bool],
        *,
        timeout: float = AUTHORIZE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Ask through `ask` while `connected()` (the upstream accepted our boot).

        `clock` is for tests.
        """
        self.version = version
        self._ask = ask
        self._connected = connected
        self._timeout = timeout
        self._clock = clock
        self._remembered: OrderedDict[tuple[str, str | None], _Remembered] = OrderedDict()
        self._label = f"Upstream of charger {charger_id}"
        # How often the upstream was asked, and how often its answer was missing.
        self.asked = 0
        self.fell_back = 0

    @property
    def ready(self) -> bool:
        """Whether the upstream would be asked now: connected, and it accepted our boot."""
        return self._connected()

    def decide(
        self, id_tag: str, token_type: str | None, local: AuthorizationDecision
    ) -> AuthorizationDecision | Awaitable[AuthorizationDecision]:
        """The decision to answer: ours, a remembered answer, or the upstream's (awaited)."""
        if local.known:
            return local
        remembered = self._recall(self._key(id_tag, token_type))
        if remembered is not None:
            return local if remembered.decision is None else remembered.decision
        if not self._connected():
            return local
        return self._ask_upstream(id_tag, token_type, local)

    def holds_relay(self, request: dict[str, Any]) -> bool:
        """Whether a charger's Authorize is not to be relayed: the upstream was just asked.

        Holds back one Authorize per answer.
        """
        id_tag, token_type = _presented_tag(self.version, request)
        remembered = self._recall(self._key(id_tag, token_type)) if id_tag is not None else None
        if remembered is None or not remembered.hold_relay:
            return False
        remembered.hold_relay = False
        return True

    async def _ask_upstream(
        self, id_tag: str, token_type: str | None, local: AuthorizationDecision
    ) -> AuthorizationDecision:
        self.asked += 1
        if self.version.is_2x:
            request: dict[str, Any] = {
                "idToken": {"idToken": id_tag, "type": token_type or DEFAULT_TOKEN_TYPE}
            }
        else:
            request = {"idTag": id_tag}
        outcome = await self._ask("Authorize", request, self._timeout)
        decision = None
        if outcome.status is OutcomeStatus.RESULT:
            decision = _decision(self.version, outcome.payload)
        key = self._key(id_tag, token_type)
        if decision is None:
            self._remember(key, None)
            self.fell_back += 1
            self._log(
                "%s: no answer on tag %s (%s %s); our own decision stands: %s",
                self._label,
                id_tag,
                outcome.status,
                outcome.error_code or "",
                local.status,
            )
            return local
        self._remember(key, decision)
        return decision

    def _key(self, id_tag: str, token_type: str | None) -> tuple[str, str | None]:
        """A remembered answer's key: the tag, and its 2.x token type."""
        if not self.version.is_2x:
            return tag_key(id_tag), None
        return tag_key(id_tag), token_type or DEFAULT_TOKEN_TYPE

    def _recall(self, key: tuple[str, str | None]) -> _Remembered | None:
        remembered = self._remembered.get(key)
        if remembered is None:
            return None
        kept = REMEMBER_S if remembered.decision is not None else FAILED_REMEMBER_S
        if self._clock() - remembered.at >= kept:
            del self._remembered[key]
            return None
        return remembered

    def _remember(
        self, key: tuple[str, str | None], decision: AuthorizationDecision | None
    ) -> None:
        # A failed ask was not answered: the charger's Authorize still goes upstream.
        held = decision is not None
        self._remembered[key] = _Remembered(self._clock(), decision, hold_relay=held)
        self._remembered.move_to_end(key)
        while len(self._remembered) > MAX_REMEMBERED:
            self._remembered.popitem(last=False)

    def _log(self, message: str, *args: Any) -> None:
        if _LOG_BUDGET.take(self._label) is not None:
            _LOGGER.info(message, *args)


def _presented_tag(version: OcppVersion, request: dict[str, Any]) -> tuple[str | None, str | None]:
    """The tag an Authorize presents, and its 2.x token type."""
    token_type = None
    if version.is_2x:
        token = request.get("idToken")
        tag = token.get("idToken") if isinstance(token, dict) else None
        kind = token.get("type") if isinstance(token, dict) else None
        token_type = kind if isinstance(kind, str) else None
    else:
        tag = request.get("idTag")
    return (tag if isinstance(tag, str) else None), token_type


def _decision(version: OcppVersion, answer: dict[str, Any]) -> AuthorizationDecision | None:
    """The upstream's idTagInfo / idTokenInfo as a decision (None: there is none)."""
    info = answer.get("idTokenInfo" if version.is_2x else "idTagInfo")
    if not isinstance(info, dict) or not isinstance(info.get("status"), str):
        return None
    if version.is_2x:
        group = info.get("groupIdToken")
        parent = group.get("idToken") if isinstance(group, dict) else None
        expiry = parse_time(info.get("cacheExpiryDateTime"))
    else:
        parent = info.get("parentIdTag")
        expiry = parse_time(info.get("expiryDate"))
    return AuthorizationDecision(
        _STATUS.get(info["status"], AuthorizationStatus.INVALID),
        parent_id=parent if isinstance(parent, str) and parent else None,
        expiry=expiry,
    )


@dataclass(frozen=True, slots=True)
class RefusedSession:
    """The upstream did not accept the tag of a session it was told of.

    The session is named by the charger's 2.x `transaction_id`, or by the 1.6 start it
    came from (`start`: connectorId, idTag and timestamp, as `Station.recent_starts`
    keys them).
    """

    id_tag: str
    token_type: str | None
    status: str
    transaction_id: str | None = None
    start: tuple[int, str, str] | None = None


def refused_session(
    action: str, request: dict[str, Any], outcome: CallOutcome
) -> RefusedSession | None:
    """The session the upstream refused in its answer to a relayed message, if any."""
    if outcome.status is not OutcomeStatus.RESULT:
        return None
    if action == "StartTransaction":
        return _refused_start(request, _status_in(outcome.payload.get("idTagInfo")))
    if action == "TransactionEvent" and request.get("eventType") != "Ended":
        return _refused_event(request, _status_in(outcome.payload.get("idTokenInfo")))
    return None


def _refused_start(request: dict[str, Any], status: str | None) -> RefusedSession | None:
    id_tag, connector = request.get("idTag"), request.get("connectorId")
    if status is None or not isinstance(id_tag, str) or not isinstance(connector, int):
        return None
    start = (connector, id_tag, str(request.get("timestamp")))
    return RefusedSession(id_tag, None, status, start=start)


def _refused_event(request: dict[str, Any], status: str | None) -> RefusedSession | None:
    token, info = request.get("idToken"), request.get("transactionInfo")
    if status is None or not isinstance(token, dict) or not isinstance(info, dict):
        return None
    id_tag, transaction_id = token.get("idToken"), info.get("transactionId")
    if not isinstance(id_tag, str) or not isinstance(transaction_id, str):
        return None
    token_type = token.get("type")
    return RefusedSession(
        id_tag,
        token_type if isinstance(token_type, str) else None,
        status,
        transaction_id=transaction_id,
    )


# Not a refusal of the session (see the module docstring).
_NOT_REFUSALS = frozenset({"Accepted", "ConcurrentTx"})


def _status_in(info: Any) -> str | None:
    """An idTagInfo's / idTokenInfo's status when it refuses the session."""
    status = info.get("status") if isinstance(info, dict) else None
    return status if isinstance(status, str) and status not in _NOT_REFUSALS else None
