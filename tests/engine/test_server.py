"""The server: versions, admission, passwords, TLS, replacement and shutdown."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import subprocess
from http import HTTPStatus
from pathlib import Path

import pytest
from ocpp.exceptions import SecurityError
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.extensions.permessage_deflate import PerMessageDeflate

from custom_components.ocpp_csms.csms.credentials import hash_password
from custom_components.ocpp_csms.csms.host import AdmissionPolicy
from custom_components.ocpp_csms.csms.server import (
    MAX_AUTHORIZATION_LENGTH,
    MAX_CHARGER_ID_LENGTH,
    BadAuthorization,
    basic_auth_password,
    charger_id_from_path,
    choose_subprotocol,
)
from custom_components.ocpp_csms.csms.station import OcppVersion, RegistrationStatus
from custom_components.ocpp_csms.csms.tls import build_ssl_context
from tests.chargers import (
    FIRMWARE,
    MODEL,
    PATIENCE_S,
    SERIAL,
    VENDOR,
    basic_auth_header,
    charger,
    wait_for,
)
from tests.engine.conftest import StartSystem


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["ocpp1.6"], "ocpp1.6"),
        (["ocpp2.0.1"], "ocpp2.0.1"),
        (["ocpp2.1"], "ocpp2.1"),
        (["ocpp1.6", "ocpp2.0.1", "ocpp2.1"], "ocpp2.1"),
        (["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
        (["OCPP1.6"], "OCPP1.6"),
        (["ocpp2.0"], None),
        ([], None),
    ],
)
def test_subprotocol_preference(offered: list[str], expected: str | None) -> None:
    """2.1 is preferred over 2.0.1 over 1.6; the charger's spelling is echoed."""
    assert choose_subprotocol(offered) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ocpp/CP-123", "CP-123"),
        ("/CP-123", "CP-123"),
        ("/ocpp/CP-123/", "CP-123"),
        ("/ocpp/CP%20Garage", "CP Garage"),
        ("/ocpp/CP-1?x=1", "CP-1"),
        ("/", None),
        ("/ocpp/", "ocpp"),
        ("/" + "x" * (MAX_CHARGER_ID_LENGTH + 1), None),
        ("/" + "x" * MAX_CHARGER_ID_LENGTH, "x" * MAX_CHARGER_ID_LENGTH),
        ("/ocpp/%0A", None),
    ],
)
def test_charger_id_from_path(path: str, expected: str | None) -> None:
    """The id is the URL-decoded last path segment; empty, oversized or control ids fail."""
    assert charger_id_from_path(path) == expected


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_each_version_negotiates_and_boots(start_system: StartSystem, version: str) -> None:
    """A known charger of each version gets its version and is Accepted with its details."""
    running = await start_system()
    running.directory.admit("CP-1")
    async with charger(running.url, "CP-1", version) as client:
        assert client.websocket.subprotocol == version
        assert await client.boot() == "Accepted"
        heartbeat = await client.heartbeat()
        assert heartbeat.current_time
    station = running.system.stations["CP-1"]
    assert station.version == OcppVersion(version)
    assert station.boot is not None
    assert (station.boot.vendor, station.boot.model) == (VENDOR, MODEL)
    assert (station.boot.serial_number, station.boot.firmware_version) == (SERIAL, FIRMWARE)
    await wait_for(lambda: not station.connected)
    assert running.recorder.names("CP-1") == [
        "connected",
        "updated",
        "updated",
        "disconnected",
    ]


async def test_no_subprotocol_is_ocpp16(start_system: StartSystem) -> None:
    """A charger that offers no subprotocol is spoken to as 1.6."""
    running = await start_system()
    running.directory.admit("CP-1")
    async with charger(running.url, "CP-1", subprotocols=[]) as client:
        assert client.websocket.subprotocol is None
        assert await client.boot() == "Accepted"
    assert running.system.stations["CP-1"].version is OcppVersion.V16


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_unknown_charger_is_pending_until_admitted(
    start_system: StartSystem, version: str
) -> None:
    """Ask mode: Pending, admission requested, refused messages, then Accepted on trigger."""
    running = await start_system(AdmissionPolicy.ASK)
    async with charger(running.url, "CP-NEW", version) as client:
        assert await client.boot() == "Pending"
        assert "admission_requested" in running.recorder.names("CP-NEW")
        station = running.system.stations["CP-NEW"]
        assert station.registration is RegistrationStatus.PENDING
        # Anything but a boot is refused while pending.
        with pytest.raises(SecurityError):
            await client.call(client._heartbeat_payload(), suppress=False)

        running.directory.admit("CP-NEW")
        running.system.charger_admitted("CP-NEW")
        await wait_for(lambda: client.boot_statuses[-1:] == ["Accepted"])
        assert station.accepted


