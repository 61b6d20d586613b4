"""What the central system keeps set on its chargers: local lists, site limits, defaults.

`ChargerUpkeep` owns the local-list sync (with managed tags), the site balancer (with a
site), each charger's default profile (`schedule.default_profile`: its weekly schedule,
held to the site's failsafe current and to a current limit that went out as a default)
and starts the renewal of client certificates (`certificate_renewal`), checked when a
charger is ready. The central system tells it when a charger becomes ready for our settings,
when sessions start or end and when chargers are removed; it does the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .authorization import Authorizer, TagChange, TagRegistry
from .certificate_renewal import CertificateRenewal
from .cheapest import CheapestCharging
from .commands import (
    ClearChargingProfile,
    Command,
    CommandResult,
    CommandStatus,
    SetChargingProfile,
)
from .local_list import LocalListSync
from .plug_in import PlugInStarter
from .schedule import DEFAULT_PROFILE_ID, WeeklySchedule, default_profile, utc_offset_of_week
from .site import SiteBalancer
from .site_settings import ChargerLimits, NoChargerLimits, SiteSettings
from .station import Evse, Station

_LOGGER = logging.getLogger(__name__)

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
        # Weekly schedules and default-profile limits, by charger id.
        self.schedules: dict[str, WeeklySchedule] = {}
        self.default_caps: dict[str, float] = {}
        # The UTC offset each charger's weekly profile was sent with (None: not weekly).
        self._sent_offsets: dict[str, timedelta | None] = {}
        # Default-profile sends in progress, one at a time per charger.
        self._sending: dict[str, asyncio.Lock] = {}
        # Managed tags are pushed to chargers' local lists; AcceptAll has none to push.
        self.local_lists: LocalListSync | None = None
        self._unsubscribe_tags: Callable[[], None] = lambda: None
        if isinstance(authorizer, TagRegistry):
            self.local_lists = LocalListSync(authorizer, execute, spawn)
            self._unsubscribe_tags = authorizer.subscribe(self._tags_changed)
        self.site: SiteBalancer | None = None
        # Prices and goals of the cheapest mode: kept while the site comes and goes.
        self.cheapest = CheapestCharging()
        self.cheapest.on_change = self._wake_site
        limits = chargers or NoChargerLimits()
        self.plug_in = PlugInStarter(execute, spawn, mode=limits.mode, start_tag=limits.start_tag)
        # Client certificates renewed before they end (set by the central system).
        self.renewal: CertificateRenewal | None = None

    def start(self) -> None:
        """The central system listens: balancing may begin."""
        self._running = True
        if self.site is not None:
            self.site.start(self._stations)
        if self.renewal is not None:
            self.renewal.start()

    def stop(self) -> None:
        """The central system stops: no more balancing or list pushes."""
        self._running = False
        if self.site is not None:
            self.site.stop()
        self._unsubscribe_tags()

    def station_ready(self, station: Station) -> None:
        """A charger is ready for our settings: its local list and default profile.

        And a client certificate near its end is renewed.
        """
        if self.local_lists is not None:
            self.local_lists.request(station)
        self._spawn(self._send_default_quietly(station))
        if self.renewal is not None:
            self.renewal.check(station)

    def evse_changed(self, station: Station, evse: Evse) -> None:
        """An EVSE's status changed: a car may wait for us to start its session.

        With a site the balancer starts it when it has current for it; without one,
        at once (see `plug_in`).
        """
        if self.site is not None:
            self.site.wake()
        else:
            self.plug_in.evse_changed(station, evse)

    def sessions_changed(self) -> None:
        """A session started or ended: the site's current is shared anew."""
        if self.site is not None:
            self.site.wake()

    def forget(self, charger_id: str) -> None:
        """A charger was removed."""
        if self.local_lists is not None:
            self.local_lists.forget(charger_id)
        self.schedules.pop(charger_id, None)
        self.default_caps.pop(charger_id, None)
        self._sent_offsets.pop(charger_id, None)
        self._sending.pop(charger_id, None)
        self.cheapest.forget(charger_id)
        if self.renewal is not None:
            self.renewal.forget(charger_id)

    def _wake_site(self) -> None:
        if self.site is not None:
            self.site.wake()

    def set_site(self, settings: SiteSettings | None) -> None:
        """Start, change or stop load balancing while running (no charger reconnects).

        A new or changed failsafe is stored on every ready charger. Stopping leaves the
        last profiles to lapse into each charger's failsafe.
        """
        if settings is None:
            if self.site is not None:
                self.site.stop()
                self.site = None
                self._resend_defaults(self._stations())  # no failsafe to hold them to
            return
        site = self.site
        failsafe_changed = site is None or site.settings.failsafe_a != settings.failsafe_a
        if site is None:
            site = self.site = SiteBalancer(
                settings, self._execute, chargers=self._chargers, cheapest=self.cheapest
            )
            site.schedule_limit = self.schedule_limit
            site.schedule_of = self.schedule_of
            if self._running:
                site.start(self._stations)
        site.settings = settings
        if failsafe_changed:
            self._resend_defaults(self._stations())
        site.wake()

    # -- default profiles: schedules, failsafe, fallback limits ----------------------------

    def set_schedules(self, schedules: Mapping[str, WeeklySchedule]) -> None:
        """The chargers' weekly schedules: changed ones are sent at once."""
        changed = {
            charger_id
            for charger_id in set(schedules) | set(self.schedules)
            if schedules.get(charger_id) != self.schedules.get(charger_id)
        }
        self.schedules = dict(schedules)
        self._resend_defaults(s for s in self._stations() if s.id in changed)
        if changed and self.site is not None:
            self.site.wake()

    def schedule_of(self, charger_id: str) -> WeeklySchedule | None:
        """A charger's weekly schedule (None: none)."""
        return self.schedules.get(charger_id)

    def schedule_limit(self, charger_id: str) -> float | None:
        """The limit a charger's schedule sets now (None: none)."""
        schedule = self.schedules.get(charger_id)
        return schedule.limit_at(datetime.now(UTC)) if schedule is not None else None

    async def set_default_cap(self, station: Station, cap_a: float) -> CommandResult:
        """Hold the charger's default profile to `cap_a` (a current limit given as one)."""
        self.default_caps[station.id] = cap_a
        return await self._send_default(station)

    def refresh_defaults(self) -> None:
        """Send weekly profiles again where the UTC offset has changed (daylight saving)."""
        now = datetime.now(UTC)
        stale = [
            station
            for station in self._stations()
            if (schedule := self.schedules.get(station.id)) is not None
            and station.id in self._sent_offsets
            and self._sent_offsets[station.id] != utc_offset_of_week(schedule, now)
        ]
        self._resend_defaults(stale)

    def _resend_defaults(self, stations: Iterable[Station]) -> None:
        for station in stations:
            if station.connected and station.accepted:
                self._spawn(self._send_default_quietly(station))

    async def _send_default_quietly(self, station: Station) -> None:
        await self._send_default(station)

    async def _send_default(self, station: Station) -> CommandResult:
        """Send the charger its default profile (or clear ours, with nothing left to hold).

        One at a time per charger: a clear decided while a profile is still on its way
        would see nothing sent yet and be skipped, leaving the charger a schedule the
        user removed.
        """
        lock = self._sending.setdefault(station.id, asyncio.Lock())
        async with lock:
            return await self._send_default_now(station)

    async def _send_default_now(self, station: Station) -> CommandResult:
        caps = [self.default_caps.get(station.id)]
        if self.site is not None:
            caps.append(self.site.settings.failsafe_a)
        cap = min((c for c in caps if c is not None), default=None)
        schedule = self.schedules.get(station.id)
        chargers = self._chargers or NoChargerLimits()
        now = datetime.now(UTC)
        profile = default_profile(
            station,
            schedule=schedule,
            cap_a=cap,
            unlimited_a=chargers.max_current_a(station.id),
            now=now,
        )
        if profile is None:
            if station.id not in self._sent_offsets:
                return CommandResult(CommandStatus.ACCEPTED)
            command: Command = ClearChargingProfile(profile_id=DEFAULT_PROFILE_ID)
        else:
            command = SetChargingProfile(0, profile)
        result = await self._execute(station.id, command)
        if not result.accepted:
            _LOGGER.warning(
                "Charger %s did not take its default profile (%s %s)",
                station.id,
                result.status,
                result.detail or "",
            )
            station.warn("default_profile_not_applied")
        elif profile is None:
            self._sent_offsets.pop(station.id, None)
        else:
            offset = utc_offset_of_week(schedule, now) if schedule is not None else None
            self._sent_offsets[station.id] = offset
        return result

    def _tags_changed(self, change: TagChange) -> None:
        if self.local_lists is not None:
            admitted = [s for s in self._stations() if self._is_admitted(s.id)]
            self.local_lists.registry_changed(change, admitted)
