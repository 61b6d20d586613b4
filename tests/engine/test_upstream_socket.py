"""The upstream link's WebSocket client (see `upstream_socket`) against servers good and bad.

A `websockets` server shows it interoperates; a raw TCP server scripted per test sends
what no library would: frames in the handshake's packet, broken frames, floods,
silence. Every wait is bounded by `PATIENCE_S`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import (
    ConnectionClosedError,
    InvalidHandshake,
    InvalidStatus,
    NegotiationError,
)
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

from custom_components.ocpp_csms.csms import upstream_socket
from custom_components.ocpp_csms.csms.upstream_socket import (
    INBOX_HIGH,
    UpstreamSocket,
    open_upstream_socket,
)
from custom_components.ocpp_csms.csms.ws_frames import (
    CLOSE_INVALID_DATA,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    close_payload,
)
from tests.chargers import PATIENCE_S
from tests.engine.test_ws_frames import server_frame

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
type Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def connect(url: str, max_size: int = 1000, **headers: str) -> UpstreamSocket:
    async with asyncio.timeout(PATIENCE_S):
        return await open_upstream_socket(
            url, subprotocol="ocpp1.6", headers=headers, ssl_context=None, max_size=max_size
        )


async def messages(socket: UpstreamSocket) -> list[str | bytes]:
    """Everything received until the connection ended."""
    async with asyncio.timeout(PATIENCE_S):
        return [message async for message in socket]


# -- against websockets' server ----------------------------------------------------------


async def test_a_conversation_with_a_websockets_server_and_a_clean_close() -> None:
    seen: dict[str, object] = {}

    async def echo(connection: ServerConnection) -> None:
        assert connection.request is not None
        seen["auth"] = connection.request.headers.get("Authorization")
        seen["path"] = connection.request.path
        async for message in connection:
            assert isinstance(message, str)
            await connection.send(f"echo {message}")
        seen["close"] = connection.close_code

    async with serve(echo, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        socket = await connect(f"ws://127.0.0.1:{port}/ocpp/CP%201", Authorization="Basic eA==")
        assert socket.subprotocol == "ocpp1.6"
        for n in range(3):
            await socket.send(f"[{n}]" + "x" * 200 * n)
        received = []
        async for message in socket:
            received.append(message)
            if len(received) == 3:
                break
        assert received == [f"echo [{n}]" + "x" * 200 * n for n in range(3)]
        await socket.close()
        async with asyncio.timeout(PATIENCE_S):
            while "close" not in seen:
                await asyncio.sleep(0.01)
    assert seen == {"auth": "Basic eA==", "path": "/ocpp/CP%201", "close": 1000}
    assert socket.closed


async def test_a_refusal_is_invalid_status_with_its_code() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(401, "who are you\n")

    async with serve(lambda c: c.wait_closed(), "127.0.0.1", 0, process_request=refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(InvalidStatus) as error:
            await connect(f"ws://127.0.0.1:{port}/x")
    assert error.value.response.status_code == 401


# -- against a raw server ------------------------------------------------------------------


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[str]:
    """A TCP server that runs `script` on each connection; yields its ws:// URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/CP"
    finally:
        for task in tasks:
            task.cancel()
        server.close()
        await server.wait_closed()


async def accept(
    reader: asyncio.StreamReader, subprotocol: str | None = "ocpp1.6", extra: bytes = b""
) -> bytes:
    """Read the request and switch protocols; `extra` goes in the same packet."""
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept_key = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    answer = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key}\r\n"
    )
    if subprotocol is not None:
        answer += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
    return (answer + "\r\n").encode() + extra


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame the client sent, unmasked."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4)
    payload = await reader.readexactly(length)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_frames_in_the_handshakes_packet_are_not_lost() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = server_frame(OP_TEXT, b'[2,"1","Reset",{}]') + server_frame(OP_TEXT, b"two")
        writer.write(await accept(reader, extra=frames[:25]))
        await writer.drain()
        writer.write(frames[25:] + server_frame(OP_CLOSE, close_payload(1000)))
        await read_frame(reader)  # our answer to the close

    async with raw_server(script) as url:
        socket = await connect(url)
        assert await messages(socket) == ['[2,"1","Reset",{}]', "two"]


async def test_a_server_that_names_another_subprotocol_is_refused() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader, subprotocol="ocpp2.0.1"))
        await reader.read()

    async with raw_server(script) as url:
        with pytest.raises(NegotiationError):
            await connect(url)


async def test_a_server_that_names_none_is_taken_as_it_is() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader, subprotocol=None))
        await reader.read()

    async with raw_server(script) as url:
        socket = await connect(url)
        assert socket.subprotocol is None
        await socket.close()


