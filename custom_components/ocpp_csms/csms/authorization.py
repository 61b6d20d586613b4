"""The authorization decision for a presented tag.

The engine asks one `Authorizer` for every Authorize, StartTransaction (1.6) and
TransactionEvent with an idToken (2.x). Until a tag registry is configured, every tag
is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .station import Station


class AuthorizationStatus(StrEnum):
    """A version-neutral authorization answer; adapters spell it per version."""

    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    INVALID = "invalid"
    UNKNOWN = "unknown"  # not in the registry (1.6 has no such status: Invalid)
    CONCURRENT_TX = "concurrent_tx"


@dataclass(frozen=True, slots=True)
class AuthorizationDecision:
    """What the central system answers about a tag, and what it knows of it."""

    status: AuthorizationStatus
    parent_id: str | None = None
    expiry: datetime | None = None
    name: str | None = None
    max_current_a: float | None = None

    @property
    def accepted(self) -> bool:
        """Whether the tag may charge."""
        return self.status is AuthorizationStatus.ACCEPTED


class Authorizer(Protocol):
    """Decides whether a tag may charge at a station (and EVSE, when known)."""

    def authorize(
        self, id_tag: str, station: Station, evse_id: int | None
    ) -> AuthorizationDecision:
        """The decision for `id_tag`."""


class AcceptAll:
    """Accept every tag: the behaviour until tags are managed."""

    def authorize(
        self, id_tag: str, station: Station, evse_id: int | None
    ) -> AuthorizationDecision:
        """Accept."""
        return AuthorizationDecision(AuthorizationStatus.ACCEPTED)
