"""The central system's side of its upstream links: the chargers they reach.

`ChargerBridge` is the `ChargerAccess` the links get (see `upstream_policy`): it sends
an upstream's permitted command over the charger's live connection, and stops a session
the upstream refused (see `upstream_authorization.refused_session`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .adapter import StationAdapter
from .authorization import Authorizer
from .commands import Command, CommandResult, RemoteStop
from .log_budget import LogBudget
from .rpc_types import CallOutcome, ErrorCode, OutcomeStatus
from .station import OcppVersion, Station
from .upstream_authorization import refused_session

_LOGGER = logging.getLogger(__name__)

_LOG_BUDGET = LogBudget(per_source=5, overall=60, period_s=600.0)


class ChargerBridge:
    """What upstream links reach of the central system's chargers."""

    def __init__(
        self,
        connection: Callable[[str], StationAdapter | None],
        authorizer: Callable[[], Authorizer],
        execute: Callable[[str, Command], Awaitable[CommandResult]],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        """Reach chargers through the central system's connections and commands."""
        self._connection = connection
        self._authorizer = authorizer
        self._execute = execute
        self._spawn = spawn

    async def call_charger(
        self,
        charger_id: str,
        version: OcppVersion,
        action: str,
        payload: dict[str, Any],
        timeout: float,
    ) -> CallOutcome:
        """ChargerAccess: the upstream's CALL, as it came, on the charger's connection."""
        connection = self._connection(charger_id)
        if connection is None or not connection.station.accepted:
            return CallOutcome(OutcomeStatus.OFFLINE)
        if connection.version is not version:
            # Connected in another version than its upstream's: no translation.
            return CallOutcome(
                OutcomeStatus.ERROR,
                error_code=ErrorCode.NOT_SUPPORTED,
                error_description=f"The charger speaks {connection.version} now",
            )
        return await connection.rpc.call(action, payload, timeout=timeout)

    def upstream_answered(
        self, charger_id: str, action: str, request: dict[str, Any], outcome: CallOutcome
    ) -> None:
        """ChargerAccess: stop a running session whose unknown tag the upstream refused."""
        refusal = refused_session(action, request, outcome)
        connection = self._connection(charger_id) if refusal is not None else None
        if refusal is None or connection is None:
            return
        station = connection.station
        transaction_id = refusal.transaction_id
        if transaction_id is None and refusal.start is not None:
            transaction_id = station.recent_starts.get(refusal.start)
        transaction = station.transaction(transaction_id) if transaction_id else None
        if transaction is None or not transaction.active or not transaction.authorized:
            return  # over, or refused by us already
        # The session's start tag decides whose it is, not the tag a later event shows.
        if transaction.id_tag is not None:
            if self._known(
                station, transaction.id_tag, transaction.evse_id, transaction.id_tag_type
            ):
                return  # started with our own tag: our word counts
        elif self._known(station, refusal.id_tag, transaction.evse_id, refusal.token_type):
            return
        if _LOG_BUDGET.take(charger_id) is not None:
            _LOGGER.warning(
                "Charger %s: its upstream answered %s for tag %s, so session %s is stopped",
                charger_id,
                refusal.status,
                refusal.id_tag,
                transaction.id,
            )
        self._spawn(self._stop(charger_id, transaction.id))

    def started_with_known_tag(self, charger_id: str, transaction_id: str) -> bool:
        """ChargerAccess: whether the charger's session started with a tag we know."""
        connection = self._connection(charger_id)
        if connection is None:
            return False
        station = connection.station
        transaction = station.transaction(transaction_id)
        if transaction is None or transaction.id_tag is None:
            return False
        return self._known(
            station, transaction.id_tag, transaction.evse_id, transaction.id_tag_type
        )

    def _known(self, station: Station, id_tag: str, evse_id: int, token_type: str | None) -> bool:
        return self._authorizer().authorize(id_tag, station, evse_id, token_type).known

    async def _stop(self, charger_id: str, transaction_id: str) -> None:
        result = await self._execute(charger_id, RemoteStop(transaction_id))
        if not result.accepted and _LOG_BUDGET.take(charger_id) is not None:
            _LOGGER.warning(
                "Charger %s did not stop session %s the upstream refused: %s %s",
                charger_id,
                transaction_id,
                result.status,
                result.detail,
            )
