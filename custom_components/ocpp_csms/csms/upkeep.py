"""What the central system keeps set on its chargers: local lists and site limits.

`ChargerUpkeep` owns the local-list sync (with managed tags) and the site balancer
(with a site). The central system tells it when a charger becomes ready for our
settings, when sessions start or end and when chargers are removed; it does the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .authorization import Authorizer, TagChange, TagRegistry
from .commands import Command, CommandResult
from .local_list import LocalListSync
from .site import ChargerLimits, SiteBalancer, SiteSettings
from .station import Station

type Execute = Callable[[str, Command], Awaitable[CommandResult]]
type Spawn = Callable[[Coroutine[Any, Any, None]], None]


class ChargerUpkeep:
    """Keeps chargers' local lists and site limits as the central system wants them."""

    def __init__(
        self,
        authorizer: Authorizer,
        execute: Execute,
        spawn: Spawn,
        *,
        stations: Callable[[], list[Station]],
        is_admitted: Callable[[str], bool],
        chargers: ChargerLimits | None,
    ) -> None:
        """Serve the central system's stations; start the site with `set_site`."""
        self._execute = execute
        self._spawn = spawn
        self._stations = stations
        self._is_admitted = is_admitted
        self._chargers = chargers
        self._running = False
        # Managed tags are pushed to chargers' local lists; AcceptAll has none to push.
        self.local_lists: LocalListSync | None = None
        self._unsubscribe_tags: Callable[[], None] = lambda: None
        if isinstance(authorizer, TagRegistry):
            self.local_lists = LocalListSync(authorizer, execute, spawn)
            self._unsubscribe_tags = authorizer.subscribe(self._tags_changed)
        self.site: SiteBalancer | None = None

    def start(self) -> None:
        """The central system listens: balancing may begin."""
        self._running = True
        if self.site is not None:
            self.site.start(self._stations)

    def stop(self) -> None:
        """The central system stops: no more balancing or list pushes."""
        self._running = False
        if self.site is not None:
            self.site.stop()
        self._unsubscribe_tags()

    def station_ready(self, station: Station) -> None:
        """A charger is ready for our settings: its local list, the site's failsafe."""
        if self.local_lists is not None:
            self.local_lists.request(station)
        if self.site is not None:
            self._spawn(self._apply_failsafe(self.site, station))

    def sessions_changed(self) -> None:
        """A session started or ended: the site's current is shared anew."""
        if self.site is not None:
            self.site.wake()

    def forget(self, charger_id: str) -> None:
        """A charger was removed."""
        if self.local_lists is not None:
            self.local_lists.forget(charger_id)

    def set_site(self, settings: SiteSettings | None) -> None:
        """Start, change or stop load balancing while running (no charger reconnects).

        A new or changed failsafe is stored on every ready charger. Stopping leaves the
        last profiles to lapse into each charger's failsafe.
        """
        if settings is None:
            if self.site is not None:
                self.site.stop()
            self.site = None
            return
        site = self.site
        failsafe_changed = site is None or site.settings.failsafe_a != settings.failsafe_a
        if site is None:
            site = self.site = SiteBalancer(settings, self._execute, chargers=self._chargers)
            if self._running:
                site.start(self._stations)
        site.settings = settings
        if failsafe_changed:
            for station in self._stations():
                if station.connected and station.accepted:
                    self._spawn(self._apply_failsafe(site, station))
        site.wake()

    @staticmethod
    async def _apply_failsafe(site: SiteBalancer, station: Station) -> None:
        await site.apply_failsafe(station)

    def _tags_changed(self, change: TagChange) -> None:
        if self.local_lists is not None:
            admitted = [s for s in self._stations() if self._is_admitted(s.id)]
            self.local_lists.registry_changed(change, admitted)