async def test_accept_all_admits_at_once(start_system: StartSystem) -> None:
    """Accept-all: an unknown charger is Accepted at its first boot and reported."""
    running = await start_system(AdmissionPolicy.ACCEPT_ALL)
    async with charger(running.url, "CP-ANY") as client:
        assert await client.boot() == "Accepted"
    assert "auto_admitted" in running.recorder.names("CP-ANY")


async def test_rejected_charger_gets_rejected(start_system: StartSystem) -> None:
    """A charger the user rejected connects but its boot is Rejected."""
    running = await start_system(AdmissionPolicy.ASK)
    running.directory.rejected.add("CP-BAD")
    async with charger(running.url, "CP-BAD") as client:
        assert await client.boot() == "Rejected"
    assert "admission_requested" not in running.recorder.names("CP-BAD")


async def test_reject_policy_refuses_unknown_chargers(start_system: StartSystem) -> None:
    """Reject policy: an unknown charger never gets a connection (HTTP 403)."""
    running = await start_system(AdmissionPolicy.REJECT)
    with pytest.raises(InvalidStatus) as refused:
        async with charger(running.url, "CP-X"):
            pass
    assert refused.value.response.status_code == 403
    running.directory.admit("CP-KNOWN")
    async with charger(running.url, "CP-KNOWN") as client:
        assert await client.boot() == "Accepted"


async def test_password_required_when_set(start_system: StartSystem) -> None:
    """Security profile 1: a missing or wrong password gets 401, the right one connects."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("s3cret-password"))
    for password in (None, "wrong-password"):
        with pytest.raises(InvalidStatus) as refused:
            async with charger(running.url, "CP-1", password=password):
                pass
        assert refused.value.response.status_code == 401
        assert "Basic" in refused.value.response.headers["WWW-Authenticate"]
    async with charger(running.url, "CP-1", password="s3cret-password") as client:
        assert await client.boot() == "Accepted"
    assert running.system.counters.refused == {"unauthorized": 2}


async def test_credentials_for_another_user_are_refused(start_system: StartSystem) -> None:
    """The Basic Auth user name must be the charger id."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("pw-1234567890123"))
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"{running.url}/CP-1",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth_header("CP-2", "pw-1234567890123"),
        ):
            pass
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize("path", ["/", "/" + "x" * 49])
async def test_bad_charger_id_gets_400(start_system: StartSystem, path: str) -> None:
    """An empty or oversized charger id is refused with HTTP 400."""
    running = await start_system()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{running.system.port}{path}"):
            pass
    assert refused.value.response.status_code == 400


async def test_new_connection_replaces_old(start_system: StartSystem) -> None:
    """A second connection with the same id closes the first, without an offline flap."""
    running = await start_system()
    running.directory.admit("CP-1")
    async with charger(running.url, "CP-1") as first:
        await first.boot()
        async with charger(running.url, "CP-1") as second:
            await wait_for(lambda: first.websocket.close_code is not None)
            assert first.websocket.close_code == 4000
            assert await second.boot() == "Accepted"
            assert running.system.stations["CP-1"].connected
            assert "disconnected" not in running.recorder.names("CP-1")
    await wait_for(lambda: not running.system.stations["CP-1"].connected)


async def test_stop_closes_every_socket(start_system: StartSystem) -> None:
    """Stopping the central system closes every charger connection."""
    running = await start_system()
    for charger_id in ("CP-1", "CP-2"):
        running.directory.admit(charger_id)
    async with charger(running.url, "CP-1") as one, charger(running.url, "CP-2") as two:
        await one.boot()
        await two.boot()
        await running.system.stop()
        for client in (one, two):
            with pytest.raises(ConnectionClosed):
                await client.websocket.recv()
            assert client.websocket.close_code == 1001


