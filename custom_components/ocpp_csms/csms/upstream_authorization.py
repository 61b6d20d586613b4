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

An upstream's answer is remembered for `REMEMBER_S` (at most `MAX_REMEMBERED` tags),
so the start that follows an Authorize does not ask again; and the charger's own
Authorize that the upstream was just asked about is not relayed to it a second time.

The upstream's word on sessions (`refused_session`): it answers every relayed 1.6
StartTransaction with an idTagInfo and every 2.x TransactionEvent with an idToken with
an idTokenInfo. When that is not Accepted, a session that still runs, that we accepted,
and whose tag we do not know is stopped (by the central system; see `upstream_bridge`).
A session started with a tag we know is ours: the upstream's word does not end it.
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
from .rpc import CallOutcome, OutcomeStatus
from .station import OcppVersion
from .upstream_settings import CommandPolicy

_LOGGER = logging.getLogger(__name__)

AUTHORIZE_TIMEOUT_S = 5.0
REMEMBER_S = 60.0
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
    decision: AuthorizationDecision
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
        """Ask through `ask` while `connected()`; `clock` is for tests."""
        self.version = version
        self._ask = ask
        self._connected = connected
        self._timeout = timeout
        self._clock = clock
        self._remembered: OrderedDict[str, _Remembered] = OrderedDict()
        self._label = f"Upstream of charger {charger_id}"
        # How often the upstream was asked, and how often its answer was missing.
        self.asked = 0
        self.fell_back = 0

    def decide(
        self, id_tag: str, token_type: str | None, local: AuthorizationDecision
    ) -> AuthorizationDecision | Awaitable[AuthorizationDecision]:
        """The decision to answer: ours, a remembered answer, or the upstream's (awaited)."""
        if local.known:
            return local
        remembered = self._recall(tag_key(id_tag))
        if remembered is not None:
            return remembered.decision
        if not self._connected():
            return local
        return self._ask_upstream(id_tag, token_type, local)

    def holds_relay(self, request: dict[str, Any]) -> bool:
        """Whether a charger's Authorize is not to be relayed: the upstream was just asked.

        Holds back one Authorize per answer.
        """
        id_tag = _presented_tag(self.version, request)
        remembered = self._recall(tag_key(id_tag)) if id_tag is not None else None
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
        if decision is None:
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
        self._remember(tag_key(id_tag), decision)
        return decision

    def _recall(self, key: str) -> _Remembered | None:
        remembered = self._remembered.get(key)
        if remembered is None:
            return None
        if self._clock() - remembered.at >= REMEMBER_S:
            del self._remembered[key]
            return None
        return remembered

    def _remember(self, key: str, decision: AuthorizationDecision) -> None:
        self._remembered[key] = _Remembered(self._clock(), decision, hold_relay=True)
        self._remembered.move_to_end(key)
        while len(self._remembered) > MAX_REMEMBERED:
            self._remembered.popitem(last=False)

    def _log(self, message: str, *args: Any) -> None:
        if _LOG_BUDGET.take(self._label) is not None:
            _LOGGER.info(message, *args)


def _presented_tag(version: OcppVersion, request: dict[str, Any]) -> str | None:
    """The tag an Authorize presents."""
    if version.is_2x:
        token = request.get("idToken")
        tag = token.get("idToken") if isinstance(token, dict) else None
    else:
        tag = request.get("idTag")
    return tag if isinstance(tag, str) else None


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


def _status_in(info: Any) -> str | None:
    """An idTagInfo's / idTokenInfo's status when it is not Accepted."""
    status = info.get("status") if isinstance(info, dict) else None
    return status if isinstance(status, str) and status != "Accepted" else None
