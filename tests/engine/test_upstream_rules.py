"""The pieces of the upstream's policies on their own: lists, bounds, memory, verdicts."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.authorization import (
    AuthorizationDecision,
    AuthorizationStatus,
)
from custom_components.ocpp_csms.csms.rpc_types import CallOutcome, OutcomeStatus
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_authorization import (
    FAILED_REMEMBER_S,
    REMEMBER_S,
    RefusedSession,
    UpstreamAuthorization,
    refused_session,
)
from custom_components.ocpp_csms.csms.upstream_policy import (
    CommandOutcome,
    UpstreamCommand,
    bounded_reports,
    permitted_commands,
)
from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_settings import (
    DANGEROUS_COMMANDS,
    SESSION_COMMANDS,
    CommandPolicy,
    UpstreamSettings,
)

UNKNOWN = AuthorizationDecision(AuthorizationStatus.UNKNOWN)
KNOWN = AuthorizationDecision(AuthorizationStatus.ACCEPTED, known=True)


def settings(policy: CommandPolicy, version: OcppVersion, **more: Any) -> UpstreamSettings:
    return UpstreamSettings("ws://127.0.0.1:1/ocpp", "UP-1", version, policy=policy, **more)


@pytest.mark.parametrize("version", [OcppVersion.V16, OcppVersion.V201])
def test_each_policy_permits_its_commands_of_the_version(version: OcppVersion) -> None:
    assert permitted_commands(settings(CommandPolicy.MIRROR_ONLY, version)) == frozenset()
    sessions = permitted_commands(settings(CommandPolicy.SESSIONS_AND_AUTH, version))
    start = "RequestStartTransaction" if version.is_2x else "RemoteStartTransaction"
    assert start in sessions
    assert sessions < SESSION_COMMANDS
    full = permitted_commands(settings(CommandPolicy.FULL, version))
    assert "TriggerMessage" in full
    assert not full & DANGEROUS_COMMANDS
    # Vendor-specific, so it may be anything: only when the user names it.
    assert "DataTransfer" not in full
    # An allow-list names what it likes; only what the version has counts.
    wider = settings(
        CommandPolicy.FULL, version, allowed_commands=frozenset({"Reset", "Heartbeat"})
    )
    assert permitted_commands(wider) == {"Reset"}


def test_reports_of_commands_that_did_not_reach_the_charger_are_bounded() -> None:
    reported: list[UpstreamCommand] = []
    report = bounded_reports(reported.append, per_minute=3)
    refused = UpstreamCommand("CP-1", "Reset", False, CommandOutcome.REFUSED, "Rejected")
    forwarded = UpstreamCommand("CP-1", "GetConfiguration", True, CommandOutcome.FORWARDED)
    for _ in range(10):
        report(refused)
        report(forwarded)
    assert reported.count(refused) == 3
    assert reported.count(forwarded) == 10


async def test_the_queue_finds_our_transaction_by_the_upstreams_id(tmp_path: Path) -> None:
    queue = UpstreamQueue(tmp_path / "q.db")
    await queue.open()
    queue.map_transaction("17", "9001")
    queue.map_transaction("18", "9002")
    assert queue.our_transaction("9002") == "18"
    assert queue.our_transaction("17") is None  # ours are not theirs
    await queue.close()


class Upstream:
    """Answers Authorize with `status` and counts the questions."""

    def __init__(self, status: str | None = "Accepted") -> None:
        self.status = status
        self.asked: list[dict[str, Any]] = []
        self.connected = True

    async def ask(self, action: str, payload: dict[str, Any], timeout: float) -> CallOutcome:
        self.asked.append(payload)
        if self.status is None:
            return CallOutcome(OutcomeStatus.TIMEOUT)
        return CallOutcome(OutcomeStatus.RESULT, {"idTokenInfo": {"status": self.status}})


async def decided(result: AuthorizationDecision | Awaitable[AuthorizationDecision]) -> Any:
    if isinstance(result, AuthorizationDecision):
        return result
    return await result


async def test_an_answer_is_remembered_for_a_while_and_holds_back_one_relay() -> None:
    upstream, now = Upstream("NoCredit"), [0.0]
    authorization = UpstreamAuthorization(
        "CP-1", OcppVersion.V201, upstream.ask, lambda: upstream.connected, clock=lambda: now[0]
    )
    first = await decided(authorization.decide("card", "ISO14443", UNKNOWN))
    # A status we do not have refuses as Invalid.
    assert first.status is AuthorizationStatus.INVALID
    assert upstream.asked == [{"idToken": {"idToken": "card", "type": "ISO14443"}}]
    # The start that follows takes the answer without asking (the tag in another case).
    assert authorization.decide("CARD", None, UNKNOWN) == first
    authorize = {"idToken": {"idToken": "card", "type": "ISO14443"}}
    assert authorization.holds_relay(authorize)
    assert not authorization.holds_relay(authorize)
    now[0] = REMEMBER_S
    upstream.status = "Accepted"
    again = await decided(authorization.decide("card", None, UNKNOWN))
    assert again.accepted
    assert len(upstream.asked) == 2


async def test_an_answer_is_remembered_with_its_token_type() -> None:
    upstream = Upstream("Blocked")
    authorization = UpstreamAuthorization(
        "CP-1", OcppVersion.V201, upstream.ask, lambda: upstream.connected
    )
    assert not (await decided(authorization.decide("04AB", "ISO14443", UNKNOWN))).accepted
    upstream.status = "Accepted"
    # The same number as another kind of token is another token: asked about.
    assert (await decided(authorization.decide("04AB", "eMAID", UNKNOWN))).accepted
    assert not (await decided(authorization.decide("04AB", "ISO14443", UNKNOWN))).accepted
    assert len(upstream.asked) == 2
    # One charger's Authorize of each is held back, each by its own answer.
    assert authorization.holds_relay({"idToken": {"idToken": "04AB", "type": "eMAID"}})
    assert authorization.holds_relay({"idToken": {"idToken": "04AB", "type": "ISO14443"}})
    assert not authorization.holds_relay({"idToken": {"idToken": "04AB", "type": "eMAID"}})


async def test_an_ask_without_an_answer_is_not_repeated_for_a_while() -> None:
    """A connected but silent upstream costs a tag one wait a minute, not one per message."""
    upstream, now = Upstream(None), [0.0]
    authorization = UpstreamAuthorization(
        "CP-1", OcppVersion.V201, upstream.ask, lambda: upstream.connected, clock=lambda: now[0]
    )
    assert await decided(authorization.decide("card", None, UNKNOWN)) is UNKNOWN
    now[0] = FAILED_REMEMBER_S - 1
    # Answered at once with our own decision; the charger's Authorize still goes upstream.
    assert authorization.decide("card", None, UNKNOWN) is UNKNOWN
    assert not authorization.holds_relay({"idToken": {"idToken": "card", "type": "ISO14443"}})
    assert len(upstream.asked) == 1
    now[0] = FAILED_REMEMBER_S
    upstream.status = "Accepted"
    assert (await decided(authorization.decide("card", None, UNKNOWN))).accepted
    assert len(upstream.asked) == 2


def test_concurrent_tx_is_no_refusal_of_a_session() -> None:
    start = {"connectorId": 1, "idTag": "card", "timestamp": "2026-01-01T00:00:00Z"}
    busy = CallOutcome(OutcomeStatus.RESULT, {"idTagInfo": {"status": "ConcurrentTx"}})
    assert refused_session("StartTransaction", start, busy) is None
    event = {
        "eventType": "Started",
        "idToken": {"idToken": "card", "type": "RFID"},
        "transactionInfo": {"transactionId": "tx-1"},
    }
    busy_2x = CallOutcome(OutcomeStatus.RESULT, {"idTokenInfo": {"status": "ConcurrentTx"}})
    assert refused_session("TransactionEvent", event, busy_2x) is None


async def test_known_tags_and_an_absent_upstream_are_decided_at_once() -> None:
    upstream = Upstream()
    authorization = UpstreamAuthorization(
        "CP-1", OcppVersion.V16, upstream.ask, lambda: upstream.connected
    )
    assert authorization.decide("HOME", None, KNOWN) is KNOWN
    upstream.connected = False
    assert authorization.decide("card", None, UNKNOWN) is UNKNOWN
    upstream.connected, upstream.status = True, None
    assert await decided(authorization.decide("card", None, UNKNOWN)) is UNKNOWN
    assert (authorization.asked, authorization.fell_back) == (1, 1)
    assert upstream.asked == [{"idTag": "card"}]
    assert not authorization.holds_relay({"idTag": "card"})  # nothing was answered


def test_a_refused_start_or_event_names_its_session() -> None:
    start = {"connectorId": 1, "idTag": "card", "timestamp": "2026-01-01T00:00:00Z"}
    invalid = CallOutcome(OutcomeStatus.RESULT, {"idTagInfo": {"status": "Invalid"}})
    assert refused_session("StartTransaction", start, invalid) == RefusedSession(
        "card", None, "Invalid", start=(1, "card", "2026-01-01T00:00:00Z")
    )
    accepted = CallOutcome(OutcomeStatus.RESULT, {"idTagInfo": {"status": "Accepted"}})
    assert refused_session("StartTransaction", start, accepted) is None
    assert refused_session("StartTransaction", start, CallOutcome(OutcomeStatus.TIMEOUT)) is None
    event = {
        "eventType": "Updated",
        "idToken": {"idToken": "card", "type": "RFID"},
        "transactionInfo": {"transactionId": "tx-1"},
    }
    blocked = CallOutcome(OutcomeStatus.RESULT, {"idTokenInfo": {"status": "Blocked"}})
    assert refused_session("TransactionEvent", event, blocked) == RefusedSession(
        "card", "RFID", "Blocked", transaction_id="tx-1"
    )
    ended = event | {"eventType": "Ended"}
    assert refused_session("TransactionEvent", ended, blocked) is None
    assert refused_session("TransactionEvent", {"eventType": "Started"}, blocked) is None
