"""The WebSocket side of the central system: who may connect, and in which version.

Before a connection is upgraded this module
- reads the charger id from the last segment of the URL path (URL-decoded);
- asks a `ConnectionGate` whether the charger may connect, passing the HTTP Basic Auth
  password (OCPP security profiles 1 and 2: the user name is the charger id), the
  client certificate the charger presented over TLS (profile 3) and the peer's address;
- answers HTTP 400 / 401 / 403 / 429 / 503 instead of upgrading when it may not (a
  request it cannot read is refused too, never answered with a 500);
- picks the subprotocol, preferring 2.1, then 2.0.1, then 1.6.
An admitted connection is handed to a `StationRunner` together with its version.
"""

from __future__ import annotations

import base64
import binascii
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .log_budget import LogBudget
from .station import SUBPROTOCOL_PREFERENCE, OcppVersion
from .tls import peer_certificate

_LOGGER = logging.getLogger(__name__)

# OCPP 2.x limits the identity to 48 characters; 1.6 chargers use fewer.
MAX_CHARGER_ID_LENGTH = 48
_MAX_REMEMBERED_REFUSALS = 1000
# Longer than any Basic credentials a charger sends (a 48-character id and a password
# of a few dozen), short enough that nothing is decoded from a header built to cost.
MAX_AUTHORIZATION_LENGTH = 1024
# What a refused charger is told to wait (few honour it): a failure window, and a pause
# for the password checks in progress to drain.
_RETRY_AFTER_S = {HTTPStatus.TOO_MANY_REQUESTS: 60, HTTPStatus.SERVICE_UNAVAILABLE: 10}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Where and how the server listens."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    # WebSocket pings find dead connections sooner than OCPP heartbeats do.
    ping_interval: float | None = 60.0
    ping_timeout: float | None = 30.0
    # After a failed ping or a close, how long a silent peer gets before the TCP
    # connection is cut: a dead charger is offline after interval + timeout + this.
    close_timeout: float = 10.0
    # Large enough for a full NotifyReport or local list, small enough to bound memory.
    max_frame_bytes: int = 1024 * 1024


def charger_compression() -> ServerPerMessageDeflateFactory:
    """permessage-deflate, which OCPP-J 2.x requires of a central system, sized for many chargers.

    websockets' default keeps a compressor of about 38 KB per connection for what we
    send: mostly short CALLRESULTs, which gain little from a window shared between
    messages. Without context takeover on our side a compressor lives only while one
    message is compressed (about 2 µs more per message). What chargers send keeps its
    shared window, because meter values repeat their keys message after message.
    """
    return ServerPerMessageDeflateFactory(
        server_no_context_takeover=True,
        server_max_window_bits=12,
        client_max_window_bits=12,
        compress_settings={"memLevel": 5},
    )


class ChargerConnection(ServerConnection):
    """A charger's connection, freed by reference counting as soon as it is lost.

    Left in a reference cycle, a connection that ended (its socket, buffers and
    decompressor, 40 to 80 objects) waits for the cycle collector, and when a thousand
    connections end together, as in a reconnect storm, the collector frees them in one
    pass over all of Home Assistant's heap, which stopped its event loop for about a
    second. websockets (17.4) leaves three such cycles, all broken here once the
    connection is lost, when none of them is used again.
    """

    def connection_lost(self, exc: Exception | None) -> None:
        """Let websockets finish the connection, then break its reference cycles."""
        super().connection_lost(exc)
        protocol = self.protocol
        # Our subprotocol choice, kept as a closure over this connection.
        vars(protocol).pop("select_subprotocol", None)
        # The parser, a generator that holds the protocol; at the end of the stream it
        # is never stepped again.
        if (parser := getattr(protocol, "parser", None)) is not None:
            parser.close()
        # The error that ended a connection without a closing handshake (a cut
        # connection's EOFError, a frame too big): its traceback holds the parser.
        if (error := getattr(protocol, "parser_exc", None)) is not None:
            error.__traceback__ = None


class Verdict(StrEnum):
    """Whether a charger may open its connection."""

    ALLOW = "allow"
    UNAUTHORIZED = "unauthorized"  # missing or wrong password: HTTP 401
    FORBIDDEN = "forbidden"  # refused outright: HTTP 403
    THROTTLED = "throttled"  # too many wrong passwords lately: HTTP 429
    BUSY = "busy"  # too many password checks waiting: HTTP 503
    # Security profile 3, HTTP 403 (never 401: a password would not do).
    NO_CERTIFICATE = "no_certificate"  # no client certificate presented
    WRONG_CERTIFICATE = "wrong_certificate"  # a certificate for another charger
    EXPIRED_CERTIFICATE = "expired_certificate"  # out of its dates