async def test_frame_size_limit(start_system: StartSystem) -> None:
    """A frame over the limit closes the connection (1009) instead of being buffered."""
    running = await start_system(max_frame_bytes=4096)
    running.directory.admit("CP-1")
    async with charger(running.url, "CP-1") as client:
        await client.websocket.send('[2,"1","DataTransfer",{"vendorId":"' + "x" * 5000 + '"}]')
        await wait_for(lambda: client.websocket.close_code is not None)
        assert client.websocket.close_code == 1009


async def test_compression_keeps_no_window_of_ours(start_system: StartSystem) -> None:
    """Deflate is offered as OCPP-J asks, without a compressor kept per charger for our side."""
    running = await start_system()
    running.directory.admit("CP-1")
    async with charger(running.url, "CP-1") as client:
        assert client.websocket.response is not None
        accepted = client.websocket.response.headers["Sec-WebSocket-Extensions"]
        assert accepted.startswith("permessage-deflate")
        (deflate,) = client.websocket.protocol.extensions
        assert isinstance(deflate, PerMessageDeflate)
        assert deflate.remote_no_context_takeover  # each of our messages stands alone
        assert not deflate.local_no_context_takeover  # the charger's window is kept
        assert await client.boot() == "Accepted"
        assert (await client.heartbeat()).current_time


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl is part of the base system)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_security_profile_2(start_system: StartSystem, tmp_path: Path) -> None:
    """With TLS the same conversation runs over wss://, with a password."""
    cert, key = make_certificate(tmp_path)
    context = await asyncio.to_thread(build_ssl_context, str(cert), str(key))
    running = await start_system(ssl_context=context)
    running.directory.admit("CP-TLS", hash_password("tls-password-12345"))
    client_context = ssl.create_default_context(cafile=str(cert))
    assert running.url.startswith("wss://")
    async with charger(
        running.url, "CP-TLS", "ocpp2.0.1", password="tls-password-12345", ssl=client_context
    ) as client:
        assert await client.boot() == "Accepted"
    with pytest.raises(InvalidMessage):
        # A plain ws:// client gets no HTTP answer from the TLS port.
        async with charger(running.url.replace("wss://", "ws://"), "CP-TLS"):
            pass


def test_build_ssl_context_errors(tmp_path: Path) -> None:
    """Missing files raise OSError; files that are not PEM raise ssl.SSLError."""
    with pytest.raises(FileNotFoundError):
        build_ssl_context(str(tmp_path / "missing.pem"), None)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ssl.SSLError):
        build_ssl_context(str(junk), str(junk))


