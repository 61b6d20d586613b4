"""WebSocket frames as a client sends and receives them (RFC 6455, section 5).

The upstream link's own framing (see `upstream_socket` for why it is not the
`websockets` library's). A client masks what it sends; a server must not mask what it
sends, and nothing here negotiates an extension, so any reserved bit is an error.

`FrameReader` turns the bytes a server sends into whole messages and control frames,
and bounds what it holds: a frame or a fragmented message larger than `max_size` is
refused as soon as its header says so, before it is received. Bytes arriving a few at
a time cost a constant amount each (the buffer grows in place), not a copy of all
received so far. Whatever the bytes, `feed` returns the events before a protocol error,
and the error (a `WsProtocolError` with the close code to send) if there was one.
"""

from __future__ import annotations

import os
import struct

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C speedups ship with websockets' wheels
    from websockets.utils import apply_mask

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA = (OP_TEXT, OP_BINARY)
_CONTROL = (OP_CLOSE, OP_PING, OP_PONG)

# Close codes (RFC 6455, section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

_MAX_CONTROL_PAYLOAD = 125
_HEAD_SHORT = struct.Struct("!BB")
_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")

# A received frame or message: (opcode, payload). A fragmented message is whole, under
# the opcode of its first frame.
type Event = tuple[int, bytes]


class _Masks:
    """Masking keys from the system's random source, read 4 KiB at a time.

    A read per frame (`os.urandom(4)`) is a system call per forwarded message; the keys
    stay as unpredictable as RFC 6455 asks, each used once.
    """

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        at = self._at
        if at + 4 > len(self._pool):
            self._pool, at = os.urandom(4096), 0
        self._at = at + 4
        return self._pool[at : at + 4]


_MASKS = _Masks()


class WsProtocolError(Exception):
    """The server broke the protocol: the connection ends with `code`."""

    def __init__(self, code: int, reason: str) -> None:
        """Name the close code and why."""
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def encode(opcode: int, payload: bytes) -> bytes:
    """One final, masked frame (a client masks every frame, with a fresh random key)."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        head = _HEAD_SHORT.pack(first, 0x80 | length)
    elif length < 1 << 16:
        head = _HEAD_16.pack(first, 0x80 | 126, length)
    else:
        head = _HEAD_64.pack(first, 0x80 | 127, length)
    mask = _MASKS.next()
    return head + mask + apply_mask(payload, mask)


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload; "no status" (1005) is sent as none at all."""
    if code == CLOSE_NO_STATUS:
        return b""
    return code.to_bytes(2, "big") + reason.encode()[: _MAX_CONTROL_PAYLOAD - 2]


def parse_close(payload: bytes) -> tuple[int, str]:
    """A received close frame's code and reason."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "close frame of one byte")
    code = int.from_bytes(payload[:2], "big")
    if not (1000 <= code < 5000) or code in (1004, CLOSE_NO_STATUS, 1006, 1015):
        raise WsProtocolError(CLOSE_PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        raise WsProtocolError(CLOSE_INVALID_DATA, "close reason is not UTF-8") from None


class FrameReader:
    """Whole messages and control frames out of the bytes a server sends (see module)."""

    def __init__(self, max_size: int) -> None:
        """Refuse any message (or frame) larger than `max_size` bytes."""
        self._max_size = max_size
        self._buffer = bytearray()
        # A fragmented message being received: its opcode and its parts so far.
        self._opcode: int | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> tuple[list[Event], WsProtocolError | None]:
        """The events completed by `data`, in order, and the protocol error after them.

        After an error the reader is of no further use: the connection must end.
        """
        events: list[Event] = []
        try:
            if self._buffer:
                self._buffer += data
                del self._buffer[: self._parse(self._buffer, events)]
            else:
                # The usual case: whole frames in one read, parsed without a copy.
                used = self._parse(data, events)
                if used < len(data):
                    self._buffer += data[used:]
        except WsProtocolError as error:
            return events, error
        return events, None

    def _parse(self, buffer: bytes | bytearray, events: list[Event]) -> int:
        """Append the events of the whole frames in `buffer`; how many bytes they took."""
        position, size = 0, len(buffer)
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            if first & 0x70:
                raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
            if second & 0x80:
                raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "a server's frame is masked")
            length, head = second & 0x7F, 2
            if length == 126:
                if size - position < 4:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if size - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            opcode, final = first & 0x0F, bool(first & 0x80)
            self._check(opcode, final, length)
            end = position + head + length
            if end > size:
                break
            payload = bytes(buffer[position + head : end])
            position = end
            if (event := self._frame(opcode, final, payload)) is not None:
                events.append(event)
        return position

    def _check(self, opcode: int, final: bool, length: int) -> None:
        """Refuse a frame by its header, before its payload is received."""
        if opcode in _CONTROL:
            if not final or length > _MAX_CONTROL_PAYLOAD:
                raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "control frame fragmented or long")
        elif opcode not in _DATA and opcode != OP_CONTINUATION:
            raise WsProtocolError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        elif length > self._max_size or self._size + length > self._max_size:
            raise WsProtocolError(CLOSE_TOO_BIG, f"message over {self._max_size} bytes")

    def _frame(self, opcode: int, final: bool, payload: bytes) -> Event | None:
        if opcode in _CONTROL:
            return opcode, payload
        if opcode == OP_CONTINUATION:
            if self._opcode is None:
                raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "continuation of nothing")
            self._parts.append(payload)
            self._size += len(payload)
            if not final:
                return None
            whole = self._opcode, b"".join(self._parts)
            self._opcode, self._parts, self._size = None, [], 0
            return whole
        if self._opcode is not None:
            raise WsProtocolError(CLOSE_PROTOCOL_ERROR, "a message began inside another")
        if final:
            return opcode, payload
        self._opcode, self._parts, self._size = opcode, [payload], len(payload)
        return None