async def test_an_endless_answer_head_is_refused() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
        for _ in range(2000):
            writer.write(b"X-Padding: " + b"p" * 60 + b"\r\n")
        await reader.read()

    async with raw_server(script) as url:
        with pytest.raises(InvalidHandshake):
            await connect(url)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes([0x81, 0x83]) + b"mask" + b"abc", CLOSE_PROTOCOL_ERROR),
        (server_frame(OP_TEXT, b"x" * 1001), CLOSE_TOO_BIG),
        (server_frame(OP_TEXT, b"\xff\xfe"), CLOSE_INVALID_DATA),
    ],
)
async def test_a_broken_frame_closes_with_its_code(frame: bytes, code: int) -> None:
    closed_with: list[tuple[int, bytes]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader) + server_frame(OP_TEXT, b"fine") + frame)
        closed_with.append(await read_frame(reader))
        await reader.read()

    async with raw_server(script) as url:
        socket = await connect(url)
        assert await messages(socket) == ["fine"]
        async with asyncio.timeout(PATIENCE_S):
            while not closed_with:
                await asyncio.sleep(0.01)
    opcode, payload = closed_with[0]
    assert (opcode, int.from_bytes(payload[:2], "big")) == (OP_CLOSE, code)
    with pytest.raises(Exception, match="no close frame received"):
        await socket.send("too late")


async def test_a_ping_gets_its_pong() -> None:
    answered: list[tuple[int, bytes]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader) + server_frame(OP_PING, b"hello"))
        answered.append(await read_frame(reader))
        writer.write(server_frame(OP_CLOSE, close_payload(1000)))
        await read_frame(reader)

    async with raw_server(script) as url:
        socket = await connect(url)
        assert await messages(socket) == []
    assert answered == [(OP_PONG, b"hello")]


async def test_a_flood_waits_in_the_kernel_not_in_our_memory() -> None:
    """Nobody reads: the inbox stops at its bound; read later, all come, in order."""
    sent = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        for n in range(5000):
            writer.write(server_frame(OP_TEXT, str(n).encode() + b" " * 200))
        writer.write(server_frame(OP_CLOSE, close_payload(1000)))
        sent.set()
        await writer.drain()
        await reader.read()

    async with raw_server(script) as url:
        socket = await connect(url)
        async with asyncio.timeout(PATIENCE_S):
            await sent.wait()
            while len(socket._inbox) < INBOX_HIGH:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # more would have come by now, were reading not paused
        # Past the bound, at most what one read of the transport held (256 KiB at most).
        assert len(socket._inbox) <= INBOX_HIGH + 256 * 1024 // 200
        received = await messages(socket)
    assert [int(str(message).split()[0]) for message in received] == list(range(5000))


async def test_a_silent_server_is_pinged_then_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_socket, "PING_INTERVAL_S", 0.05)
    pings: list[tuple[int, bytes]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        pings.append(await read_frame(reader))
        await reader.read()  # never answers

    async with raw_server(script) as url:
        socket = await connect(url)
        assert await messages(socket) == []
    assert pings[0][0] == OP_PING
    assert socket.closed


async def test_a_server_that_answers_pings_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_socket, "PING_INTERVAL_S", 0.02)

    async def quiet(connection: ServerConnection) -> None:
        await connection.wait_closed()  # websockets answers pings by itself

    async with serve(quiet, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        socket = await connect(f"ws://127.0.0.1:{port}/x")
        await asyncio.sleep(0.3)  # many intervals: a dead one would be dropped by now
        assert not socket.closed
        await socket.close()


async def test_close_gives_up_on_a_server_that_never_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream_socket, "CLOSE_TIMEOUT_S", 0.1)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        await asyncio.sleep(PATIENCE_S)

    async with raw_server(script) as url:
        socket = await connect(url)
        async with asyncio.timeout(PATIENCE_S):
            await socket.close()
            await asyncio.shield(socket._lost)  # the connection is gone, not half open
        assert socket.closed


async def test_a_close_whose_caller_gives_up_still_ends_the_connection() -> None:
    ended = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        await reader.read()  # never answers our close frame; waits for the end
        ended.set()

    async with raw_server(script) as url:
        socket = await connect(url)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):  # well before the close's own bound
                await socket.close()
        async with asyncio.timeout(PATIENCE_S):
            await ended.wait()


