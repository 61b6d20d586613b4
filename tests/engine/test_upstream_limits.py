"""What a permitted upstream command may not smuggle in, and whose sessions it may stop.

Review of issue 24, items 3, 11 and 14: a remote start's charging profile, a trigger
that makes our CA sign a certificate, and the stop of a session started with our own
tag. Against the minimal OCPP-J server of `fake_upstream`, which needs exact frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.events import TransactionEnded
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_policy import CommandOutcome
from custom_components.ocpp_csms.csms.upstream_settings import (
    DEFAULT_ALLOWED_COMMANDS,
    CommandPolicy,
)
from tests.chargers import charger, wait_for
from tests.engine.conftest import ConnectRaw, StartSystem
from tests.engine.fake_upstream import FakeUpstream, fake_upstream
from tests.engine.forwarding import VERSIONS, forwarding, outcomes, received, registry, status

_PROFILE = {
    "chargingProfileId": 99,
    "stackLevel": 9,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32}],
    },
}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with fake_upstream() as server:
        yield server


async def _remote_start_reaches_the_charger_with(
    start_system: StartSystem,
    tmp_path: Path,
    upstream: FakeUpstream,
    raw_charger: ConnectRaw,
    policy: CommandPolicy,
    allowed: frozenset[str] = DEFAULT_ALLOWED_COMMANDS,
) -> dict[str, Any]:
    ours, _ = await forwarding(start_system, upstream.url, tmp_path, policy=policy, allowed=allowed)
    client = await raw_charger(running=ours)
    await wait_for(lambda: upstream.of("BootNotification"))
    start = {"idTag": "X", "connectorId": 1, "chargingProfile": _PROFILE}
    ids = await upstream.post([("RemoteStartTransaction", start)])
    unique_id, payload = await client.expect_call("RemoteStartTransaction")
    await client.answer(unique_id, {"status": "Accepted"})
    [answer] = await upstream.answers_to(ids)
    assert answer[2] == {"status": "Accepted"}
    return payload


@pytest.mark.parametrize("policy", [CommandPolicy.SESSIONS_AND_AUTH, CommandPolicy.FULL])
async def test_a_remote_start_loses_its_charging_profile(
    start_system: StartSystem,
    tmp_path: Path,
    upstream: FakeUpstream,
    raw_charger: ConnectRaw,
    policy: CommandPolicy,
) -> None:
    """SetChargingProfile is not permitted: the session starts under our own limits."""
    payload = await _remote_start_reaches_the_charger_with(
        start_system, tmp_path, upstream, raw_charger, policy
    )
    assert payload == {"idTag": "X", "connectorId": 1}


async def test_a_remote_start_keeps_its_profile_when_set_charging_profile_is_permitted(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, raw_charger: ConnectRaw
) -> None:
    payload = await _remote_start_reaches_the_charger_with(
        start_system,
        tmp_path,
        upstream,
        raw_charger,
        CommandPolicy.FULL,
        DEFAULT_ALLOWED_COMMANDS | {"SetChargingProfile"},
    )
    assert payload["chargingProfile"]["stackLevel"] == 9


@pytest.mark.parametrize(
    ("version", "action", "requested"),
    [
        (OcppVersion.V16, "ExtendedTriggerMessage", "SignChargePointCertificate"),
        (OcppVersion.V201, "TriggerMessage", "SignChargingStationCertificate"),
        (OcppVersion.V201, "TriggerMessage", "SignV2GCertificate"),
    ],
)
async def test_a_trigger_of_a_signing_request_needs_certificate_signed(
    start_system: StartSystem,
    tmp_path: Path,
    upstream: FakeUpstream,
    version: OcppVersion,
    action: str,
    requested: str,
) -> None:
    ours, reported = await forwarding(start_system, upstream.url, tmp_path, version=version)
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification"))
        refused = await upstream.send_call(action, {"requestedMessage": requested})
        assert refused[:3] == [3, refused[1], {"status": "Rejected"}]
        heartbeat = await upstream.send_call(action, {"requestedMessage": "Heartbeat"})
        assert heartbeat[0] == 3
        assert heartbeat[2]["status"] == "Accepted"
        assert received(client) == [action]
    assert outcomes(reported, action) == [
        (action, False, CommandOutcome.REFUSED),
        (action, True, CommandOutcome.FORWARDED),
    ]
    assert status(ours).commands_refused == 1


async def test_data_transfer_is_not_permitted_by_default(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream
) -> None:
    ours, reported = await forwarding(start_system, upstream.url, tmp_path)
    async with charger(ours.url, "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification"))
        answer = await upstream.send_call("DataTransfer", {"vendorId": "acme"})
        assert answer[2] == {"status": "Rejected"}
        assert received(client) == []
    assert outcomes(reported, "DataTransfer") == [("DataTransfer", False, CommandOutcome.REFUSED)]


async def _stop_of_a_session_with_our_tag(
    start_system: StartSystem,
    tmp_path: Path,
    upstream: FakeUpstream,
    version: OcppVersion,
    policy: CommandPolicy,
) -> tuple[list[Any], Any, bool]:
    """The upstream's stop of a session started with HOME: its answer, what the charger got."""
    ours, reported = await forwarding(
        start_system,
        upstream.url,
        tmp_path,
        version=version,
        policy=policy,
        authorizer=registry("HOME"),
    )
    async with charger(ours.url, "CP-1", version.value) as client:
        assert await client.boot() == "Accepted"
        transaction_id = await client.start_session(id_tag="HOME")
        await wait_for(lambda: status(ours).queued == 0 and upstream.of("BootNotification"))
        if version.is_2x:
            answer = await upstream.send_call(
                "RequestStopTransaction", {"transactionId": transaction_id}
            )
        else:
            # 9001: the fake upstream's id for the first start it was told of.
            answer = await upstream.send_call("RemoteStopTransaction", {"transactionId": 9001})
        ended = bool(ours.recorder.of_type(TransactionEnded, "CP-1"))
        if answer[2] == {"status": "Accepted"}:
            await wait_for(lambda: ours.recorder.of_type(TransactionEnded, "CP-1"))
            ended = True
        stops = [action for action in received(client) if "Stop" in action]
    return answer, (stops, reported), ended


