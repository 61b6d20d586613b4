"""The upstream link's WebSocket framing (see `ws_frames`): what a server may send us."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custom_components.ocpp_csms.csms.ws_frames import (
    CLOSE_INVALID_DATA,
    CLOSE_NO_STATUS,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    FrameReader,
    WsProtocolError,
    close_payload,
    encode,
    parse_close,
)

MAX = 1000


def events_of(reader: FrameReader, data: bytes) -> list[tuple[int, bytes]]:
    """What `data` completes, which breaks nothing."""
    events, error = reader.feed(data)
    assert error is None
    return events


def server_frame(opcode: int, payload: bytes, *, final: bool = True, rsv: int = 0) -> bytes:
    """A frame as a server sends it: unmasked."""
    first = (0x80 if final else 0) | rsv | opcode
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", first, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length) + payload
    return struct.pack("!BBQ", first, 127, length) + payload


def unmask(frame: bytes) -> tuple[int, bytes]:
    """What a server reads of a frame we sent (it must be masked)."""
    assert frame[1] & 0x80, "a client's frame is masked"
    length, head = frame[1] & 0x7F, 2
    if length == 126:
        length, head = struct.unpack("!H", frame[2:4])[0], 4
    elif length == 127:
        length, head = struct.unpack("!Q", frame[2:10])[0], 10
    mask, payload = frame[head : head + 4], frame[head + 4 :]
    assert len(payload) == length
    return frame[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_what_we_send_is_one_masked_final_frame_of_any_length(size: int) -> None:
    text = b"x" * size
    frame = encode(OP_TEXT, text)
    assert frame[0] == 0x80 | OP_TEXT
    assert unmask(frame) == (OP_TEXT, text)


def test_every_frame_gets_a_fresh_mask() -> None:
    assert encode(OP_TEXT, b"same") != encode(OP_TEXT, b"same")


def test_whole_messages_and_control_frames_come_in_order() -> None:
    reader = FrameReader(MAX)
    data = (
        server_frame(OP_TEXT, b"one")
        + server_frame(OP_PING, b"p")
        + server_frame(OP_BINARY, b"\x00\x01")
    )
    assert events_of(reader, data) == [
        (OP_TEXT, b"one"),
        (OP_PING, b"p"),
        (OP_BINARY, b"\x00\x01"),
    ]


def test_a_fragmented_message_is_whole_with_a_ping_between_its_parts() -> None:
    reader = FrameReader(MAX)
    data = (
        server_frame(OP_TEXT, b"[2,", final=False)
        + server_frame(OP_PING, b"")
        + server_frame(OP_CONTINUATION, b'"a"', final=False)
        + server_frame(OP_CONTINUATION, b"]")
    )
    assert events_of(reader, data) == [(OP_PING, b""), (OP_TEXT, b'[2,"a"]')]


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_split_of_the_bytes_gives_the_same_messages(cuts: list[int]) -> None:
    data = (
        server_frame(OP_TEXT, b"a" * 200)
        + server_frame(OP_TEXT, b"b", final=False)
        + server_frame(OP_CONTINUATION, b"c" * 130)
        + server_frame(OP_PING, b"ping")
    )
    reader = FrameReader(MAX)
    events = []
    position = 0
    for cut in cuts:
        events += events_of(reader, data[position : position + cut])
        position += cut
    events += events_of(reader, data[position:])
    assert events == [(OP_TEXT, b"a" * 200), (OP_TEXT, b"b" + b"c" * 130), (OP_PING, b"ping")]


@given(st.binary(max_size=300))
def test_any_bytes_give_messages_or_a_protocol_error(data: bytes) -> None:
    events, error = FrameReader(MAX).feed(data)
    assert error is None or error.code in (CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG)
    assert all(len(payload) <= MAX for _, payload in events)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (server_frame(OP_TEXT, b"x", rsv=0x40), CLOSE_PROTOCOL_ERROR),  # no extension
        (bytes([0x81, 0x81]) + b"mask" + b"x", CLOSE_PROTOCOL_ERROR),  # masked by a server
        (server_frame(0x3, b"x"), CLOSE_PROTOCOL_ERROR),  # reserved opcode
        (server_frame(OP_PING, b"x" * 126), CLOSE_PROTOCOL_ERROR),  # control too long
        (server_frame(OP_PING, b"x", final=False), CLOSE_PROTOCOL_ERROR),
        (server_frame(OP_CONTINUATION, b"x"), CLOSE_PROTOCOL_ERROR),  # of nothing
        (
            server_frame(OP_TEXT, b"x", final=False) + server_frame(OP_TEXT, b"y"),
            CLOSE_PROTOCOL_ERROR,
        ),
        (server_frame(OP_TEXT, b"x" * (MAX + 1)), CLOSE_TOO_BIG),
        (
            server_frame(OP_TEXT, b"x" * 600, final=False)
            + server_frame(OP_CONTINUATION, b"x" * 600),
            CLOSE_TOO_BIG,
        ),
    ],
)
def test_a_broken_frame_is_a_protocol_error_with_its_close_code(data: bytes, code: int) -> None:
    events, error = FrameReader(MAX).feed(server_frame(OP_TEXT, b"before") + data)
    assert events == [(OP_TEXT, b"before")]  # what came first is not lost
    assert error is not None
    assert error.code == code


def test_a_message_too_big_is_refused_by_its_header_before_its_payload() -> None:
    header = struct.pack("!BBQ", 0x80 | OP_TEXT, 127, 1 << 40)
    _, error = FrameReader(MAX).feed(header)
    assert error is not None
    assert error.code == CLOSE_TOO_BIG


def test_a_frame_that_trickles_in_a_byte_at_a_time_is_held_in_place() -> None:
    reader = FrameReader(100_000)
    data = server_frame(OP_TEXT, b"z" * 90_000)
    events = []
    for index in range(len(data)):
        events += events_of(reader, data[index : index + 1])
    assert events == [(OP_TEXT, b"z" * 90_000)]
    assert not reader._buffer


def test_close_frames_carry_a_code_and_a_reason() -> None:
    assert parse_close(close_payload(1000, "bye")) == (1000, "bye")
    assert parse_close(b"") == (CLOSE_NO_STATUS, "")
    assert close_payload(CLOSE_NO_STATUS) == b""
    for broken, code in [
        (b"\x03", CLOSE_PROTOCOL_ERROR),
        ((1005).to_bytes(2, "big"), CLOSE_PROTOCOL_ERROR),
        ((999).to_bytes(2, "big"), CLOSE_PROTOCOL_ERROR),
        ((1000).to_bytes(2, "big") + b"\xff", CLOSE_INVALID_DATA),
    ]:
        with pytest.raises(WsProtocolError) as error:
            parse_close(broken)
        assert error.value.code == code
    assert events_of(FrameReader(MAX), server_frame(OP_CLOSE, b"")) == [(OP_CLOSE, b"")]


def test_masks_are_fresh_across_refills_of_the_random_pool() -> None:
    masks = [encode(OP_TEXT, b"")[2:6] for _ in range(3000)]  # three pools' worth
    assert len(set(masks)) > 2990  # 4-byte keys: a few repeats by chance at most
