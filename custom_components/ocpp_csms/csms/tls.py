"""TLS for the charger server: security profiles 2 and 3.

`build_ssl_context` makes the server's context from PEM files (and, for profile 3, the
CA whose client certificates it trusts); `peer_certificate` reads the client
certificate a charger presented on its connection.
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

    Raises OSError when a file is missing and ssl.SSLError when it does not load.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile or None)
    ask_for_client_certificates(context, client_ca_pem)
    return context


def ask_for_client_certificates(context: ssl.SSLContext, client_ca_pem: str | None) -> None:
    """Ask for client certificates of that CA from now on, or (None) ask for none.

    A running server may change this: each TLS handshake takes the context's settings
    as they are when it starts, so connections already open are untouched and the
    next ones are asked. That lets the first charger move to profile 3 without a
    restart of the server that would drop every other charger (and the very charger
    being moved, still on its old profile). Raises ssl.SSLError for a PEM that does
    not load. No file I/O.
    """
    if client_ca_pem is None:
        context.verify_mode = ssl.CERT_NONE
        return
    context.load_verify_locations(cadata=client_ca_pem)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.verify_flags |= _NO_CHECK_TIME
