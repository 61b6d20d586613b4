"""Tags a charger presents: decided, reported, and their current limit applied.

`TagPresentation` is the part of `StationAdapter` that decides on a presented tag (by
the central system, or for a tag it does not know, perhaps its upstream), reports the
presentation, and limits a session to its tag's maximum current.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Protocol

from .authorization import AuthorizationDecision
from .charging import limit_profile
from .commands import Command, CommandResult, ProfileKind, ProfilePurpose, SetChargingProfile
from .events import Event, TagPresented
from .rpc_types import Reply
from .station import Station, Transaction

_LOGGER = logging.getLogger(__name__)


class PresentationHost(Protocol):
    """What deciding on presented tags asks of the central system."""

    def authorize(
        self, id_tag: str, station: Station, evse_id: int | None, token_type: str | None
    ) -> AuthorizationDecision:
        """Decide whether a presented tag may charge."""

    def upstream_decision(
        self,
        id_tag: str,
        station: Station,
        token_type: str | None,
        decision: AuthorizationDecision,
    ) -> AuthorizationDecision | Awaitable[AuthorizationDecision]:
        """The answer on a tag: `decision`, or its upstream's, perhaps to be awaited.

        Only a tag the central system does not know may wait (bounded) for the station's
        upstream central system (see `upstream_authorization`).
        """

    @property
    def balancing_sessions(self) -> bool:
        """Whether site load balancing sets every session's limit (tag maxima included)."""

    def emit(self, event: Event) -> None:
        """Report an event to the listener."""


class TagPresentation(ABC):
    """Decides on the tags a station presents and applies their limits."""

    station: Station
    _host: PresentationHost

    @abstractmethod
    async def execute(self, command: Command, *, timeout: float | None = None) -> CommandResult:
        """Send a command and wait, bounded, for its typed result."""

    def _authorize(
        self, id_tag: str, evse_id: int | None, token_type: str | None = None
    ) -> AuthorizationDecision:
        """Decide on a presented tag (ourselves) and report the presentation."""
        decision = self._host.authorize(id_tag, self.station, evse_id, token_type)
        return self._presented(id_tag, evse_id, token_type, decision)

    def _decide(
        self,
        id_tag: str,
        evse_id: int | None,
        token_type: str | None,
        answer: Callable[[AuthorizationDecision], Reply],
    ) -> Reply | Awaitable[Reply]:
        """Decide on a presented tag, report the presentation, and answer with `answer`.

        At once, as a rule; a tag we do not know may wait (bounded) for the charger's
        upstream, and this connection's next message with it.
        """
        local = self._host.authorize(id_tag, self.station, evse_id, token_type)
        decision = self._host.upstream_decision(id_tag, self.station, token_type, local)
        if isinstance(decision, AuthorizationDecision):
            return answer(self._presented(id_tag, evse_id, token_type, decision))
        return self._answer_when_decided(id_tag, evse_id, token_type, decision, answer)

    async def _answer_when_decided(
        self,
        id_tag: str,
        evse_id: int | None,
        token_type: str | None,
        pending: Awaitable[AuthorizationDecision],
        answer: Callable[[AuthorizationDecision], Reply],
    ) -> Reply:
        decision = await pending
        return answer(self._presented(id_tag, evse_id, token_type, decision))

    def _presented(
        self,
        id_tag: str,
        evse_id: int | None,
        token_type: str | None,
        decision: AuthorizationDecision,
    ) -> AuthorizationDecision:
        """Report a tag's presentation and what was decided."""
        self._host.emit(TagPresented(self.station, evse_id, id_tag, token_type, decision))
        return decision

    def _tag_limit_after_start(
        self, transaction: Transaction, decision: AuthorizationDecision | None
    ) -> Callable[[], Awaitable[None]] | None:
        """The follow-up that limits a session to its tag's maximum current, if it has one.

        Sent after the answer, so that the charger knows the transaction id first. With
        site load balancing the balancer sends the session's limit, within the tag's
        maximum: a second TxProfile of ours would overwrite its shorter-lived one.
        """
        if decision is None or not decision.accepted or decision.max_current_a is None:
            return None
        if self._host.balancing_sessions:
            return None
        limit = decision.max_current_a

        async def apply_limit() -> None:
            await self._apply_tag_limit(transaction, limit)

        return apply_limit

    async def _apply_tag_limit(self, transaction: Transaction, max_current_a: float) -> None:
        capabilities = self.station.capabilities
        # No features known (not learnt, or not reported): try, the answer will tell.
        if capabilities is not None and capabilities.features and not capabilities.smart_charging:
            _LOGGER.info(
                "Charger %s takes no charging profiles: tag %s's %s A limit is not applied",
                self.station.id,
                transaction.id_tag,
                max_current_a,
            )
            self.station.warn("tag_limit_not_supported")
            return
        profile = limit_profile(
            self.station,
            max_current_a,
            ProfilePurpose.TX,
            kind=ProfileKind.RELATIVE,
            transaction_id=transaction.id,
        )
        result = await self.execute(SetChargingProfile(transaction.evse_id, profile))
        if not result.accepted:
            _LOGGER.warning(
                "Charger %s did not take tag %s's %s A limit (%s %s)",
                self.station.id,
                transaction.id_tag,
                max_current_a,
                result.status,
                result.detail,
            )
            self.station.warn("tag_limit_not_applied")
