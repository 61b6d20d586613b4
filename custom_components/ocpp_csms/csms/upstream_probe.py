"""A connection test for an upstream (see `upstream`): can we reach it, as whom, in what.

`probe_upstream` opens the WebSocket exactly as `UpstreamLink` would (the settings'
endpoint, subprotocol, Basic authentication and, for wss://, the system's trusted
certificates), then closes it, within a bounded time. It says which of the usual
mistakes it met: a wrong address, a refused password, a backend that does not speak the
charger's OCPP version, a certificate that is not trusted.

It sends nothing over the connection, in particular no BootNotification: a boot is how
a charger announces itself, and a backend records it (a new or changed station, its
firmware and serial number, maybe a Pending admission someone must act on). A test
that booted would register a made-up boot, or the charger's last one out of turn; the
handshake alone already proves the address, the TLS, the credentials and the version.
The link sends the charger's real boot once it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from enum import StrEnum

from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI, NegotiationError
from websockets.uri import parse_uri

from .upstream_settings import UpstreamSettings
from .upstream_socket import MAX_FRAME_BYTES, open_upstream_socket

# The whole test (name lookup, TCP, TLS, the handshake and the close) takes at most this.
PROBE_TIMEOUT_S = 10.0
# What a detail may cost in a form or a log line.
MAX_DETAIL = 200


class ProbeResult(StrEnum):
    """How a connection test ended."""

    OK = "ok"
    INVALID_URL = "invalid_url"  # not a ws:// or wss:// URL with a host
    UNREACHABLE = "unreachable"  # no answer: name, address, port, firewall, timeout
    TLS_FAILED = "tls_failed"  # wss:// and its certificate is not trusted (or no TLS)
    CREDENTIALS_REFUSED = "credentials_refused"  # HTTP 401 / 403
    REFUSED = "refused"  # another HTTP answer instead of a WebSocket
    VERSION_REFUSED = "version_refused"  # it did not accept the charger's OCPP version


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """A test's result, and what it met (an HTTP status, an error), for the user."""

    result: ProbeResult
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the upstream took the connection."""
        return self.result is ProbeResult.OK


def url_problem(url: str) -> str | None:
    """Why `url` cannot be an upstream's (None: it can).

    A ws:// or wss:// URL with a host; credentials in it are refused, as they would
    bypass the password field (and show wherever the URL is shown).
    """
    if not url.startswith(("ws://", "wss://")):
        return "not a ws:// or wss:// URL"
    try:
        parsed = parse_uri(url)
    except (InvalidURI, ValueError) as error:  # urllib's own refusals are ValueErrors
        return str(error)[:MAX_DETAIL]
    if not parsed.host:
        return "no host"
    if parsed.username is not None or parsed.password is not None:
        return "credentials in the URL"
    return None


async def probe_upstream(
    settings: UpstreamSettings,
    *,
    timeout: float = PROBE_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
) -> ProbeOutcome:
    """Open and close a connection to the upstream as its link would; never raises.

    `ssl_context` replaces the system's trusted certificates for wss:// (tests).
    """
    if (problem := url_problem(settings.url)) is not None:
        return ProbeOutcome(ProbeResult.INVALID_URL, problem)
    version = settings.version
    try:
        async with asyncio.timeout(timeout):
            chosen = await _handshake(settings, ssl_context)
    except TimeoutError:
        return ProbeOutcome(ProbeResult.UNREACHABLE, f"no answer within {timeout:g} s")
    except (OSError, InvalidHandshake) as error:
        return _failure(error)
    if chosen != version.value and (chosen is not None or version.is_2x):
        # Choosing none is how many 1.6 backends say 1.6 (ours reads it so too); a 2.x
        # backend must name its version.
        return ProbeOutcome(ProbeResult.VERSION_REFUSED, f"answered {chosen or 'none'}")
    return ProbeOutcome(ProbeResult.OK)


async def _handshake(settings: UpstreamSettings, context: ssl.SSLContext | None) -> str | None:
    """Connect and close; the subprotocol the upstream chose."""
    if settings.url.startswith("wss://") and context is None:
        # Loading the system's certificates reads files: not on the event loop.
        context = await asyncio.to_thread(ssl.create_default_context)
    socket = await open_upstream_socket(
        settings.endpoint,
        subprotocol=settings.version.value,
        headers=settings.headers(),
        ssl_context=context,
        max_size=MAX_FRAME_BYTES,
    )
    with contextlib.suppress(Exception):
        await socket.close()
    return socket.subprotocol


def _failure(error: OSError | InvalidHandshake) -> ProbeOutcome:
    """What an error of the handshake means."""
    if isinstance(error, InvalidStatus):
        return _refusal(error)
    if isinstance(error, NegotiationError):
        # It answered with a subprotocol we did not offer.
        return ProbeOutcome(ProbeResult.VERSION_REFUSED, _text(error))
    if isinstance(error, ssl.SSLError):
        return ProbeOutcome(ProbeResult.TLS_FAILED, _text(error))
    return ProbeOutcome(ProbeResult.UNREACHABLE, _text(error))


def _refusal(error: InvalidStatus) -> ProbeOutcome:
    """What an HTTP answer instead of a WebSocket means."""
    code = error.response.status_code
    if code in (401, 403):
        return ProbeOutcome(ProbeResult.CREDENTIALS_REFUSED, f"HTTP {code}")
    body = bytes(error.response.body or b"")[:1024].decode(errors="replace")
    if code == 400 and "subprotocol" in body.lower():
        # Servers built on websockets (and others) refuse an unknown subprotocol so.
        detail = f"HTTP {code}: {body.strip()}"
        return ProbeOutcome(ProbeResult.VERSION_REFUSED, detail[:MAX_DETAIL])
    return ProbeOutcome(ProbeResult.REFUSED, f"HTTP {code}")


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_DETAIL]
