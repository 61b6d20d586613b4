"""Keeping chargers' local authorization lists equal to the tag registry.

A charger with a local list admits known tags while it cannot reach us. After every
change of the registry, and whenever a charger connects or its capabilities are
learnt, each charger that supports local lists gets the tags valid on it:

- a differential update (only what changed) when the charger still holds the list
  version we last pushed to it;
- a full list otherwise (first push, the charger's list was reset or replaced, or
  it answered VersionMismatch to a differential update).

What was pushed to each charger (its version and entries) is kept in `PushedList`s,
which the owner persists so that a restart does not force full lists everywhere.
A change that narrows what some tag may do (removed, disabled, shortened) also
clears the chargers' authorization caches, which may hold the wider answer.

One charger's sync never waits on another's: each runs in its own task, and changes
that arrive during a sync are coalesced into one more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .authorization import AuthorizationStatus, Tag, TagChange, TagRegistry
from .commands import (
    ClearCache,
    Command,
    CommandResult,
    CommandStatus,
    GetLocalListVersion,
    LocalListEntry,
    SendLocalList,
)
from .station import OcppVersion, Station

_LOGGER = logging.getLogger(__name__)

LOCAL_LIST_FEATURE = "LocalAuthListManagement"
# The longest idTag a 1.6 message carries (CiString20); 2.x idTokens take 36.
_MAX_TAG_LENGTH = {OcppVersion.V16: 20}
_DEFAULT_MAX_TAG_LENGTH = 36


class LocalListStatus(StrEnum):
    """Where a charger's local list stands (shown in diagnostics)."""

    IN_SYNC = "in_sync"
    PENDING = "pending"  # not pushed yet: offline, or a sync is due
    UNSUPPORTED = "unsupported"  # the charger has no local list
    DISABLED = "disabled"  # it has one, switched off (LocalAuthListEnabled false)
    TOO_MANY_TAGS = "too_many_tags"  # more tags than the charger's list holds
    FAILED = "failed"  # the charger refused or did not answer


