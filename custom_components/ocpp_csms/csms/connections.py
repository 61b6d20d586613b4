"""Every charger's station and live connection, from its first frame to its end.

A connection is served by its version's adapter; a charger that connects again replaces
its previous connection (closed on the side, cut when it will not close); a known
charger that reconnects is brought up to date once it has had its say. What live
connections are told when settings change (quirk profiles, metering) goes through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from .adapter import StationAdapter
from .admission import AdmissionCounters
from .certificate_renewal import CertificateRenewal
from .commands import CommandResult
from .events import Change, StationConnected, StationDisconnected, StationUpdated
from .host import CentralSystemSettings, ChargerDirectory
from .isolation import FailureIsolation
from .metering_setup import MeterWish
from .ocpp16 import Ocpp16Adapter
from .ocpp201 import Ocpp21Adapter, Ocpp201Adapter
from .quirks import quirks_for
from .schemas import VersionSchemas
from .server import central_system_url, remote_host
from .station import OcppVersion, RegistrationStatus, Station
from .station_host import StationHost
from .tls import peer_certificate
from .upkeep import ChargerUpkeep
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


class Connections:
    """The stations seen since start, and the live connection of each connected one."""

    def __init__(
        self,
        settings: Callable[[], CentralSystemSettings],
        directory: ChargerDirectory,
        host: StationHost,
        *,
        schemas: Callable[[], Mapping[OcppVersion, VersionSchemas]],
        upstreams: Upstreams,
        renewal: CertificateRenewal,
        upkeep: ChargerUpkeep,
        counters: AdmissionCounters,
        isolation: FailureIsolation,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        """Serve connections for `host`; `schemas` are loaded before the first one.

        `settings` are read at each use: whoever runs the central system may replace them.
        """
        self._settings = settings
        self._directory = directory
        self._host = host
        self._schemas = schemas
        self._upstreams = upstreams
        self._renewal = renewal
        self._upkeep = upkeep
        self._counters = counters
        self._isolation = isolation
        self._spawn = spawn
        self.stations: dict[str, Station] = {}
        self._live: dict[str, StationAdapter] = {}
        # Each live connection's socket: what is cut when a connection will not close.
        self._sockets: dict[StationAdapter, ServerConnection] = {}
        self._meter_wish = MeterWish(
            settings().meter_measurands,
            settings().meter_interval_s,
            settings().meter_edge_measurands,
        )
        self._meter_overrides: Mapping[str, MeterWish] = settings().meter_overrides

    def ensure_station(self, charger_id: str) -> Station:
        """The model of a charger, created (offline) if it has not connected yet."""
        station = self.stations.get(charger_id)
        if station is None:
            station = self.stations[charger_id] = Station(charger_id)
        return station

    def get(self, charger_id: str) -> StationAdapter | None:
        """The live connection (its version adapter) of a connected charger."""
        return self._live.get(charger_id)

    async def forget(self, charger_id: str) -> None:
        """Close a charger's connection (if any) and drop its station."""
        connection = self._live.get(charger_id)
        if connection is not None:
            await self._close_within(connection, 1000, "Removed")
        self.stations.pop(charger_id, None)

    def reapply_quirks(self) -> None:
        """Follow a change of the quirk profiles named in chargers' settings.

        A connected charger whose profile changed learns its capabilities again (they
        are corrected by the profile) and is told its metering again.
        """
        for station in self.stations.values():
            record = self._directory.find(station.id)
            quirks = quirks_for(station.boot, record.quirks if record else None)
            if quirks == station.quirks:
                continue
            station.quirks = quirks
            connection = self._live.get(station.id)
            if connection is not None and station.accepted and station.capabilities is not None:
                connection.rpc.spawn(connection.learn_capabilities())
            self._isolation.tell(StationUpdated(station, frozenset({Change.QUIRKS})))

    def meter_wish(self, station: Station) -> MeterWish | None:
        """What this station should sample (its own override, if any)."""
        if (override := self._meter_overrides.get(station.id)) is not None:
            return override
        return self._meter_wish

    def set_meter_wish(
        self, wish: MeterWish, overrides: Mapping[str, MeterWish] | None = None
    ) -> None:
        """Change what chargers sample (per charger: `overrides`).

        Those connected, learnt and concerned are set at once.
        """
        overrides = dict(overrides or {})
        changed = {
            station.id
            for station in self.stations.values()
            if overrides.get(station.id, wish) != self.meter_wish(station)
        }
        self._meter_wish, self._meter_overrides = wish, overrides
        for charger_id in changed:
            connection = self._live.get(charger_id)
            if (
                connection
                and connection.station.capabilities is not None
                and connection.station.accepted
            ):
                connection.rpc.spawn(connection.apply_meter_settings())

    def boot_again(self, charger_id: str) -> None:
        """Ask a connected charger that waits (Pending) to boot again now."""
        connection = self._live.get(charger_id)
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

    async def run(self, charger_id: str, version: OcppVersion, socket: ServerConnection) -> None:
        """Serve one admitted connection until it ends (the server's handler)."""
        station = self._station_connecting(charger_id, version, socket)
        connection = _ADAPTERS[version](
            station,
            socket,
            self._schemas()[version],
            self._host,
            call_timeout=self._settings().call_timeout,
        )
        connection.rpc.on_answered = self._upstreams.hook_for(charger_id, version)
        # Register the new connection before closing the old one, so that the old one's
        # end is not reported as the station going offline. From here on, whatever
        # happens, the `finally` unregisters it: a connection left registered would make
        # every later connection of the charger a replacement, shown online for good.
        previous = self._live.get(charger_id)
        self._live[charger_id] = connection
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
            self._isolation.safely(
                charger_id,
                "reading its certificate",
                self._renewal.connected,
                station,
                certificate,
            )
            self._connection_started(connection)
            await connection.serve()
        finally:
            del self._sockets[connection]
            if self._live.get(charger_id) is connection:
                del self._live[charger_id]
                station.connected = False
                self._isolation.tell(StationDisconnected(station))
                self._forget_strangers()

    def _forget_strangers(self) -> None:
        """Bound the stations of chargers nobody admitted that are gone again.

        Under the ask policy any charger id may connect (to be admitted), and each one
        leaves a station: a scan with ever new ids must not grow it without end. The
        oldest of those beyond MAX_STRANGERS are forgotten.
        """
        strangers = [
            charger_id
            for charger_id, station in self.stations.items()
            if not station.connected and self._directory.find(charger_id) is None
        ]
        for charger_id in strangers[: max(len(strangers) - MAX_STRANGERS, 0)]:
            del self.stations[charger_id]

    def _station_connecting(
        self, charger_id: str, version: OcppVersion, connection: ServerConnection
    ) -> Station:
        station = self.ensure_station(charger_id)
        station.version = version
        station.connected = True
        station.remote_address = remote_host(connection)
        station.central_system_url = central_system_url(
            connection, tls=self._settings().server.ssl_context is not None
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
        self._counters.connections += 1
        _LOGGER.debug(
            "Charger %s connected from %s (%s)", station.id, station.remote_address, station.version
        )
        self._isolation.tell(StationConnected(station))
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
            async with asyncio.timeout(self._settings().first_word_wait_s):
                await connection.rpc.first_answer_sent.wait()
        station = connection.station
        if connection.booted or not station.accepted:
            return
        if station.capabilities is None and self._settings().learn_capabilities:
            # Known but not learnt in this run (Home Assistant restarted): chargers only
            # boot when they restart, so learn now; the set-up follows it.
            await connection.learn_capabilities()
            return
        # Tags may have changed while it was away.
        self._isolation.safely(station.id, "setting it up", self._upkeep.station_ready, station)