_STATUS_OF = {
    Verdict.UNAUTHORIZED: HTTPStatus.UNAUTHORIZED,
    Verdict.FORBIDDEN: HTTPStatus.FORBIDDEN,
    Verdict.THROTTLED: HTTPStatus.TOO_MANY_REQUESTS,
    Verdict.BUSY: HTTPStatus.SERVICE_UNAVAILABLE,
    Verdict.NO_CERTIFICATE: HTTPStatus.FORBIDDEN,
    Verdict.WRONG_CERTIFICATE: HTTPStatus.FORBIDDEN,
    Verdict.EXPIRED_CERTIFICATE: HTTPStatus.FORBIDDEN,
}

_REASON_OF = {
    Verdict.FORBIDDEN: "unknown charger",
    Verdict.THROTTLED: "too many wrong passwords lately; refused unchecked for up to a minute",
    Verdict.NO_CERTIFICATE: "no client certificate, which security profile 3 requires",
    Verdict.WRONG_CERTIFICATE: "its client certificate is not this charger's",
    Verdict.EXPIRED_CERTIFICATE: "its client certificate has expired or is not valid yet",
}


class ConnectionGate(Protocol):
    """Decides, before the upgrade, whether a charger may connect."""

    async def check(
        self, charger_id: str, password: str | None, certificate: bytes | None, address: str
    ) -> Verdict:
        """The verdict for `charger_id` presenting `password` and `certificate` from `address`.

        `certificate` is the DER client certificate, already verified by TLS to chain to
        the trusted CA (all but its dates, see `tls.build_ssl_context`); None: none.
        """


StationRunner = Callable[[str, OcppVersion, ServerConnection], Awaitable[None]]


def charger_id_from_path(path: str) -> str | None:
    """The charger id in a request path, or None when it is empty or too long."""
    segment = unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])
    if not segment or len(segment) > MAX_CHARGER_ID_LENGTH or not segment.isprintable():
        return None
    return segment


