"""The central system: stations, their connections, and who is admitted.

The Home Assistant layer is the source of truth for which chargers are admitted (with
their password hashes) and which were rejected; it answers through a
`ChargerDirectory`. The engine reports what happens through one
`CentralSystemListener`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from .adapter import BootDecision, StationAdapter
from .admission import Admission, AdmissionCounters
from .authorization import AcceptAll, AuthorizationDecision, Authorizer
from .certificate_renewal import CertificateRenewal
from .certificates import CertificateAuthority
from .cheapest import CheapestCharging
from .commands import Command, CommandResult, CommandStatus
from .current_limit import CurrentLimits
from .events import (
    AdmissionRequested,
    CertificateRefused,
    Change,
    Event,
    EvseUpdated,
    LateTransactionMessage,
    StationAutoAdmitted,
    StationConnected,
    StationDisconnected,
    StationUpdated,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from .host import (
    CentralSystemListener,
    CentralSystemSettings,
    ChargerDirectory,
)
from .local_list import LocalListSync
from .log_budget import LogBudget
from .metering_setup import MeterWish
from .ocpp16 import Ocpp16Adapter
from .ocpp201 import Ocpp21Adapter, Ocpp201Adapter
from .password_gate import PasswordGate
from .quirks import quirks_for
from .reservation_upkeep import ReservationExpiry
from .schedule import WeeklySchedule
from .schemas import VersionSchemas, load_all
from .server import OcppServer, Verdict, central_system_url, remote_host
from .sessions import RestoredJournal, SessionJournal
from .site import ChargerLimits, SiteBalancer, SiteSettings
from .station import OcppVersion, RegistrationStatus, Station
from .tls import peer_certificate
from .transaction_ids import TransactionIdAllocator
from .upkeep import ChargerUpkeep
from .upstream_bridge import ChargerBridge
from .upstream_policy import UpstreamCommand
from .upstream_settings import UpstreamSettings, UpstreamStatus
from .upstreams import Upstreams

_LOGGER = logging.getLogger(__name__)

_ADAPTERS: dict[OcppVersion, type[StationAdapter]] = {
    OcppVersion.V16: Ocpp16Adapter,
    OcppVersion.V201: Ocpp201Adapter,
    OcppVersion.V21: Ocpp21Adapter,
}

# Stations kept of chargers that connected, were not admitted and are gone again.
MAX_STRANGERS = 100

# WebSocket close code for a connection superseded by a newer one from the same charger.
CLOSE_REPLACED = 4000
# How long a replaced or forgotten connection gets to finish the close handshake before
# its socket is cut: a charger that reconnected left the old one dead, as a rule.
_CLOSE_WAIT = 5.0


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
        self._listener = listener
        self.authorizer: Authorizer = authorizer or AcceptAll()
        self.transaction_ids = transaction_ids or TransactionIdAllocator()
        self._server = OcppServer(settings.server, self, self._run_station)
        self._schemas: Mapping[OcppVersion, VersionSchemas] = {}
        self._stations: dict[str, Station] = {}
        self._connections: dict[str, StationAdapter] = {}
        # Each live connection's socket: what is cut when a connection will not close.
        self._sockets: dict[StationAdapter, ServerConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._passwords = PasswordGate()
        self._meter_wish = MeterWish(
            settings.meter_measurands, settings.meter_interval_s, settings.meter_edge_measurands
        )
        self._meter_overrides: Mapping[str, MeterWish] = settings.meter_overrides
        # What failing listeners (and upkeep) may make us log: a few tracebacks per
        # charger per ten minutes, and a bound for all chargers together.
        self._failure_log = LogBudget(per_source=3, overall=30, period_s=600.0)
        self.counters = AdmissionCounters()
        self.admission = Admission(settings, directory, self._passwords, self.counters)
        self._reservation_expiry = ReservationExpiry(self._announce_reservations)
        self.upkeep = ChargerUpkeep(
            self.authorizer,
            self.execute,
            self._spawn,
            stations=lambda: list(self._stations.values()),
            is_admitted=lambda charger_id: self._directory.find(charger_id) is not None,
            chargers=chargers,
        )
        self.upkeep.set_site(settings.site)
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
            stations=lambda: list(self._stations.values()),
            is_admitted=lambda charger_id: self._directory.find(charger_id) is not None,
        )
        self.upkeep.renewal = self.renewal

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._server.port

    @property
    def stations(self) -> Mapping[str, Station]:
        """Every station seen since start, connected or not."""
        return self._stations

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
        # Cancelled closes cut their sockets as they end (see `_close_within`).
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

        # Chargers removed since keep their rows, but get no station back.
        def admitted(charger_id: str) -> bool:
            return self._directory.find(charger_id) is not None

        for record in restored.last_ended:
            if admitted(record.charger_id):
                station = self.ensure_station(record.charger_id)
                station.evse(record.evse_id).last_transaction = record.to_transaction()
        for record in restored.active:
            if admitted(record.charger_id):
                station = self.ensure_station(record.charger_id)
                station.evse(record.evse_id).transaction = record.to_transaction()
        for charger_id, closed in restored.closed_ids.items():
            if admitted(charger_id):
                self.ensure_station(charger_id).closed_transactions.extend(closed)
        if restored.active:
            _LOGGER.info(
                "Going on with %s charging sessions that were running at the last stop",
                len(restored.active),
            )

    async def start_journal_afresh(self) -> Path | None:
        """Move a damaged journal file aside and write the running sessions to a new one.

        Returns where the old file went (None when there was none).
        """
        if self.journal is None:
            return None
        moved = await self.journal.start_afresh()
        for station in self._stations.values():
            for evse in station.evses.values():
                for transaction in (evse.transaction, evse.last_transaction):
                    if transaction is not None:
                        self.journal.record(station.id, transaction)
        await self.journal.flush()
        return moved

    def ensure_station(self, charger_id: str) -> Station:
        """The model of a charger, created (offline) if it has not connected yet.

        Lets the Home Assistant layer bind entities to admitted chargers at start-up,
        before they connect; the connection then fills in the same object.
        """
        station = self._stations.get(charger_id)
        if station is None:
            station = self._stations[charger_id] = Station(charger_id)
        return station

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
                self._tell(StationAutoAdmitted(station))
            elif decision.status is RegistrationStatus.PENDING:
                self._tell(AdmissionRequested(station))
        return decision

    def charger_admitted(self, charger_id: str) -> None:
        """The user admitted a charger: if it waits, Pending, ask it to boot again now."""
        connection = self._connections.get(charger_id)
        if connection is None or connection.station.accepted:
            return
        self._spawn(self._retrigger_boot(connection))

    async def _retrigger_boot(self, connection: StationAdapter) -> None:
        result: CommandResult = await connection.request_boot_notification()
        if not result.accepted:
            _LOGGER.info(
                "Charger %s did not accept a boot request (%s); it is admitted at its next boot",
                connection.station.id,
                result.status,
            )

    async def forget_charger(self, charger_id: str) -> None:
        """The user removed a charger: close its connection and drop its state."""
        connection = self._connections.get(charger_id)
        if connection is not None:
            await self._close_within(connection, 1000, "Removed")
        self._stations.pop(charger_id, None)
        await self.upstreams.set(charger_id, None)
        self.upkeep.forget(charger_id)
        self._reservation_expiry.forget(charger_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_within(self, connection: StationAdapter, code: int, reason: str) -> None:
        """Close a connection's socket, cutting it when the close handshake takes too long.

        Also cut when cancelled (at stop): a socket we gave up on must not linger until
        pings find it dead.
        """
        try:
            async with asyncio.timeout(_CLOSE_WAIT):
                await connection.close(code, reason)
        except TimeoutError:
            _LOGGER.info(
                "Charger %s did not finish closing a connection in time; cut it",
                connection.station.id,
            )
        finally:
            socket = self._sockets.get(connection)
            if socket is not None and socket.state is not State.CLOSED:
                socket.transport.abort()

    # -- charger connections ---------------------------------------------------------

    async def _run_station(
        self, charger_id: str, version: OcppVersion, socket: ServerConnection
    ) -> None:
        station = self._station_connecting(charger_id, version, socket)
        connection = _ADAPTERS[version](
            station,
            socket,
            self._schemas[version],
            self,
            call_timeout=self.settings.call_timeout,
        )
        connection.rpc.on_answered = self.upstreams.hook_for(charger_id, version)
        # Register the new connection before closing the old one, so that the old one's
        # end is not reported as the station going offline. From here on, whatever
        # happens, the `finally` unregisters it: a connection left registered would make
        # every later connection of the charger a replacement, shown online for good.
        previous = self._connections.get(charger_id)
        self._connections[charger_id] = connection
        self._sockets[connection] = socket
        try:
            if previous is not None:
                # The old connection is usually dead (that is why the charger came
                # back): serve the new one now, and close the old one on the side.
                _LOGGER.info(
                    "Charger %s connected again; closing its previous connection", charger_id
                )
                self._spawn(
                    self._close_within(previous, CLOSE_REPLACED, "Replaced by a new connection")
                )
                # This frame lives as long as the new connection: holding the old one
                # here would keep it (socket, buffers, adapter) for as long.
                previous = None
            # Known before the listener hears of the connection (the expiry it shows).
            certificate = peer_certificate(socket)
            self._safely(
                charger_id, "reading its certificate", self.renewal.connected, station, certificate
            )
            self._connection_started(connection)
            await connection.serve()
        finally:
            del self._sockets[connection]
            if self._connections.get(charger_id) is connection:
                del self._connections[charger_id]
                station.connected = False
                self._tell(StationDisconnected(station))
                self._forget_strangers()

    def _forget_strangers(self) -> None:
        """Bound the stations of chargers nobody admitted that are gone again.

        Under the ask policy any charger id may connect (to be admitted), and each one
        leaves a station: a scan with ever new ids must not grow it without end. The
        oldest of those beyond MAX_STRANGERS are forgotten.
        """
        strangers = [
            charger_id
            for charger_id, station in self._stations.items()
            if not station.connected and self._directory.find(charger_id) is None
        ]
        for charger_id in strangers[: max(len(strangers) - MAX_STRANGERS, 0)]:
            del self._stations[charger_id]

    def _station_connecting(
        self, charger_id: str, version: OcppVersion, connection: ServerConnection
    ) -> Station:
        station = self.ensure_station(charger_id)
        station.version = version
        station.connected = True
        station.remote_address = remote_host(connection)
        station.central_system_url = central_system_url(
            connection, tls=self.settings.server.ssl_context is not None
        )
        station.last_seen = datetime.now(UTC)
        # A known charger that reconnects without rebooting (or after Home Assistant
        # restarted) goes on where it was; an unknown one must boot to be admitted.
        if self._directory.find(charger_id) is not None:
            station.registration = RegistrationStatus.ACCEPTED
        elif station.registration is RegistrationStatus.ACCEPTED:
            station.registration = None
        return station

    def _connection_started(self, connection: StationAdapter) -> None:
        station = connection.station
        self.counters.connections += 1
        _LOGGER.debug(
            "Charger %s connected from %s (%s)", station.id, station.remote_address, station.version
        )
        self._tell(StationConnected(station))
        if station.accepted:
            connection.rpc.spawn(self._follow_up_reconnect(connection))

    async def _follow_up_reconnect(self, connection: StationAdapter) -> None:
        """Bring a known charger up to date once it has had its say.

        A charger that connects usually boots at once, and some ignore every request
        until their boot is answered: a call sent the moment the socket opens would
        cross the boot and wait out its timeout. So wait until the charger's first
        message is answered (or it stayed silent for FIRST_WORD_WAIT_S). If that was
        a boot, its answer brings the follow-ups (learning, then the set-up), once.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.first_word_wait_s):
                await connection.rpc.first_answer_sent.wait()
        station = connection.station
        if connection.booted or not station.accepted:
            return
        if station.capabilities is None and self.settings.learn_capabilities:
            # Known but not learnt in this run (Home Assistant restarted): chargers only
            # boot when they restart, so learn now; the set-up follows it.
            await connection.learn_capabilities()
            return
        # Tags may have changed while it was away.
        self._safely(station.id, "setting it up", self.upkeep.station_ready, station)

    # -- StationHost -----------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """StationHost: journal what concerns sessions, then pass the event on.

        Nothing raised here reaches the charger's message handler (which would answer
        an InternalError and could leave its state half changed) or another charger:
        each step fails on its own, logged.
        """
        charger_id = event.station.id
        if self.journal is not None:
            self._safely(charger_id, "journaling an event", self._journal, event)
        if isinstance(event, StationUpdated) and self._became_ready(event):
            self._safely(charger_id, "setting it up", self.upkeep.station_ready, event.station)
        if isinstance(event, TransactionStarted | TransactionEnded):
            self._safely(charger_id, "rebalancing", self.upkeep.sessions_changed)
        if isinstance(event, EvseUpdated) and "status" in event.changed:
            self._safely(
                charger_id,
                "starting a charging session",
                self.upkeep.evse_changed,
                event.station,
                event.evse,
            )
        if isinstance(event, StationUpdated | CertificateRefused):
            self._safely(charger_id, "following its certificate", self.renewal.observe, event)
        if isinstance(event, StationUpdated) and "reservations" in event.changed:
            self._safely(
                charger_id, "timing reservations", self._reservation_expiry.watch, event.station
            )
        self._tell(event)

    def _announce_reservations(self, station: Station) -> None:
        """Reservations of a station expired: tell it as any change of them."""
        self.emit(StationUpdated(station, frozenset({Change.RESERVATIONS})))

    def _journal(self, event: Event) -> None:
        assert self.journal is not None
        match event:
            case (
                TransactionStarted(station=station, transaction=transaction)
                | TransactionUpdated(station=station, transaction=transaction)
                | TransactionEnded(station=station, transaction=transaction)
            ):
                self.journal.record(station.id, transaction)
            case LateTransactionMessage(station=station, transaction_id=tid, action=action):
                self.journal.record_late_message(station.id, tid, action)

    def _tell(self, event: Event) -> None:
        """Pass an event to the listener; what it raises is logged, never passed on."""
        try:
            self._listener.handle(event)
        except Exception:
            self._log_failure(event.station.id, f"handling {type(event).__name__}")

    def _safely[*A](
        self, charger_id: str, what: str, work: Callable[[*A], None], *args: *A
    ) -> None:
        """Run `work` for one charger; a failure is logged, never passed on."""
        try:
            work(*args)
        except Exception:
            self._log_failure(charger_id, what)

    def _log_failure(self, charger_id: str, what: str) -> None:
        """Log the exception being handled, within a budget per charger.

        Home Assistant may refuse a state, or a listener may have a bug: that must not
        end the charger's connection, lock it out, or flood the log.
        """
        left_out = self._failure_log.take(charger_id)
        if left_out is None:
            return
        note = f" ({left_out} similar failures left out)" if left_out else ""
        _LOGGER.exception("Charger %s: failed %s%s", charger_id, what, note)

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
        if (override := self._meter_overrides.get(station.id)) is not None:
            return override
        return self._meter_wish

    def reapply_quirks(self) -> None:
        """Follow a change of the quirk profiles named in chargers' settings.

        A connected charger whose profile changed learns its capabilities again (they
        are corrected by the profile) and is told its metering again.
        """
        for station in self._stations.values():
            record = self._directory.find(station.id)
            quirks = quirks_for(station.boot, record.quirks if record else None)
            if quirks == station.quirks:
                continue
            station.quirks = quirks
            connection = self._connections.get(station.id)
            if connection is not None and station.accepted and station.capabilities is not None:
                connection.rpc.spawn(connection.learn_capabilities())
            self._tell(StationUpdated(station, frozenset({Change.QUIRKS})))

    def set_meter_wish(
        self, wish: MeterWish, overrides: Mapping[str, MeterWish] | None = None
    ) -> None:
        """Change what chargers sample (per charger: `overrides`).

        Those connected, learnt and concerned are set at once.
        """
        overrides = dict(overrides or {})
        changed = {
            station.id
            for station in self._stations.values()
            if overrides.get(station.id, wish) != self.meter_wish(station)
        }
        self._meter_wish, self._meter_overrides = wish, overrides
        for charger_id in changed:
            connection = self._connections.get(charger_id)
            if (
                connection
                and connection.station.capabilities is not None
                and connection.station.accepted
            ):
                connection.rpc.spawn(connection.apply_meter_settings())
