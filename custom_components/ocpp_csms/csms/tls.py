"""TLS for the charger server: security profiles 2 and 3.

`build_ssl_context` makes a TLS context from PEM files (and, for profile 3, the CA
whose client certificates it trusts); `ServerContext` is the one the server listens
with, which asks for client certificates or not as the chargers' profiles need, without
a restart; `peer_certificate` reads the client certificate a charger presented on its
connection.
"""

from __future__ import annotations

import ssl

from websockets.asyncio.server import ServerConnection


def peer_certificate(connection: ServerConnection) -> bytes | None:
    """The DER client certificate the peer presented over TLS, or None."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    return ssl_object.getpeercert(binary_form=True)


# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (Python's ssl module has no name for it).
_NO_CHECK_TIME = 0x200000


def build_ssl_context(
    certfile: str, keyfile: str | None, client_ca_pem: str | None = None
) -> ssl.SSLContext:
    """A server TLS context from PEM files. Blocking (file I/O): run in an executor.

    With `client_ca_pem` (security profile 3) the server asks every charger for a
    client certificate, and one that is presented must chain to that CA, the only
    trust anchor, or the TLS handshake fails (a charger of another CA gets a TLS
    alert, before any HTTP). Presenting none is allowed here: profile 1 and 2 chargers
    have none, and `ConnectionGate.check` refuses profile 3 chargers without one. The
    dates are not checked by TLS but by the gate (`certificates.client_certificate_problem`),
    so that an expired certificate, the usual trouble after a missed renewal, is
    refused with HTTP 403 and a log line that says so instead of a bare TLS alert.

    No session tickets: TLS 1.3 then resumes no session at all, so every connection
    presents its client certificate afresh (a renewed one is seen at once), and TLS
    1.2 resumes only by session id, within this context's own cache.

    Raises OSError when a file is missing and ssl.SSLError when it does not load.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_TICKET
    context.num_tickets = 0
    context.load_cert_chain(certfile, keyfile or None)
    if client_ca_pem is not None:
        context.load_verify_locations(cadata=client_ca_pem)
        context.verify_mode = ssl.CERT_OPTIONAL
        context.verify_flags |= _NO_CHECK_TIME
    return context


def build_server_context(
    certfile: str, keyfile: str | None, client_ca_pem: str | None, *, ask: bool
) -> ServerContext:
    """The context the server listens with, asking for client certificates or not.

    Blocking (file I/O): run in an executor. Without `client_ca_pem` it can never ask.
    Raises OSError when a file is missing and ssl.SSLError when one does not load.
    """
    plain = build_ssl_context(certfile, keyfile)
    asking = build_ssl_context(certfile, keyfile, client_ca_pem) if client_ca_pem else None
    context = ServerContext(ssl.PROTOCOL_TLS_SERVER)
    context.hold(plain, asking)
    context.ask_for_client_certificates(ask)
    return context


class ServerContext(ssl.SSLContext):
    """The server's context: it hands each new connection to one of two contexts.

    The two are built alike, but one asks for client certificates and the other not.

    Why two, and not one whose settings change: a TLS session is resumed with what its
    first handshake had, and one made while the server did not ask holds no client
    certificate. A charger moved to profile 3 whose TLS stack resumes its profile-2
    session would come back without one, and be refused. Each context keeps its own
    sessions (and TLS 1.2 session ids are looked up only there), so a switch leaves
    the other's sessions behind: the next connection has a full handshake and is
    asked. Python cannot empty a context's session cache, and changing the context in
    the server-name callback is too late (the session is found before it runs).

    asyncio wraps every accepted connection with `wrap_bio` of the server's context;
    this one hands it to the current context (an asyncio server is its only use: it is
    no context of its own). Connections already open are untouched.
    """

    _plain: ssl.SSLContext
    _asking: ssl.SSLContext | None
    _current: ssl.SSLContext

    def hold(self, plain: ssl.SSLContext, asking: ssl.SSLContext | None) -> None:
        """Use `plain` (asks for nothing) or `asking` (asks for client certificates)."""
        self._plain, self._asking, self._current = plain, asking, plain

    @property
    def asks(self) -> bool:
        """Whether new connections are asked for a client certificate."""
        return self._current is self._asking

    def ask_for_client_certificates(self, wanted: bool) -> bool:
        """Ask new connections for client certificates from now on, or for none.

        False (and nothing changes) when asking is wanted but there is no CA to ask for.
        """
        if wanted and self._asking is None:
            return False
        self._current = self._asking if wanted and self._asking else self._plain
        return True

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """Wrap a new connection (asyncio's way) in the current context."""
        return self._current.wrap_bio(incoming, outgoing, server_side, server_hostname, session)