class BadAuthorization(Exception):
    """An Authorization header that cannot be read; refused with `status`."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        """A refusal with `status`, and a short `reason` for the log."""
        super().__init__(reason)
        self.status = status
        self.reason = reason


def basic_auth_password(headers: Headers, charger_id: str) -> str | None:
    """The Basic Auth password sent for `charger_id`, or None when there is none.

    Credentials for another user name, or of another scheme, count as none. Raises
    BadAuthorization for a header that is repeated (400) or unreadable (401).
    """
    values = headers.get_all("Authorization")
    if len(values) > 1:
        raise BadAuthorization(HTTPStatus.BAD_REQUEST, "more than one Authorization header")
    header = values[0].strip() if values else ""
    if not header.lower().startswith("basic "):
        return None
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        raise BadAuthorization(HTTPStatus.UNAUTHORIZED, "oversized credentials")
    try:
        # ValueError too: headers are read as Latin-1, and b64decode refuses non-ASCII.
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except binascii.Error, UnicodeDecodeError, ValueError:
        raise BadAuthorization(HTTPStatus.UNAUTHORIZED, "unreadable credentials") from None
    user, separator, password = decoded.partition(":")
    if not separator:
        raise BadAuthorization(HTTPStatus.UNAUTHORIZED, "credentials without a password")
    if user != charger_id:
        return None
    return password


def choose_subprotocol(offered: Sequence[str]) -> str | None:
    """The subprotocol to answer with: our preferred one among those offered."""
    by_name = {name.lower(): name for name in offered}
    for version in SUBPROTOCOL_PREFERENCE:
        if version.value in by_name:
            return by_name[version.value]
    return None


def version_of(subprotocol: str | None) -> OcppVersion:
    """The protocol version of a negotiated subprotocol; none means 1.6."""
    if subprotocol is None:
        return OcppVersion.V16
    return OcppVersion(subprotocol.lower())


class OcppServer:
    """A WebSocket server for OCPP chargers."""

    def __init__(self, settings: ServerSettings, gate: ConnectionGate, run: StationRunner) -> None:
        """Prepare the server; `start` binds the port."""
        self._settings = settings
        self._gate = gate
        self._run = run
        self._server: Server | None = None
        # Chargers whose refusal was logged: a charger retrying with a wrong password
        # every few seconds gets one warning, not one per attempt.
        self._refusals_logged: set[str] = set()
        # A storm of chargers refused while password checks are busy: a line a minute.
        self._busy_log = LogBudget(per_source=1, overall=1, period_s=60.0)
        # First refusals are warnings, but a scan with ever new charger ids (or none)
        # must not write a line per attempt: at most 20 such warnings per 10 minutes.
        self._refusal_log = LogBudget(per_source=20, overall=20, period_s=600.0)

    @property
    def port(self) -> int:
        """The port actually bound (useful when the settings ask for port 0)."""
        if self._server is None:
            raise RuntimeError("The server is not running")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and listen. Raises OSError when the address is unavailable."""
        settings = self._settings
        self._server = await serve(
            self._handle,
            settings.host,
            settings.port,
            ssl=settings.ssl_context,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            subprotocols=[Subprotocol(version.value) for version in SUBPROTOCOL_PREFERENCE],
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            close_timeout=settings.close_timeout,
            max_size=settings.max_frame_bytes,
            extensions=[charger_compression()],
            create_connection=ChargerConnection,
            # Server header without a version: nothing to fingerprint.
            server_header="OCPP Central System",
        )

    async def stop(self) -> None:
        """Stop listening and close every charger connection."""
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None

    def _select_subprotocol(
        self, _connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        chosen = choose_subprotocol(offered)
        if chosen is None and offered:
            _LOGGER.warning(
                "A charger offered only unsupported subprotocols %s; treating it as OCPP 1.6",
                ", ".join(offered),
            )
        return Subprotocol(chosen) if chosen else None

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        charger_id = charger_id_from_path(request.path)
        address = remote_host(connection)
        if charger_id is None:
            level = logging.DEBUG if self._refusal_log.take("refusals") is None else logging.WARNING
            _LOGGER.log(
                level, "Refused a connection from %s: no valid charger id in the URL", address
            )
            return connection.respond(HTTPStatus.BAD_REQUEST, "No valid charger id in the URL\n")
        try:
            password = basic_auth_password(request.headers, charger_id)
        except BadAuthorization as bad:
            self._log_refusal(charger_id, address, bad.reason)
            return _refusal(connection, bad.status)
        certificate = peer_certificate(connection)
        verdict = await self._gate.check(charger_id, password, certificate, address)
        if verdict is Verdict.ALLOW:
            self._refusals_logged.discard(charger_id)
            return None
        self._log_verdict(verdict, charger_id, address, password is None)
        return _refusal(connection, _STATUS_OF[verdict])

    def _log_verdict(
        self, verdict: Verdict, charger_id: str, address: str, no_password: bool
    ) -> None:
        match verdict:
            case Verdict.UNAUTHORIZED:
                reason = "missing password" if no_password else "wrong password"
            case Verdict.BUSY:
                self._log_busy(charger_id, address)
                return
            case _:
                reason = _REASON_OF.get(verdict, verdict.value)
        self._log_refusal(charger_id, address, reason)

    def _log_refusal(self, charger_id: str, address: str, reason: str) -> None:
        """A warning for the first refusal of a charger, debug lines for its retries."""
        if charger_id in self._refusals_logged or self._refusal_log.take("refusals") is None:
            _LOGGER.debug("Refused charger %s from %s: %s", charger_id, address, reason)
            return
        if len(self._refusals_logged) >= _MAX_REMEMBERED_REFUSALS:
            self._refusals_logged.clear()  # bounded against scans with random ids
        self._refusals_logged.add(charger_id)
        _LOGGER.warning(
            "Refused charger %s from %s: %s (further attempts are logged at debug level)",
            charger_id,
            address,
            reason,
        )

    def _log_busy(self, charger_id: str, address: str) -> None:
        left_out = self._busy_log.take("busy")
        if left_out is None:
            _LOGGER.debug("Refused charger %s from %s: password checks busy", charger_id, address)
            return
        _LOGGER.warning(
            "Refused charger %s from %s: too many password checks waiting; it may retry "
            "(%s more refused so since the last such line)",
            charger_id,
            address,
            left_out,
        )

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # set once the handshake is done
        charger_id = charger_id_from_path(connection.request.path)
        assert charger_id is not None  # _process_request refused the others
        await self._run(charger_id, version_of(connection.subprotocol), connection)


def _refusal(connection: ServerConnection, status: HTTPStatus) -> Response:
    """An HTTP answer refusing the upgrade, with what a client needs to try again."""
    response = connection.respond(status, f"{status.phrase}\n")
    if status is HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
    if (retry_after := _RETRY_AFTER_S.get(status)) is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def remote_host(connection: ServerConnection) -> str:
    """The peer's IP address as text."""
    try:
        host = connection.remote_address[0]
    except TypeError, IndexError:
        return "unknown address"
    return str(host)


def central_system_url(connection: ServerConnection, *, tls: bool) -> str | None:
    """The URL a charger connected to, without its own id: what it would be told to use.

    Built from the request's Host header and path, so it is the address the charger
    itself reached us at (not our listening address, which may be 0.0.0.0). None when
    the request has no Host header.
    """
    request = connection.request
    host = request.headers.get("Host") if request is not None else None
    if request is None or not host or not host.isprintable() or len(host) > 255:
        return None
    base = urlsplit(request.path).path.rstrip("/").rsplit("/", 1)[0]
    return f"{'wss' if tls else 'ws'}://{host}{base}"