@pytest.mark.parametrize("version", VERSIONS)
async def test_under_sessions_and_auth_a_session_started_with_our_tag_is_not_the_upstreams_to_stop(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, version: OcppVersion
) -> None:
    answer, (stops, reported), ended = await _stop_of_a_session_with_our_tag(
        start_system, tmp_path, upstream, version, CommandPolicy.SESSIONS_AND_AUTH
    )
    assert answer[2] == {"status": "Rejected"}
    assert stops == []
    assert not ended
    action = "RequestStopTransaction" if version.is_2x else "RemoteStopTransaction"
    assert outcomes(reported, action) == [(action, False, CommandOutcome.REFUSED)]


@pytest.mark.parametrize("version", VERSIONS)
async def test_under_full_the_upstream_may_stop_a_session_started_with_our_tag(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, version: OcppVersion
) -> None:
    answer, (stops, _), ended = await _stop_of_a_session_with_our_tag(
        start_system, tmp_path, upstream, version, CommandPolicy.FULL
    )
    assert answer[2] == {"status": "Accepted"}
    assert len(stops) == 1
    assert ended


async def test_a_trigger_of_a_signing_request_passes_when_certificate_signed_is_permitted(
    start_system: StartSystem, tmp_path: Path, upstream: FakeUpstream, raw_charger: ConnectRaw
) -> None:
    allowed = DEFAULT_ALLOWED_COMMANDS | {"CertificateSigned"}
    ours, _ = await forwarding(start_system, upstream.url, tmp_path, allowed=allowed)
    client = await raw_charger(running=ours)
    await wait_for(lambda: upstream.of("BootNotification"))
    trigger = {"requestedMessage": "SignChargePointCertificate"}
    ids = await upstream.post([("ExtendedTriggerMessage", trigger)])
    unique_id, payload = await client.expect_call("ExtendedTriggerMessage")
    assert payload == trigger
    await client.answer(unique_id, {"status": "Accepted"})
    [answer] = await upstream.answers_to(ids)
    assert answer[2] == {"status": "Accepted"}
