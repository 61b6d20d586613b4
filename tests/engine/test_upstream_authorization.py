"""Tags and sessions under an upstream whose word counts (issue 24).

Local tags first, then the upstream; a session the upstream refuses is stopped unless
its tag is ours. Against our own engine as the upstream, or `fake_upstream`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.authorization import AuthorizationMode
from custom_components.ocpp_csms.csms.events import TransactionEnded, TransactionStarted
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_authorization import UpstreamAuthorization
from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from tests.chargers import charger, wait_for
from tests.engine.conftest import Running, StartSystem
from tests.engine.fake_upstream import FakeUpstream, fake_upstream
from tests.engine.forwarding import (
    VERSIONS,
    asks_upstream,
    forwarding,
    our_engine_upstream,
    received,
    registry,
    status,
)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


async def home_forwarded(
    start_system: StartSystem, upstream: FakeUpstream, tmp_path: Path
) -> Running:
    """CP-1 forwarded under sessions-and-auth; we know only the tag HOME."""
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
    )
    return ours


def authorization_of(ours: Running) -> UpstreamAuthorization:
    authorization = ours.system.upstreams.authorization("CP-1")
    assert authorization is not None
    return authorization


# -- authorization: local tags first, then the upstream --------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [({"status": "Accepted"}, "Accepted"), ({"status": "Blocked"}, "Blocked")],
)
async def test_the_upstream_decides_on_a_tag_we_do_not_know(
    start_system: StartSystem,
    tmp_path: Path,
    upstream: FakeUpstream,
    answer: dict[str, Any],
    expected: str,
) -> None:
    upstream.replies["Authorize"] = {"idTagInfo": answer}
    ours = await home_forwarded(start_system, upstream, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        assert await client.authorize("EMPLOYER") == expected
        assert await client.heartbeat()
        await wait_for(lambda: upstream.of("Heartbeat"))
    # Asked once: the charger's own Authorize is not relayed on top.
    assert upstream.of("Authorize") == [{"idTag": "EMPLOYER"}]


async def test_a_2x_session_with_a_tag_we_do_not_know_is_authorized_by_the_upstream(
    start_system: StartSystem, tmp_path: Path
) -> None:
    theirs = await our_engine_upstream(start_system, "EMPLOYER")
    ours, _ = await forwarding(
        start_system,
        theirs.url,
        tmp_path,
        version=OcppVersion.V201,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
    )
    options = {"connectors": 2}
    async with charger(ours.url, "CP-1", "ocpp2.0.1", charger_options=options) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        await client.start_session(id_tag="EMPLOYER")
        await client.start_session(connector=2, id_tag="STRANGER")
    started = {
        event.transaction.id_tag: event.transaction.authorized
        for event in ours.recorder.of_type(TransactionStarted, "CP-1")
    }
    assert started == {"EMPLOYER": True, "STRANGER": False}


async def test_a_tag_we_know_never_waits_for_the_upstream(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    """The upstream would keep an Authorize for good: a known tag never asks it."""
    upstream.silent.add("Authorize")
    ours = await home_forwarded(start_system, upstream, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        assert await client.authorize("HOME") == "Accepted"
        await client.start_session(id_tag="HOME")
    authorization = authorization_of(ours)
    assert authorization.asked == 0


async def test_a_silent_upstream_leaves_our_own_decision(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    upstream.silent.add("Authorize")
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
        authorize_timeout=0.2,
    )
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        assert await client.authorize("EMPLOYER") == "Invalid"
        # The silence is remembered a while: the tag's start does not wait again.
        await client.start_session(id_tag="EMPLOYER")
    authorization = authorization_of(ours)
    assert (authorization.asked, authorization.fell_back) == (1, 1)


async def test_an_upstream_that_did_not_accept_our_boot_is_not_asked(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    upstream.boot_status = "Pending"
    ours = await home_forwarded(start_system, upstream, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification") and status(ours).connected)
        assert not asks_upstream(ours)
        assert await client.authorize("EMPLOYER") == "Invalid"
    authorization = authorization_of(ours)
    assert authorization.asked == 0


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(AuthorizationMode.KNOWN_TAGS, "Invalid"), (AuthorizationMode.ACCEPT_ALL, "Accepted")],
)
async def test_an_upstream_that_is_down_leaves_our_own_decision_at_once(
    start_system: StartSystem,
    tmp_path: Path,
    upstream: FakeUpstream,
    mode: AuthorizationMode,
    expected: str,
) -> None:
    tags = registry("HOME")
    tags.set_mode(mode)
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=tags,
    )
    await wait_for(lambda: status(ours).connected)
    await upstream.go_down()
    await wait_for(lambda: not status(ours).connected)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        assert await client.authorize("EMPLOYER") == expected
    authorization = authorization_of(ours)
    assert authorization.asked == 0


async def test_the_start_after_an_authorize_does_not_ask_again(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours = await home_forwarded(start_system, upstream, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        assert await client.authorize("EMPLOYER") == "Accepted"
        await client.start_session(id_tag="EMPLOYER")
        await wait_for(lambda: upstream.of("StartTransaction"))
    authorization = authorization_of(ours)
    assert authorization.asked == 1
    [start] = ours.recorder.of_type(TransactionStarted, "CP-1")
    assert start.transaction.authorized


async def test_mirror_only_never_asks_the_upstream(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    upstream.replies["Authorize"] = {"idTagInfo": {"status": "Accepted"}}
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        policy=CommandPolicy.MIRROR_ONLY,
        authorizer=registry("HOME"),
    )
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: status(ours).connected)
        assert await client.authorize("EMPLOYER") == "Invalid"
    assert ours.system.upstreams.authorization("CP-1") is None


# -- the upstream's word on sessions ---------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_session_the_upstream_refuses_is_stopped(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, version: OcppVersion
) -> None:
    """It accepted the tag at Authorize, then refused it in its answer to the start."""
    if version.is_2x:
        upstream.replies["Authorize"] = {"idTokenInfo": {"status": "Accepted"}}
        upstream.replies["TransactionEvent"] = {"idTokenInfo": {"status": "Invalid"}}
    else:
        upstream.replies["StartTransaction"] = {
            "transactionId": 77,
            "idTagInfo": {"status": "Invalid"},
        }
    ours, _ = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        version=version,
        policy=CommandPolicy.SESSIONS_AND_AUTH,
        authorizer=registry("HOME"),
    )
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        transaction_id = await client.start_session(id_tag="EMPLOYER")
        stop = "RequestStopTransaction" if version.is_2x else "RemoteStopTransaction"
        expected_id = transaction_id if version.is_2x else int(transaction_id)
        # Waits for the stop sent, not for the session ended: the simulated charger may
        # read the stop before it took in our answer to its start, and then refuses it.
        await wait_for(lambda: (stop, {"transaction_id": expected_id}) in client.received)
    [started] = ours.recorder.of_type(TransactionStarted, "CP-1")
    assert started.transaction.authorized


async def test_a_session_with_our_own_tag_is_ours_whatever_the_upstream_says(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    upstream.replies["StartTransaction"] = {"transactionId": 77, "idTagInfo": {"status": "Invalid"}}
    ours = await home_forwarded(start_system, upstream, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: asks_upstream(ours))
        await client.start_session(id_tag="HOME")
        await wait_for(lambda: upstream.of("StartTransaction") and status(ours).queued == 0)
        assert await client.heartbeat()
        await wait_for(lambda: upstream.of("Heartbeat"))
        assert "RemoteStopTransaction" not in received(client)
    assert not ours.recorder.of_type(TransactionEnded, "CP-1")
