"""The upstream link's WebSocket client: the `websockets` library's handshake, our framing.

Forwarding costs one WebSocket round trip to the upstream per message a charger sends
(OCPP-J allows one CALL in flight, so they cannot be batched). Through the library's
asyncio client a round trip costs about 31 µs of CPU (its Sans-I/O protocol, a frame
queue, a lock and a task wake-up per frame); on an `asyncio.BufferedProtocol` reading
into a buffer of its own the same frames cost about 14 µs (issue 24's benchmark,
`docs/performance.md`). So the link speaks WebSocket itself once the connection is
open: `ws_frames` frames, this protocol reads and writes, and `RpcConnection` uses it
like any socket (`send`, `async for`, `close`).

The opening handshake is still the library's (`websockets.client.ClientProtocol`):
the request, the checks of the answer (the accept key, the subprotocol, no extension)
and its errors (`InvalidStatus` with the answer's status and body, `NegotiationError`,
`InvalidHandshake`) are the same as its own client's. Unlike that client, this one
follows no redirect and uses no proxy: an upstream's URL names the backend itself.

What the server sends is not trusted: a protocol error, a message over `max_size` or
text that is not UTF-8 closes the connection with the matching code; received messages
wait in a bounded inbox (reading pauses past `INBOX_HIGH`); a connection that goes
silent is pinged, and dropped when a ping brings nothing back; the close handshake is
bounded in time; and a server that stops reading makes our senders wait (flow control)
but cannot make our answers to its pings pile up.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from enum import Enum, auto

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosedError, InvalidHandshake
from websockets.frames import Close
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from .ws_frames import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_INVALID_DATA,
    CLOSE_NORMAL,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    WsProtocolError,
    close_payload,
    encode,
    parse_close,
)

# A message from the upstream larger than this ends the connection.
MAX_FRAME_BYTES = 256 * 1024
# What one read of the socket takes at most (a larger message takes several).
READ_BUFFER_BYTES = 16 * 1024
# Received messages waiting for the reader: reading pauses above the first, goes on at
# the second.
INBOX_HIGH = 64
INBOX_LOW = 16
# The opening answer's head (status line and headers) may not be longer.
MAX_HANDSHAKE_BYTES = 64 * 1024
# A server that makes us write this much of control frames (pongs) while it does not
# read is dropped; our own messages wait for it instead (flow control).
MAX_CONTROL_BACKLOG = 64 * 1024
# Silent this long: ping; silent as long again: the connection is dead (as the library's).
PING_INTERVAL_S = 20.0
# How long `close` waits for the server's part of the close handshake.
CLOSE_TIMEOUT_S = 5.0


class _State(Enum):
    OPENING = auto()
    OPEN = auto()
    CLOSING = auto()  # our close frame is sent
    CLOSED = auto()


async def open_upstream_socket(
    url: str,
    *,
    subprotocol: str,
    headers: dict[str, str],
    ssl_context: ssl.SSLContext | None,
    max_size: int,
) -> UpstreamSocket:
    """Connect and make the opening handshake; the caller bounds the time it takes.

    Raises `OSError` (`ssl.SSLError` among them), the library's `InvalidURI` and
    `InvalidHandshake` kinds, or `ValueError` for a header that cannot be sent.
    """
    uri = parse_uri(url)
    if any("\r" in text or "\n" in text for item in headers.items() for text in item):
        raise ValueError("a header holds a line break")
    if uri.secure and ssl_context is None:
        # Loading the system's certificates reads files: not on the event loop.
        ssl_context = await asyncio.to_thread(ssl.create_default_context)
    loop = asyncio.get_running_loop()
    transport, socket = await loop.create_connection(
        lambda: UpstreamSocket(uri, subprotocol, headers, max_size),
        uri.host,
        uri.port,
        ssl=ssl_context if uri.secure else None,
        server_hostname=uri.host if uri.secure else None,
    )
    try:
        await socket.opened
    except BaseException:
        transport.abort()
        raise
    return socket


class UpstreamSocket(asyncio.BufferedProtocol):
    """One client WebSocket connection (see the module); made by `open_upstream_socket`."""

    def __init__(
        self, uri: WebSocketURI, subprotocol: str, headers: dict[str, str], max_size: int
    ) -> None:
        """Prepare the handshake; the connection is made by the event loop."""
        loop = asyncio.get_running_loop()
        self._handshake = ClientProtocol(
            uri, subprotocols=[Subprotocol(subprotocol)], max_size=max_size
        )
        self._request = self._handshake.connect()
        for name, value in headers.items():
            self._request.headers[name] = value
        self._head = bytearray()
        self._read_view = memoryview(bytearray(READ_BUFFER_BYTES))
        # Whether the answer's head is in (what follows: frames, or a refusal's body).
        self._head_done = False
        self.opened: asyncio.Future[None] = loop.create_future()
        self._lost: asyncio.Future[None] = loop.create_future()
        self.subprotocol: str | None = None
        self._reader = FrameReader(max_size)
        self._state = _State.OPENING
        self._transport: asyncio.Transport | None = None
        self._inbox: deque[str | bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None
        # Control frames written since writing paused (see `MAX_CONTROL_BACKLOG`).
        self._control_backlog = 0
        # Keepalive: whether anything came since the last check, and a ping is out.
        self._heard = False
        self._pinged = False
        self._keepalive: asyncio.TimerHandle | None = None
        # After a protocol error: the close frame may go first, within a bound.
        self._abort_timer: asyncio.TimerHandle | None = None
        # How the connection ended, for the reader's error (see `ConnectionClosedError`).
        self._close_received: Close | None = None
        self._close_sent: Close | None = None
        self._received_first = False

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (or is ending)."""
        return self._state in (_State.CLOSING, _State.CLOSED)

    # -- asyncio.BufferedProtocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the handshake's request."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._handshake.send_request(self._request)
        for data in self._handshake.data_to_send():
            transport.write(data)

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the transport reads into: one buffer of ours, used again for every read.

        A plain protocol gets a fresh `bytes` of the transport's read size (256 KiB)
        per read; glibc maps and unmaps an allocation that large each time unless its
        threshold has grown, which doubled a round trip's CPU (14 against 28 µs).
        """
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        """What the transport read: handled as received data."""
        self.data_received(bytes(self._read_view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        """Frames once open; the handshake's answer before."""
        if self._state is _State.OPENING:
            self._on_handshake(data)
            return
        if self._state is _State.CLOSED:
            return  # after a close frame or an error, nothing more is read
        self._heard = True
        events, error = self._reader.feed(data)
        for opcode, payload in events:
            if opcode == OP_TEXT:
                try:
                    self._deliver(payload.decode())
                except UnicodeDecodeError:
                    self._fail(CLOSE_INVALID_DATA, "text is not UTF-8")
                    return
            elif opcode == OP_BINARY:
                self._deliver(payload)
            elif opcode == OP_PING:
                self._write_control(encode(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._on_close(payload)
                return
            # A pong: being heard is all it is for.
        if error is not None:  # what came before it is delivered, then the end
            self._fail(error.code, error.reason)

    def eof_received(self) -> bool:
        """The server closed its side: the transport closes (False)."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: wake whoever waits."""
        if self._state is _State.OPENING:
            self._handshake.receive_eof()
            error = self._handshake.handshake_exc or exc
            self._handshake_failed(
                error or InvalidHandshake("the connection closed during the handshake")
            )
        self._state = _State.CLOSED
        for timer in (self._keepalive, self._abort_timer):
            if timer is not None:
                timer.cancel()
        self._keepalive = self._abort_timer = None
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if not self._lost.done():
            self._lost.set_result(None)

    def pause_writing(self) -> None:
        """The transport's buffer is full: senders wait (`send`)."""
        self._writing_paused = True

    def resume_writing(self) -> None:
        """The buffer drained: senders go on."""
        self._writing_paused = False
        self._control_backlog = 0
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- the socket RpcConnection uses ----------------------------------------------------

    async def send(self, message: str) -> None:
        """Send one text message; raises `ConnectionClosedError` once closed."""
        transport = self._transport
        if self._state is not _State.OPEN or transport is None or transport.is_closing():
            raise self._closed_error()
        # Flow control, not `MAX_CONTROL_BACKLOG`, bounds our own messages: one may be
        # larger than that, and every sender waits below while writing is paused.
        transport.write(encode(OP_TEXT, message.encode()))
        while self._writing_paused and self._state is _State.OPEN:
            # One wait shared by every sender (the relay's, an answer to the upstream's
            # CALL...): each must be woken, and one cancelled must not cancel the others'.
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)
        if self._writing_paused or self._lost.done():
            # Ended while it waited, or lost: it may not have gone.
            raise self._closed_error()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        """The messages received, until the connection ends."""
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        inbox = self._inbox
        while True:
            if inbox:
                message = inbox.popleft()
                if self._reading_paused and len(inbox) <= INBOX_LOW and self._transport:
                    self._reading_paused = False
                    self._transport.resume_reading()
                yield message
            elif self._state is _State.CLOSED:
                return
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Make the close handshake (bounded by `CLOSE_TIMEOUT_S`) and end the connection."""
        transport = self._transport
        if self._state is _State.OPEN:
            self._send_close(code, reason)
        elif self._state is _State.OPENING and transport is not None:
            transport.abort()
        if self._reading_paused and transport is not None and not transport.is_closing():
            # The server's close frame waits behind what we have not read.
            self._reading_paused = False
            transport.resume_reading()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.shield(self._lost)
        except TimeoutError:
            if transport is not None:
                transport.abort()
        except BaseException:
            # Our caller gave up (cancelled): the connection is not left half open.
            if transport is not None:
                transport.abort()
            raise

    # -- inside ---------------------------------------------------------------------------

    def _on_handshake(self, data: bytes) -> None:
        if self._head_done:
            # The body of a refusal: the library reads it, then says what it was.
            self._handshake.receive_data(data)
            if (error := self._handshake.handshake_exc) is not None:
                self._fail_handshake(error)
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HANDSHAKE_BYTES:
                self._fail_handshake(InvalidHandshake("the answer's head is too long"))
            return
        # The library gets the head alone and decides; what follows is frames if it
        # switched protocols, else the refusal's body (its too).
        head, rest = bytes(self._head[: end + 4]), bytes(self._head[end + 4 :])
        self._head.clear()
        self._head_done = True
        self._handshake.receive_data(head)
        if (error := self._handshake.handshake_exc) is not None:
            self._fail_handshake(error)
            return
        if self._handshake.state is not State.OPEN:
            if rest:
                self._on_handshake(rest)
            return  # the refusal's body is still coming (or the end of the connection)
        if self.opened.done():  # its opener gave up (cancelled, timed out) meanwhile
            self._fail_handshake(InvalidHandshake("nobody waits for the connection"))
            return
        self.subprotocol = self._handshake.subprotocol
        self._state = _State.OPEN
        self.opened.set_result(None)
        self._schedule_keepalive()
        if rest:
            self.data_received(rest)

    def _fail_handshake(self, error: Exception) -> None:
        self._handshake_failed(error)
        if self._transport is not None:
            self._transport.abort()

    def _handshake_failed(self, error: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
            # Taken as seen: its opener may be gone (cancelled, timed out) and would
            # otherwise have asyncio log it as never retrieved.
            self.opened.exception()

    def _deliver(self, message: str | bytes) -> None:
        if self._state is not _State.OPEN:
            return  # closing: nobody reads on, and the server's close frame must get in
        self._inbox.append(message)
        self._wake()
        if len(self._inbox) >= INBOX_HIGH and not self._reading_paused and self._transport:
            # The reader is behind: what the server sends waits in the kernel, not here.
            self._reading_paused = True
            self._transport.pause_reading()

    def _wake(self) -> None:
        if (waiter := self._waiter) is not None and not waiter.done():
            waiter.set_result(None)

    def _on_close(self, payload: bytes) -> None:
        """The server's close frame: answered (if it began), then the connection ends."""
        try:
            code, reason = parse_close(payload)
        except WsProtocolError as error:
            self._fail(error.code, error.reason)
            return
        self._close_received = Close(code, reason)
        self._received_first = self._state is _State.OPEN
        if self._received_first:
            self._send_close(code, "")
        self._end()

    def _send_close(self, code: int, reason: str) -> None:
        self._state = _State.CLOSING
        self._close_sent = Close(code, reason)
        self._write_control(encode(OP_CLOSE, close_payload(code, reason)))

    def _fail(self, code: int, reason: str) -> None:
        """A protocol error: say why (best effort) and drop the connection."""
        if self._state is _State.OPEN:
            self._send_close(code, reason)
        self._end()

    def _end(self) -> None:
        """Close the transport: what is written goes first, within `CLOSE_TIMEOUT_S`.

        A server that does not read would hold the close for ever (and a sender
        waiting on the drain with it): it is aborted then.
        """
        self._state = _State.CLOSED
        if self._transport is not None:
            self._transport.close()
            loop = asyncio.get_running_loop()
            self._abort_timer = loop.call_later(CLOSE_TIMEOUT_S, self._transport.abort)
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)  # its sender is told (see `send`)

    def _write_control(self, data: bytes) -> None:
        """A control frame (pong, ping, close): never piled up behind a server not reading."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._writing_paused:
            self._control_backlog += len(data)
            if self._control_backlog > MAX_CONTROL_BACKLOG:
                # It pings and does not read: our pongs are not worth our memory.
                self._state = _State.CLOSED
                transport.abort()
                self._wake()
                return
        transport.write(data)

    def _schedule_keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        self._keepalive = loop.call_later(PING_INTERVAL_S, self._check_alive)

    def _check_alive(self) -> None:
        self._keepalive = None
        if self._state is not _State.OPEN:
            return
        if self._heard or self._reading_paused:  # paused: we are the slow ones
            self._heard, self._pinged = False, False
        elif self._writing_paused:
            pass  # it does not read what we send: the call waiting on it times out
        elif self._pinged:
            self._fail(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
            return
        else:
            self._pinged = True
            self._write_control(encode(OP_PING, b"alive?"))
        self._schedule_keepalive()

    def _closed_error(self) -> ConnectionClosedError:
        received, sent = self._close_received, self._close_sent
        # Both known: the library's error wants their order (theirs came first when we
        # only answered it, see `_on_close`).
        order = None if received is None or sent is None else self._received_first
        return ConnectionClosedError(received, sent, order)