@dataclass(frozen=True, slots=True)
class PushedList:
    """The list a charger was last given: its version and entries by tag key."""

    version: int
    entries: Mapping[str, LocalListEntry]

    def to_dict(self) -> dict[str, Any]:
        """JSON types, for storage."""
        return {
            "version": self.version,
            "entries": [
                [entry.id_tag, entry.status, _iso(entry.expiry), entry.parent_id, entry.token_type]
                for entry in self.entries.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PushedList:
        """A stored pushed list."""
        entries = [
            LocalListEntry(
                id_tag=id_tag,
                status=status,
                expiry=datetime.fromisoformat(expiry) if expiry else None,
                parent_id=parent_id,
                token_type=token_type,
            )
            for id_tag, status, expiry, parent_id, token_type in data["entries"]
        ]
        return cls(int(data["version"]), {_entry_key(entry): entry for entry in entries})


@dataclass(frozen=True, slots=True)
class LocalListState:
    """A charger's local list as diagnostics show it."""

    status: LocalListStatus
    version: int | None = None
    entries: int | None = None
    detail: str | None = None


def _version_mismatch(result: CommandResult) -> bool:
    """Whether a charger refused a list because its version is not the one we assumed."""
    return result.status is CommandStatus.REJECTED and result.detail == "VersionMismatch"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _entry_key(entry: LocalListEntry) -> str:
    return entry.id_tag.strip().casefold()


type Execute = Callable[[str, Command], Awaitable[CommandResult]]
type Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(slots=True)
class LocalListSync:
    """Pushes the registry's tags to every charger that keeps a local list."""

    registry: TagRegistry
    execute: Execute
    spawn: Spawn
    # Called after a push changed what `pushed` holds (the owner saves it).
    on_pushed: Callable[[], None] = lambda: None
    pushed: dict[str, PushedList] = field(default_factory=dict)
    states: dict[str, LocalListState] = field(default_factory=dict)
    _due: set[str] = field(default_factory=set)
    _cache_to_clear: set[str] = field(default_factory=set)
    _running: set[str] = field(default_factory=set)

    def registry_changed(self, change: TagChange, stations: Iterable[Station]) -> None:
        """Tags changed: every charger is due a sync (now, or when it is next online)."""
        for station in stations:
            if change.narrowed:
                self._cache_to_clear.add(station.id)
            if change.tags_changed or change.narrowed:
                self.request(station)

    def request(self, station: Station) -> None:
        """Sync this charger's list (and clear its cache, if due) as soon as possible."""
        self._due.add(station.id)
        if not station.connected or not station.accepted:
            self._set_state(station.id, LocalListStatus.PENDING)
            return
        if station.id not in self._running:
            self._running.add(station.id)
            self.spawn(self._run(station))

    def forget(self, charger_id: str) -> None:
        """A charger was removed: drop what we know of its list."""
        self.pushed.pop(charger_id, None)
        self.states.pop(charger_id, None)
        self._due.discard(charger_id)
        self._cache_to_clear.discard(charger_id)

    async def _run(self, station: Station) -> None:
        try:
            while station.id in self._due and station.connected:
                self._due.discard(station.id)
                if not await self._sync(station):
                    # Offline: still due, synced when it reconnects (`request`). A
                    # connection that ended is registered until it had a turn to end:
                    # asking again at once would answer OFFLINE at once, for good.
                    return
                # Clear the cache only once the list holds the narrower tags: a change
                # that came during this sync is pushed first.
                if station.id in self._cache_to_clear and station.id not in self._due:
                    await self._clear_cache(station)
        finally:
            self._running.discard(station.id)

    # -- one charger ---------------------------------------------------------------------

    def wanted(self, station: Station) -> dict[str, LocalListEntry]:
        """The entries this charger's list should hold: the tags valid on it."""
        longest = _MAX_TAG_LENGTH.get(station.version, _DEFAULT_MAX_TAG_LENGTH)
        now = self.registry.clock()
        entries = {}
        for tag in self.registry.tags:
            if tag.valid_at(station.id) and len(tag.id_tag) <= longest:
                entries[tag.key] = self._entry(tag, now)
        return entries

    def _entry(self, tag: Tag, now: datetime) -> LocalListEntry:
        if not tag.enabled:
            status = AuthorizationStatus.BLOCKED
        elif tag.expired(now):
            status = AuthorizationStatus.EXPIRED
        else:
            status = AuthorizationStatus.ACCEPTED
        return LocalListEntry(
            id_tag=tag.id_tag,
            status=status.value,
            expiry=tag.expiry,
            parent_id=self.registry.group_of(tag),
            token_type=tag.token_type,
        )

    def _nothing_to_push(
        self, station: Station, wanted: dict[str, LocalListEntry]
    ) -> LocalListState | None:
        """Why this charger gets no list now, as its state; None: ask it and push."""
        capabilities = station.capabilities
        # Empty features: the charger did not say what it supports; just try.
        if capabilities is not None and capabilities.features:
            if LOCAL_LIST_FEATURE not in capabilities.features:
                return LocalListState(LocalListStatus.UNSUPPORTED)
            if capabilities.local_list_enabled is False:
                return LocalListState(LocalListStatus.DISABLED)
            longest = capabilities.local_list_max_length
            if longest is not None and len(wanted) > longest:
                return self._state(
                    station.id, LocalListStatus.TOO_MANY_TAGS, f"{len(wanted)} > {longest}"
                )
        if station.id not in self.pushed and not wanted:
            # Never ours and nothing to give: leave a list someone else set alone.
            return LocalListState(LocalListStatus.IN_SYNC, None, 0)
        return None

    async def _sync(self, station: Station) -> bool:
        """Bring the charger's list up to date; False when it turned out offline."""
        wanted = self.wanted(station)
        if (state := self._nothing_to_push(station, wanted)) is not None:
            self.states[station.id] = state
            return True
        answer = await self.execute(station.id, GetLocalListVersion())
        if not answer.accepted:
            self._failed(station, answer)
            return answer.status is not CommandStatus.OFFLINE
        version = answer.data.get("version")
        if not isinstance(version, int) or version < 0:
            # 1.6: -1 says the charger has no local list.
            self._set_state(station.id, LocalListStatus.UNSUPPORTED, detail=f"version {version}")
            return True
        pushed = self.pushed.get(station.id)
        if pushed is not None and pushed.version == version:
            # The charger holds what we last gave it: send only the difference.
            if pushed.entries == wanted:
                self.states[station.id] = LocalListState(
                    LocalListStatus.IN_SYNC, version, len(wanted)
                )
                return True
            result = await self._push(station, version + 1, wanted, differential_from=pushed)
            if not _version_mismatch(result):
                return result.status is not CommandStatus.OFFLINE
            _LOGGER.info("Charger %s refused a differential list update; sending all", station.id)
        newest = max(version, pushed.version if pushed else 0)
        result = await self._push(station, newest + 1, wanted, differential_from=None)
        return result.status is not CommandStatus.OFFLINE

    async def _push(
        self,
        station: Station,
        version: int,
        wanted: dict[str, LocalListEntry],
        differential_from: PushedList | None,
    ) -> CommandResult:
        if differential_from is None:
            command = SendLocalList(version, full=True, entries=tuple(wanted.values()))
        else:
            before = differential_from.entries
            changed = [entry for key, entry in wanted.items() if before.get(key) != entry]
            # An entry without status removes the tag from the charger's list.
            removed = [LocalListEntry(entry.id_tag) for key, entry in before.items()
                       if key not in wanted]  # fmt: skip
            command = SendLocalList(version, full=False, entries=(*changed, *removed))
        result = await self.execute(station.id, command)
        if result.accepted:
            self.pushed[station.id] = PushedList(version, dict(wanted))
            self.states[station.id] = LocalListState(LocalListStatus.IN_SYNC, version, len(wanted))
            self.on_pushed()
        elif not _version_mismatch(result):
            self._failed(station, result)
        return result

    def _failed(self, station: Station, result: CommandResult) -> None:
        match result.status:
            case CommandStatus.NOT_SUPPORTED:
                self._set_state(station.id, LocalListStatus.UNSUPPORTED, detail=result.detail)
            case CommandStatus.OFFLINE:
                # Synced again when it reconnects.
                self._due.add(station.id)
                self._set_state(station.id, LocalListStatus.PENDING)
            case _:
                _LOGGER.warning(
                    "Charger %s: local authorization list not updated (%s %s)",
                    station.id,
                    result.status,
                    result.detail or "",
                )
                self._set_state(
                    station.id, LocalListStatus.FAILED, detail=result.detail or result.status
                )

    async def _clear_cache(self, station: Station) -> None:
        result = await self.execute(station.id, ClearCache())
        if result.status is CommandStatus.OFFLINE:
            return  # still due: cleared when the charger is back
        self._cache_to_clear.discard(station.id)
        if not result.accepted:
            # Chargers without a cache answer Rejected; nothing more we can do.
            _LOGGER.info(
                "Charger %s did not clear its authorization cache (%s %s)",
                station.id,
                result.status,
                result.detail or "",
            )

    def _set_state(
        self, charger_id: str, status: LocalListStatus, *, detail: str | None = None
    ) -> None:
        self.states[charger_id] = self._state(charger_id, status, detail)

    def _state(
        self, charger_id: str, status: LocalListStatus, detail: str | None = None
    ) -> LocalListState:
        """A state that keeps showing the last list pushed, if any."""
        pushed = self.pushed.get(charger_id)
        return LocalListState(
            status,
            version=pushed.version if pushed else None,
            entries=len(pushed.entries) if pushed else None,
            detail=detail,
        )
