"""The upstream connection test: each way it ends, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_probe import (
    ProbeResult,
    probe_upstream,
    url_problem,
)
from custom_components.ocpp_csms.csms.upstream_settings import UpstreamSettings
from tests.chargers import wait_for
from tests.engine.fake_upstream import FakeUpstream, fake_upstream
from tests.engine.pki import server_files


def settings(
    url: str, version: OcppVersion = OcppVersion.V16, password: str | None = None
) -> UpstreamSettings:
    return UpstreamSettings(url, "UP-1", version, password=password)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream(password="right") as server:
        yield server


@pytest.mark.parametrize("version", list(OcppVersion))
async def test_an_upstream_that_takes_the_connection_is_ok_and_hears_nothing(
    upstream: FakeUpstream, version: OcppVersion
) -> None:
    outcome = await probe_upstream(settings(upstream.url, version, "right"))
    assert outcome.ok, outcome
    # No boot (nor anything else): the backend must not record a made-up boot. Once
    # it saw the connection end it has read every frame the probe sent.
    await wait_for(lambda: upstream.ended == 1)
    assert upstream.calls == []


async def test_a_wrong_password_is_credentials_refused(upstream: FakeUpstream) -> None:
    for password in ("wrong", None):
        outcome = await probe_upstream(settings(upstream.url, password=password))
        assert (outcome.result, outcome.detail) == (ProbeResult.CREDENTIALS_REFUSED, "HTTP 401")


async def test_another_http_answer_is_refused(upstream: FakeUpstream) -> None:
    await upstream.go_down()
    outcome = await probe_upstream(settings(upstream.url, password="right"))
    assert (outcome.result, outcome.detail) == (ProbeResult.REFUSED, "HTTP 503")


async def test_nothing_listening_is_unreachable() -> None:
    outcome = await probe_upstream(settings(f"ws://127.0.0.1:{closed_port()}/ocpp"))
    assert outcome.result is ProbeResult.UNREACHABLE
    assert "ConnectionRefused" in outcome.detail


async def test_a_server_that_never_answers_is_unreachable_within_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the probe gives up and closes
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await probe_upstream(settings(f"ws://127.0.0.1:{port}/ocpp"), timeout=0.5)
    finally:
        server.close()
        await server.wait_closed()
    assert (outcome.result, outcome.detail) == (ProbeResult.UNREACHABLE, "no answer within 0.5 s")


async def _no_subprotocol(socket: ServerConnection) -> None:
    await socket.wait_closed()


@pytest.mark.parametrize(
    ("version", "result"),
    [
        (OcppVersion.V201, ProbeResult.VERSION_REFUSED),
        (OcppVersion.V21, ProbeResult.VERSION_REFUSED),
        # Many 1.6 backends name no subprotocol at all: that is 1.6.
        (OcppVersion.V16, ProbeResult.OK),
    ],
)
async def test_a_backend_that_names_no_subprotocol_speaks_only_1_6(
    version: OcppVersion, result: ProbeResult
) -> None:
    async with serve(_no_subprotocol, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        outcome = await probe_upstream(settings(f"ws://127.0.0.1:{port}/ocpp", version))
    assert outcome.result is result


async def test_a_backend_of_another_version_is_version_refused() -> None:
    async with serve(
        _no_subprotocol,
        "127.0.0.1",
        0,
        subprotocols=[OcppVersion.V16.value],  # type: ignore[list-item]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ocpp"
        assert (await probe_upstream(settings(url, OcppVersion.V16))).ok
        outcome = await probe_upstream(settings(url, OcppVersion.V201))
    # websockets refuses the handshake itself (HTTP 400) when no offered subprotocol fits.
    assert outcome.result is ProbeResult.VERSION_REFUSED
    assert outcome.detail.startswith("HTTP 400: ")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/ocpp",
        "ws://",
        "ws://user:secret@example.com/ocpp",
        "ws://[::1/ocpp",
        "ws://host:99999/ocpp",
    ],
)
async def test_what_is_no_upstream_url_is_refused_before_connecting(url: str) -> None:
    assert url_problem(url) is not None
    outcome = await probe_upstream(_unchecked(url))
    assert outcome.result is ProbeResult.INVALID_URL


def _unchecked(url: str) -> UpstreamSettings:
    """Settings whose URL skipped their own check (the probe checks again)."""
    made = UpstreamSettings("ws://placeholder", "UP-1", OcppVersion.V16)
    object.__setattr__(made, "url", url)
    return made


async def test_wss_with_a_trusted_certificate_is_ok_and_an_untrusted_one_is_tls_failed(
    tmp_path: Path,
) -> None:
    cert, key = server_files(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    async with serve(
        _no_subprotocol,
        "127.0.0.1",
        0,
        ssl=server_context,
        subprotocols=[OcppVersion.V16.value],  # type: ignore[list-item]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"wss://127.0.0.1:{port}/ocpp"
        trusting = ssl.create_default_context(cafile=str(cert))
        assert (await probe_upstream(settings(url), ssl_context=trusting)).ok
        # The system's trusted certificates do not include a self-signed one.
        outcome = await probe_upstream(settings(url))
    assert outcome.result is ProbeResult.TLS_FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.detail
