"""The central system: its parts put together, started and stopped, and its one face.

Stations and their connections live in `connections`, the journal's side in
`journaling`; what is here decides boots, routes events, and is what the Home
Assistant layer and the version adapters (`StationHost`) call.

The Home Assistant layer is the source of truth for which chargers are admitted (with
their password hashes) and which were rejected; it answers through a
`ChargerDirectory`. The engine reports what happens through one
`CentralSystemListener`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from .adapter import StationAdapter
from .admission import Admission, AdmissionCounters
from .authorization import AcceptAll, AuthorizationDecision, Authorizer
from .certificate_renewal import CertificateRenewal
from .certificates import CertificateAuthority
from .cheapest import CheapestCharging
from .commands import Command, CommandResult, CommandStatus
from .connections import Connections
from .current_limit import CurrentLimits
from .events import (
    AdmissionRequested,
    CertificateRefused,
    Change,
    Event,
    EvseUpdated,
    StationAutoAdmitted,
    StationUpdated,
    TransactionEnded,
    TransactionStarted,
)
from .host import (
    CentralSystemListener,
    CentralSystemSettings,
    ChargerDirectory,
)
from .isolation import FailureIsolation
from .journaling import record_event, record_sessions, restore_stations
from .local_list import LocalListSync
from .metering_setup import MeterWish
from .password_gate import PasswordGate
from .quirks import quirks_for
from .reservation_upkeep import ReservationExpiry
from .schedule import WeeklySchedule
from .schemas import VersionSchemas, load_all
from .server import OcppServer, Verdict
from .sessions import RestoredJournal, SessionJournal
from .site import SiteBalancer
from .site_settings import ChargerLimits, SiteSettings
from .station import OcppVersion, RegistrationStatus, Station
from .station_host import BootDecision
from .transaction_ids import TransactionIdAllocator
from .upkeep import ChargerUpkeep
from .upstream_bridge import ChargerBridge
from .upstream_policy import UpstreamCommand
from .upstream_settings import UpstreamSettings, UpstreamStatus
from .upstreams import Upstreams

_LOGGER = logging.getLogger(__name__)


class CentralSystem:
    """Runs the server and every charger's connection (its version adapter) behind it."""

    def __init__(
        self,
        settings: CentralSystemSettings,
        directory: ChargerDirectory,
        listener: CentralSystemListener,
        *,
        authorizer: Authorizer | None = None,
        transaction_ids: TransactionIdAllocator | None = None,
        journal: SessionJournal | None = None,
        chargers: ChargerLimits | None = None,
    ) -> None:
        """Prepare; `start` loads the schemas, opens the journal and binds the port.

        With a `journal`, every transaction is recorded, and sessions running when the
        central system last stopped go on where they were.
        """
        self.journal = journal
        self.settings = settings
        self._directory = directory
        self.authorizer: Authorizer = authorizer or AcceptAll()
        self.transaction_ids = transaction_ids or TransactionIdAllocator()
        self._schemas: Mapping[OcppVersion, VersionSchemas] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._passwords = PasswordGate()
        self._isolation = FailureIsolation(listener)
        self.counters = AdmissionCounters()
        self.admission = Admission(settings, directory, self._passwords, self.counters)
        self._reservation_expiry = ReservationExpiry(self._announce_reservations)
        self.upkeep = ChargerUpkeep(
            self.authorizer,
            self.execute,
            self._spawn,
            stations=lambda: list(self.stations.values()),
            is_admitted=lambda charger_id: self._directory.find(charger_id) is not None,
            chargers=chargers,
        )
        # Chargers' current limits, set the way each takes them and read back.
        self.limits = CurrentLimits(self.execute, self.upkeep)
        # Second central systems that see what chargers send us (see `upstream`), and
        # what of the chargers they reach as their policies allow (`upstream_bridge`).
        self.upstreams = Upstreams(
            self._load_schemas,
            call_timeout=settings.call_timeout,
            chargers=ChargerBridge(
                self.connection, lambda: self.authorizer, self.execute, self._spawn
            ),
        )
        # The CA that signs chargers' client certificates (profile 3); None: none signed.
        self._certificate_authority: CertificateAuthority | None = None
        # What is known of chargers' client certificates, and their renewal.
        self.renewal = CertificateRenewal(
            self,
            self.execute,
            self._spawn,
            stations=lambda: list(self.stations.values()),
            is_admitted=lambda charger_id: self._directory.find(charger_id) is not None,
        )
        self.upkeep.renewal = self.renewal
        self._connections = Connections(
            lambda: self.settings,
            directory,
            self,
            schemas=lambda: self._schemas,
            upstreams=self.upstreams,
            renewal=self.renewal,
            upkeep=self.upkeep,
            counters=self.counters,
            isolation=self._isolation,
            spawn=self._spawn,
        )
        self._server = OcppServer(settings.server, self, self._connections.run)
        # Last: a site's balancer already looks at the stations (`_connections`).
        self.upkeep.set_site(settings.site)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._server.port

    @property
    def stations(self) -> Mapping[str, Station]:
        """Every station seen since start, connected or not."""
        return self._connections.stations

    async def start(self) -> None:
        """Load the message schemas (off the loop) and start listening.

        Raises OSError when the port cannot be bound.
        """
        await self._load_schemas()
        if self.journal is not None:
            self._restore(await self.journal.open())
        await self._server.start()
        self.upkeep.start()
        _LOGGER.info("Central system listening on %s:%s", self.settings.server.host, self.port)

    async def _load_schemas(self) -> Mapping[OcppVersion, VersionSchemas]:
        if not self._schemas:
            self._schemas = await asyncio.to_thread(load_all)
        return self._schemas

    async def stop(self) -> None:
        """Close every charger connection and stop listening, then forwarding.

        Forwarding last: what chargers send until they are closed is forwarded too.
        """
        self.upkeep.stop()
        self._reservation_expiry.stop()
        for task in self._tasks:
            task.cancel()
        # Cancelled closes cut their sockets as they end (see `Connections._close_within`).
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._server.stop()
        finally:
            try:
                await self.upstreams.stop()
            except Exception:
                # Forwarding is an extra: the journal still stops.
                _LOGGER.exception("Forwarding did not stop cleanly")
        await self._passwords.close()
        if self.journal is not None:
            await self.journal.close()

    def _restore(self, restored: RestoredJournal) -> None:
        """Go on from the journal: running sessions, last sessions, ids already used."""
        self.transaction_ids.ensure_above(restored.highest_numeric_id)

        restore_stations(
            restored,
            self.ensure_station,
            lambda charger_id: self._directory.find(charger_id) is not None,
        )

    async def start_journal_afresh(self) -> Path | None:
        """Move a damaged journal file aside and write the running sessions to a new one.

        Returns where the old file went (None when there was none).
        """
        if self.journal is None:
            return None
        moved = await self.journal.start_afresh()
        record_sessions(self.journal, self.stations.values())
        await self.journal.flush()
        return moved

    def ensure_station(self, charger_id: str) -> Station:
        """The model of a charger, created (offline) if it has not connected yet.

        Lets the Home Assistant layer bind entities to admitted chargers at start-up,
        before they connect; the connection then fills in the same object.
        """
        return self._connections.ensure_station(charger_id)

    async def set_upstream(
        self,
        charger_id: str,
        settings: UpstreamSettings | None,
        *,
        queue_path: Path | None = None,
        on_status: Callable[[UpstreamStatus], None] | None = None,
        on_command: Callable[[UpstreamCommand], None] | None = None,
    ) -> None:
        """Forward a charger's messages to a second central system (None: no longer).

        Its durable queue lives in `queue_path`; a connected charger is forwarded from
        its next message on. `on_status` is told of every change of the link's status,
        `on_command` of the commands the upstream sent (see `upstream_policy`).
        """
        await self.upstreams.set(
            charger_id,
            settings,
            queue_path=queue_path,
            on_status=on_status,
            on_command=on_command,
        )
        if (connection := self._connections.get(charger_id)) is not None:
            connection.rpc.on_answered = self.upstreams.hook_for(charger_id, connection.version)

    def set_certificate_authority(self, ca: CertificateAuthority | None) -> None:
        """The CA that signs the certificates chargers ask for (None: sign none).

        Loading it is blocking and the caller's (see `certificates.load_or_create_ca`).
        A SignCertificate is answered Rejected while there is none; one answered before
        a change is signed by the CA of its answer.
        """
        self._certificate_authority = ca

    @property
    def certificate_authority(self) -> CertificateAuthority | None:
        """StationHost: the CA that signs chargers' certificates, if any."""
        return self._certificate_authority

    def connection(self, charger_id: str) -> StationAdapter | None:
        """The live connection (its version adapter) of a connected charger."""
        return self._connections.get(charger_id)

    async def execute(
        self, charger_id: str, command: Command, *, timeout: float | None = None
    ) -> CommandResult:
        """Send a command to a charger; an unconnected charger answers OFFLINE at once."""
        connection = self._connections.get(charger_id)
        if connection is None:
            return CommandResult(CommandStatus.OFFLINE)
        return await connection.execute(command, timeout=timeout)

    # -- admission ----------------------------------------------------------------

    async def check(
        self, charger_id: str, password: str | None, certificate: bytes | None, address: str
    ) -> Verdict:
        """ConnectionGate: see `Admission.check`."""
        return await self.admission.check(charger_id, password, certificate, address)

    def decide_boot(self, station: Station) -> BootDecision:
        """StationHost: decide, and record on `station`, the answer to its boot.

        The registration is set before any event goes out: listeners react at once
        (Home Assistant runs update listeners eagerly) and must see the outcome.
        """
        decision = self.admission.boot_decision(station)
        station.registration = decision.status
        record = self._directory.find(station.id)
        station.quirks = quirks_for(station.boot, record.quirks if record else None)
        if record is None:
            if decision.status is RegistrationStatus.ACCEPTED:
                self._isolation.tell(StationAutoAdmitted(station))
            elif decision.status is RegistrationStatus.PENDING:
                self._isolation.tell(AdmissionRequested(station))
        return decision

    def charger_admitted(self, charger_id: str) -> None:
        """The user admitted a charger: if it waits, Pending, ask it to boot again now."""
        self._connections.boot_again(charger_id)

    async def forget_charger(self, charger_id: str) -> None:
        """The user removed a charger: close its connection and drop its state."""
        await self._connections.forget(charger_id)
        await self.upstreams.set(charger_id, None)
        self.upkeep.forget(charger_id)
        self._reservation_expiry.forget(charger_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- StationHost -----------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """StationHost: journal what concerns sessions, then pass the event on.

        Nothing raised here reaches the charger's message handler (which would answer
        an InternalError and could leave its state half changed) or another charger:
        each step fails on its own, logged.
        """
        charger_id = event.station.id
        if self.journal is not None:
            self._isolation.safely(
                charger_id, "journaling an event", record_event, self.journal, event
            )
        if isinstance(event, StationUpdated) and self._became_ready(event):
            self._isolation.safely(
                charger_id, "setting it up", self.upkeep.station_ready, event.station
            )
        if isinstance(event, TransactionStarted | TransactionEnded):
            self._isolation.safely(charger_id, "rebalancing", self.upkeep.sessions_changed)
        if isinstance(event, EvseUpdated) and "status" in event.changed:
            self._isolation.safely(
                charger_id,
                "starting a charging session",
                self.upkeep.evse_changed,
                event.station,
                event.evse,
            )
        if isinstance(event, StationUpdated | CertificateRefused):
            self._isolation.safely(
                charger_id, "following its certificate", self.renewal.observe, event
            )
        if isinstance(event, StationUpdated) and "reservations" in event.changed:
            self._isolation.safely(
                charger_id, "timing reservations", self._reservation_expiry.watch, event.station
            )
        self._isolation.tell(event)

    def _announce_reservations(self, station: Station) -> None:
        """Reservations of a station expired: tell it as any change of them."""
        self.emit(StationUpdated(station, frozenset({Change.RESERVATIONS})))

    # -- what the central system keeps set on its chargers -----------------------------

    def _became_ready(self, event: StationUpdated) -> bool:
        """Whether a station update is the moment to give it our settings.

        That is once its capabilities are learnt (they say what it supports), or when
        learning is off, once its boot is accepted.
        """
        if self.settings.learn_capabilities:
            return "capabilities" in event.changed
        return "registration" in event.changed and event.station.accepted

    @property
    def local_lists(self) -> LocalListSync | None:
        """The local-list sync (with managed tags)."""
        return self.upkeep.local_lists

    @property
    def site(self) -> SiteBalancer | None:
        """The site balancer (with a site)."""
        return self.upkeep.site

    def set_schedules(self, schedules: Mapping[str, WeeklySchedule]) -> None:
        """The chargers' weekly schedules (see `ChargerUpkeep.set_schedules`)."""
        self.upkeep.set_schedules(schedules)

    def refresh_schedules(self) -> None:
        """Send weekly schedules again where daylight saving time moved them."""
        self.upkeep.refresh_defaults()

    def schedule_limit(self, charger_id: str) -> float | None:
        """The limit a charger's weekly schedule sets now (None: none)."""
        return self.upkeep.schedule_limit(charger_id)

    @property
    def cheapest(self) -> CheapestCharging:
        """The cheapest mode's prices, goals and plans (a change wakes the balancer)."""
        return self.upkeep.cheapest

    def set_site(self, settings: SiteSettings | None) -> None:
        """Start, change or stop load balancing (see `ChargerUpkeep.set_site`)."""
        self.upkeep.set_site(settings)

    def authorize(
        self, id_tag: str, station: Station, evse_id: int | None, token_type: str | None
    ) -> AuthorizationDecision:
        """StationHost: decide on a presented tag."""
        return self.authorizer.authorize(id_tag, station, evse_id, token_type)

    def upstream_decision(
        self,
        id_tag: str,
        station: Station,
        token_type: str | None,
        decision: AuthorizationDecision,
    ) -> AuthorizationDecision | Awaitable[AuthorizationDecision]:
        """StationHost: our decision, or the charger's upstream's on a tag we do not know."""
        return self.upstreams.decide(station.id, station.version, id_tag, token_type, decision)

    def may_stop(self, start_tag: str, stop_tag: str) -> bool:
        """StationHost: the authorizer's rule for stopping with another tag."""
        return self.authorizer.may_stop(start_tag, stop_tag)

    def next_transaction_id(self) -> int:
        """StationHost: a new 1.6 transaction id."""
        return self.transaction_ids.next_id()

    @property
    def learn_capabilities(self) -> bool:
        """StationHost: whether to learn capabilities after acceptance."""
        return self.settings.learn_capabilities

    @property
    def balancing_sessions(self) -> bool:
        """StationHost: whether the site balancer sets session limits."""
        return self.upkeep.site is not None

    def plan_for_car(self, station: Station) -> bool:
        """StationHost: a plan serves a car's stated needs in the cheapest mode (at once)."""
        site = self.upkeep.site
        if site is None or not site.plans(station.id):
            return False
        site.wake()
        return True

    def meter_wish(self, station: Station) -> MeterWish | None:
        """StationHost: what this station should sample (its own override, if any)."""
        return self._connections.meter_wish(station)

    def reapply_quirks(self) -> None:
        """Follow a change of chargers' quirk profiles (`Connections.reapply_quirks`)."""
        self._connections.reapply_quirks()

    def set_meter_wish(
        self, wish: MeterWish, overrides: Mapping[str, MeterWish] | None = None
    ) -> None:
        """Change what chargers sample (see `Connections.set_meter_wish`)."""
        self._connections.set_meter_wish(wish, overrides)
