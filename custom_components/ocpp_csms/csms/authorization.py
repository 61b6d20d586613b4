"""Tags (RFID cards, key fobs, app tokens) and the authorization decision.

The engine asks one `Authorizer` for every Authorize, StartTransaction (1.6) and
TransactionEvent with an idToken (2.x). `TagRegistry` is the authorizer a central
system with managed tags uses; `AcceptAll` accepts every tag.

Tag ids are compared case-insensitively: chargers send the same card's hex in upper
or lower case depending on the reader.

Groups: a tag's group is its parent id, or its own id when other tags name it as their
parent (a household's master card). Chargers are told the group as `parentIdTag`
(1.6) / `groupIdToken` (2.x), and let a session be stopped by another tag of the same
group; `TagRegistry.may_stop` applies the same rule on our side.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from .station import Station

# The idToken type of a 2.x charger that authorizes nothing itself (free vend).
NO_AUTHORIZATION = "NoAuthorization"
DEFAULT_TOKEN_TYPE = "ISO14443"


class AuthorizationStatus(StrEnum):
    """A version-neutral authorization answer; adapters spell it per version."""

    ACCEPTED = "accepted"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    INVALID = "invalid"
    UNKNOWN = "unknown"  # not in the registry (1.6 has no such status: Invalid)
    NOT_AT_THIS_LOCATION = "not_at_this_location"  # not valid on this charger (1.6: Invalid)
    CONCURRENT_TX = "concurrent_tx"


@dataclass(frozen=True, slots=True)
class AuthorizationDecision:
    """What the central system answers about a tag, and what it knows of it.

    `known` says whether the tag is one the central system knows (registered, or a
    tag it uses itself for remote starts); an unknown tag may still be accepted in
    accept-all mode, and is reported either way.
    """

    status: AuthorizationStatus
    parent_id: str | None = None
    expiry: datetime | None = None
    name: str | None = None
    max_current_a: float | None = None
    known: bool = False

    @property
    def accepted(self) -> bool:
        """Whether the tag may charge."""
        return self.status is AuthorizationStatus.ACCEPTED


class Authorizer(Protocol):
    """Decides whether a tag may charge at a station (and EVSE, when known)."""

    def authorize(
        self, id_tag: str, station: Station, evse_id: int | None, token_type: str | None = None
    ) -> AuthorizationDecision:
        """The decision for `id_tag`."""

    def may_stop(self, start_tag: str, stop_tag: str) -> bool:
        """Whether a session started with `start_tag` may be ended with `stop_tag`."""


class AcceptAll:
    """Accept every tag."""

    def authorize(
        self, id_tag: str, station: Station, evse_id: int | None, token_type: str | None = None
    ) -> AuthorizationDecision:
        """Accept."""
        return AuthorizationDecision(AuthorizationStatus.ACCEPTED)

    def may_stop(self, start_tag: str, stop_tag: str) -> bool:
        """Any tag may end any session."""
        return True


def tag_key(id_tag: str) -> str:
    """The registry key of a tag id: case and surrounding blanks do not count."""
    return id_tag.strip().casefold()


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag the user manages."""

    id_tag: str
    name: str = ""
    enabled: bool = True
    expiry: datetime | None = None
    parent_id: str | None = None
    # The chargers (ids) the tag may charge at; empty: every charger.
    chargers: frozenset[str] = frozenset()
    # The "user profile": the most current (A) a session started with this tag may draw.
    max_current_a: float | None = None
    # The 2.x idToken type, for local lists (learnt when the tag was first presented).
    token_type: str = DEFAULT_TOKEN_TYPE

    @property
    def key(self) -> str:
        """The registry key."""
        return tag_key(self.id_tag)

    def expired(self, now: datetime) -> bool:
        """Whether the tag's expiry date has passed."""
        return self.expiry is not None and now >= self.expiry

    def valid_at(self, charger_id: str) -> bool:
        """Whether the tag may be used at this charger."""
        return not self.chargers or charger_id in self.chargers

    def narrower_than(self, before: Tag) -> bool:
        """Whether this version of a tag admits less than `before` did.

        Chargers may have cached the wider version: their authorization cache must go.
        """
        return (
            (before.enabled and not self.enabled)
            or (self.expiry is not None and (before.expiry is None or self.expiry < before.expiry))
            or (bool(self.chargers) and not (before.chargers and self.chargers >= before.chargers))
            or (self.parent_id or "").casefold() != (before.parent_id or "").casefold()
        )

    def to_dict(self) -> dict[str, Any]:
        """The tag as stored (JSON types)."""
        return {
            "id_tag": self.id_tag,
            "name": self.name,
            "enabled": self.enabled,
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "parent_id": self.parent_id,
            "chargers": sorted(self.chargers),
            "max_current_a": self.max_current_a,
            "token_type": self.token_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tag:
        """A stored tag."""
        expiry = data.get("expiry")
        return cls(
            id_tag=str(data["id_tag"]),
            name=str(data.get("name") or ""),
            enabled=bool(data.get("enabled", True)),
            expiry=datetime.fromisoformat(expiry) if expiry else None,
            parent_id=data.get("parent_id") or None,
            chargers=frozenset(data.get("chargers") or ()),
            max_current_a=data.get("max_current_a"),
            token_type=str(data.get("token_type") or DEFAULT_TOKEN_TYPE),
        )


class AuthorizationMode(StrEnum):
    """Which tags a central system accepts."""

    # Accept every tag until the first one is registered, then known tags only.
    AUTOMATIC = "automatic"
    KNOWN_TAGS = "known_tags"
    ACCEPT_ALL = "accept_all"


class TagConflictError(ValueError):
    """A tag with this id is already registered."""


class UnknownTagError(KeyError):
    """No tag with this id is registered."""


@dataclass(frozen=True, slots=True)
class TagChange:
    """What a change of the registry means for chargers.

    `narrowed`: whether some tag now admits less than before, so chargers' caches
    must be cleared. `tags_changed`: whether local lists need pushing.
    """

    tags_changed: bool = True
    narrowed: bool = False


@dataclass(slots=True)
class TagRegistry:
    """The tags of one central system and its authorization mode."""

    mode: AuthorizationMode = AuthorizationMode.AUTOMATIC
    # The tags Home Assistant itself starts sessions with on a charger (remote start):
    # always accepted there, whatever the mode.
    own_tags: Callable[[str], Collection[str]] = lambda _charger_id: ()
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _tags: dict[str, Tag] = field(default_factory=dict)
    _observers: list[Callable[[TagChange], None]] = field(default_factory=list)

    # -- reading ------------------------------------------------------------------------

    @property
    def tags(self) -> list[Tag]:
        """Every tag, by id."""
        return sorted(self._tags.values(), key=lambda tag: tag.key)

    def get(self, id_tag: str) -> Tag | None:
        """The tag with this id (in any case)."""
        return self._tags.get(tag_key(id_tag))

    @property
    def effective_mode(self) -> AuthorizationMode:
        """The mode in force: automatic means known tags only once any tag exists."""
        if self.mode is AuthorizationMode.AUTOMATIC:
            return AuthorizationMode.KNOWN_TAGS if self._tags else AuthorizationMode.ACCEPT_ALL
        return self.mode

    def group_of(self, tag: Tag) -> str | None:
        """The tag's group: its parent, or itself when it is some tag's parent."""
        if tag.parent_id:
            return tag.parent_id
        if any(
            other.parent_id and tag_key(other.parent_id) == tag.key for other in self._tags.values()
        ):
            return tag.id_tag
        return None

    # -- deciding -----------------------------------------------------------------------

    def authorize(
        self, id_tag: str, station: Station, evse_id: int | None, token_type: str | None = None
    ) -> AuthorizationDecision:
        """Authorizer: the decision for a tag presented at `station`."""
        tag = self._tags.get(tag_key(id_tag))
        if tag is None:
            return self._decide_unknown(id_tag, station.id, token_type)
        if not tag.enabled:
            status = AuthorizationStatus.BLOCKED
        elif tag.expired(self.clock()):
            status = AuthorizationStatus.EXPIRED
        elif not tag.valid_at(station.id):
            status = AuthorizationStatus.NOT_AT_THIS_LOCATION
        else:
            status = AuthorizationStatus.ACCEPTED
        return AuthorizationDecision(
            status,
            parent_id=self.group_of(tag),
            expiry=tag.expiry,
            name=tag.name or None,
            max_current_a=tag.max_current_a if status is AuthorizationStatus.ACCEPTED else None,
            known=True,
        )

    def _decide_unknown(
        self, id_tag: str, charger_id: str, token_type: str | None
    ) -> AuthorizationDecision:
        own = {tag_key(own_tag) for own_tag in self.own_tags(charger_id)}
        if tag_key(id_tag) in own or token_type == NO_AUTHORIZATION:
            # Our own remote-start tag, or a charger that authorizes nobody itself.
            return AuthorizationDecision(AuthorizationStatus.ACCEPTED, known=True)
        if self.effective_mode is AuthorizationMode.ACCEPT_ALL:
            return AuthorizationDecision(AuthorizationStatus.ACCEPTED)
        return AuthorizationDecision(AuthorizationStatus.UNKNOWN)

    def may_stop(self, start_tag: str, stop_tag: str) -> bool:
        """Whether `stop_tag` may end a session `start_tag` started: same tag or group."""
        if tag_key(start_tag) == tag_key(stop_tag):
            return True
        started, stopping = self.get(start_tag), self.get(stop_tag)
        if started is None or stopping is None:
            return False
        group = self.group_of(started)
        other = self.group_of(stopping)
        return group is not None and other is not None and tag_key(group) == tag_key(other)

    # -- changing -----------------------------------------------------------------------

    def subscribe(self, observer: Callable[[TagChange], None]) -> Callable[[], None]:
        """Be told of every change; returns the function that ends the subscription."""
        self._observers.append(observer)

        def unsubscribe() -> None:
            # Idempotent: an entry can be stopped twice (unloaded after HA's stop).
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def _changed(self, change: TagChange) -> None:
        for observer in list(self._observers):
            observer(change)

    def load(self, tags: Iterable[Tag], mode: AuthorizationMode) -> None:
        """Replace everything with stored state, telling no one (start-up)."""
        self._tags = {tag.key: tag for tag in tags}
        self.mode = mode

    def set_mode(self, mode: AuthorizationMode) -> None:
        """Change the authorization mode."""
        if mode is self.mode:
            return
        narrowed = self.effective_mode is AuthorizationMode.ACCEPT_ALL
        self.mode = mode
        narrowed = narrowed and self.effective_mode is AuthorizationMode.KNOWN_TAGS
        self._changed(TagChange(tags_changed=False, narrowed=narrowed))

    def add(self, tag: Tag) -> Tag:
        """Register a new tag; raises TagConflictError when its id is taken."""
        if tag.key in self._tags:
            raise TagConflictError(tag.id_tag)
        automatic_before = self.effective_mode
        self._tags[tag.key] = tag
        # The first tag turns automatic mode from accept-all to known tags only.
        self._changed(TagChange(narrowed=automatic_before is not self.effective_mode))
        return tag

    def update(self, id_tag: str, **changes: Any) -> Tag:
        """Change fields of a tag; raises UnknownTagError when there is none."""
        before = self.get(id_tag)
        if before is None:
            raise UnknownTagError(id_tag)
        after = replace(before, **changes)
        self._tags[before.key] = after
        self._changed(TagChange(narrowed=after.narrower_than(before)))
        return after

    def remove(self, id_tag: str) -> Tag:
        """Remove a tag; raises UnknownTagError when there is none."""
        tag = self._tags.pop(tag_key(id_tag), None)
        if tag is None:
            raise UnknownTagError(id_tag)
        self._changed(TagChange(narrowed=True))
        return tag
