"""A charger's TLS client that resumes its TLS session, as embedded TLS stacks do.

Python resumes a TLS session only on a blocking socket (asyncio's connections take no
`session`), so this client is blocking: run it in a thread. It sends the opening
handshake of a WebSocket and reads the HTTP status the central system answers with,
which is all an admission test needs to know.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from simulator.connection import basic_auth_header
from tests.chargers import PATIENCE_S


@dataclass(frozen=True)
class Attempt:
    """How a connection attempt went: the HTTP status, and its TLS session."""

    status: int
    session: ssl.SSLSession | None
    resumed: bool  # the TLS session was resumed, not negotiated afresh


def open_websocket(
    url: str,
    charger_id: str,
    context: ssl.SSLContext,
    *,
    session: ssl.SSLSession | None = None,
    password: str | None = None,
) -> Attempt:
    """Connect as `charger_id` over TLS (resuming `session` if given). Blocking."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    headers = {
        "Host": f"{host}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": "ocpp1.6",
        **(basic_auth_header(charger_id, password) if password is not None else {}),
    }
    request = f"GET {parts.path.rstrip('/')}/{charger_id} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    with (
        socket.create_connection((host, port), timeout=PATIENCE_S) as raw,
        context.wrap_socket(raw, server_hostname=host, session=session) as tls,
    ):
        tls.sendall(f"{request}\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply and (chunk := tls.recv(4096)):
            reply += chunk
        return Attempt(int(reply.split(b" ", 2)[1]), tls.session, bool(tls.session_reused))