async def test_every_sender_waits_for_the_drain_and_goes_on_after_it() -> None:
    """Two senders while writing is paused: both wait, both go on; lost: both are told."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        await reader.read()

    async with raw_server(script) as url:
        socket = await connect(url)
        socket.pause_writing()  # as the transport does when its buffer is full
        first = asyncio.ensure_future(socket.send("relayed"))
        second = asyncio.ensure_future(socket.send("an answer to the upstream's call"))
        await asyncio.sleep(0.01)
        assert not first.done()
        assert not second.done()
        socket.resume_writing()
        async with asyncio.timeout(PATIENCE_S):
            await asyncio.gather(first, second)
        socket.pause_writing()
        third = asyncio.ensure_future(socket.send("a"))
        fourth = asyncio.ensure_future(socket.send("b"))
        await asyncio.sleep(0.01)
        assert socket._transport is not None
        socket._transport.abort()
        async with asyncio.timeout(PATIENCE_S):
            outcomes = await asyncio.gather(third, fourth, return_exceptions=True)
        assert [type(outcome).__name__ for outcome in outcomes] == ["ConnectionClosedError"] * 2


async def test_a_server_that_pings_and_does_not_read_is_dropped() -> None:
    paused = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        await paused.wait()
        for _ in range(2000):
            writer.write(server_frame(OP_PING, b"p" * 100))
        await writer.drain()
        await asyncio.sleep(PATIENCE_S)  # reads nothing

    async with raw_server(script) as url:
        socket = await connect(url)
        socket.pause_writing()  # its buffer is full: it does not read
        paused.set()
        assert await messages(socket) == []
        async with asyncio.timeout(PATIENCE_S):
            await asyncio.shield(socket._lost)
    assert socket._control_backlog > upstream_socket.MAX_CONTROL_BACKLOG


async def test_a_header_with_a_line_break_is_not_sent() -> None:
    with pytest.raises(ValueError, match="line break"):
        await connect("ws://127.0.0.1:1/x", Authorization="Basic x\r\nX-Evil: 1")


async def test_an_answer_after_the_opener_gave_up_only_ends_the_connection() -> None:
    answer = asyncio.Event()
    ended = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = await accept(reader)
        await answer.wait()
        writer.write(accepted)
        await reader.read()  # until we drop it
        ended.set()

    async with raw_server(script) as url:
        uri = parse_uri(url)
        loop = asyncio.get_running_loop()
        errors: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        _, socket = await loop.create_connection(
            lambda: UpstreamSocket(uri, "ocpp1.6", {}, 1000), uri.host, uri.port
        )
        socket.opened.cancel()  # as a cancelled opener leaves it
        answer.set()
        async with asyncio.timeout(PATIENCE_S):
            await ended.wait()
        loop.set_exception_handler(None)
    assert socket.closed
    assert errors == []  # no protocol callback failed on the loop


async def test_a_close_behind_unread_messages_still_gets_the_servers_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading resumes for the close and what follows is not kept: its close frame gets in."""
    monkeypatch.setattr(upstream_socket, "CLOSE_TIMEOUT_S", PATIENCE_S)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        for n in range(2000):
            writer.write(server_frame(OP_TEXT, str(n).encode() + b" " * 500))
        while (await read_frame(reader))[0] != OP_CLOSE:
            pass
        writer.write(server_frame(OP_CLOSE, close_payload(1000)))
        await reader.read()

    async with raw_server(script) as url:
        socket = await connect(url)
        async with asyncio.timeout(PATIENCE_S):
            while len(socket._inbox) < INBOX_HIGH:
                await asyncio.sleep(0.01)
            await socket.close()  # nobody read the messages
    assert socket._close_received is not None  # the handshake, not our abort, ended it


async def test_a_sender_waiting_for_the_drain_is_told_of_the_servers_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream_socket, "CLOSE_TIMEOUT_S", 0.2)
    closing = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await accept(reader))
        await closing.wait()
        writer.write(server_frame(OP_CLOSE, close_payload(1001)))
        await asyncio.sleep(PATIENCE_S)  # reads nothing, keeps TCP open

    async with raw_server(script) as url:
        socket = await connect(url)
        socket.pause_writing()  # as the transport does when its buffer is full
        sending = asyncio.ensure_future(socket.send("relayed"))
        await asyncio.sleep(0.01)
        closing.set()
        async with asyncio.timeout(PATIENCE_S):
            with pytest.raises(ConnectionClosedError):
                await sending
            await asyncio.shield(socket._lost)  # and the connection does not linger


async def test_a_refusal_whose_body_comes_apart_from_its_head() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"unknown subprotocol"
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\nunknown " % len(body))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"subprotocol")
        await reader.read()

    async with raw_server(script) as url:
        with pytest.raises(InvalidStatus) as error:
            await connect(url)
    assert error.value.response.status_code == 400
    assert bytes(error.value.response.body) == b"unknown subprotocol"