async def test_dead_connection_is_dropped_by_pings(start_system: StartSystem) -> None:
    """A peer that completed the handshake and then went silent is closed by pings."""
    running = await start_system(ping_interval=0.2, ping_timeout=0.2, close_timeout=0.2)
    running.directory.admit("CP-DEAD")
    reader, writer = await asyncio.open_connection("127.0.0.1", running.system.port)
    writer.write(
        b"GET /ocpp/CP-DEAD HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    )
    assert (await reader.readline()).startswith(b"HTTP/1.1 101")
    await wait_for(lambda: "CP-DEAD" in running.system.stations)
    station = running.system.stations["CP-DEAD"]
    assert station.connected
    # Never answer the pings: the server gives up after interval + timeout + close.
    await wait_for(lambda: not station.connected)
    assert running.recorder.names("CP-DEAD")[-1] == "disconnected"
    writer.close()


async def test_a_retrying_charger_with_a_wrong_password_is_logged_once(
    start_system: StartSystem, caplog: pytest.LogCaptureFixture
) -> None:
    """One warning, then quiet retries; a success resets it."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("right-password-123"))
    for _ in range(3):
        with pytest.raises(InvalidStatus):
            async with charger(running.url, "CP-1", password="wrong-password-123"):
                pass
    warnings = [
        r for r in caplog.records if r.levelname == "WARNING" and "Refused" in r.getMessage()
    ]
    assert len(warnings) == 1
    async with charger(running.url, "CP-1", password="right-password-123"):
        pass
    with pytest.raises(InvalidStatus):
        async with charger(running.url, "CP-1", password="wrong-password-123"):
            pass
    warnings = [
        r for r in caplog.records if r.levelname == "WARNING" and "Refused" in r.getMessage()
    ]
    assert len(warnings) == 2


def basic(text: bytes) -> str:
    return "Basic " + base64.b64encode(text).decode()


# Authorization values that are Basic credentials no one can read.
UNREADABLE = {
    "not base64": "Basic !!!not-base64!!!",
    "no colon": basic(b"CP-1-and-no-password"),
    "not UTF-8": basic(b"CP-1:\xff\xfe\xfd"),
    "oversized": basic(b"CP-1:" + b"x" * MAX_AUTHORIZATION_LENGTH),
    "not ASCII": "Basic Q1At\u00e9\u00e9",
}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        (["Bearer abc"], None),
        ([basic(b"CP-2:pw")], None),
        ([basic(b"CP-1:pw:with:colons")], "pw:with:colons"),
        (["  basic " + basic(b"CP-1:")[6:]], ""),
    ],
)
def test_basic_auth_password(values: list[str], expected: str | None) -> None:
    """No credentials, another scheme or another user: None; else the password."""
    headers = Headers([("Authorization", value) for value in values])
    assert basic_auth_password(headers, "CP-1") == expected


@pytest.mark.parametrize("value", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_basic_credentials_are_refused(value: str) -> None:
    """Credentials that cannot be read are a 401, not an exception of another kind."""
    with pytest.raises(BadAuthorization) as bad:
        basic_auth_password(Headers([("Authorization", value)]), "CP-1")
    assert bad.value.status is HTTPStatus.UNAUTHORIZED


def test_repeated_authorization_headers_are_a_bad_request() -> None:
    """Two Authorization headers are ambiguous: 400."""
    headers = Headers([("Authorization", basic(b"CP-1:a")), ("Authorization", basic(b"CP-1:a"))])
    with pytest.raises(BadAuthorization) as bad:
        basic_auth_password(headers, "CP-1")
    assert bad.value.status is HTTPStatus.BAD_REQUEST


async def raw_handshake(port: int, charger_id: str, header_lines: list[bytes]) -> bytes:
    """Send a WebSocket upgrade with extra header lines as they are; the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET /ocpp/{charger_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n".encode()
            + b"".join(line + b"\r\n" for line in header_lines)
            + b"\r\n"
        )
        return await asyncio.wait_for(reader.readline(), PATIENCE_S)
    finally:
        writer.close()


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("password_hash", [True, False], ids=["with password", "without"])
async def test_duplicate_authorization_headers_get_400(
    start_system: StartSystem, caplog: pytest.LogCaptureFixture, password_hash: bool
) -> None:
    """A clean 400 and one short warning; no 500, no traceback."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("pw-1234567890123") if password_hash else None)
    status = await raw_handshake(
        running.system.port,
        "CP-1",
        [
            b"Authorization: " + basic(b"CP-1:pw-1234567890123").encode(),
            b"Authorization: " + basic(b"CP-1:other-password").encode(),
        ],
    )
    assert status.startswith(b"HTTP/1.1 400"), status
    assert not tracebacks(caplog)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("more than one Authorization header" in line for line in warnings), warnings


@pytest.mark.parametrize("value", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_unreadable_credentials_get_401(
    start_system: StartSystem, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """Whatever the header holds, a clean 401 without a traceback (even for a charger
    without a password: unreadable credentials are never taken as none)."""
    running = await start_system()
    running.directory.admit("CP-1", hash_password("pw-1234567890123"))
    running.directory.admit("CP-2")
    for charger_id in ("CP-1", "CP-2"):
        line = b"Authorization: " + value.encode("latin-1")
        status = await raw_handshake(running.system.port, charger_id, [line])
        assert status.startswith(b"HTTP/1.1 401"), status
    assert not tracebacks(caplog)
