"""Which CALLERRORs set a transaction message aside, and which are waited out.

Review of issue 24, item 4: an upstream down for a couple of minutes (InternalError,
GenericError) must not cost a session its StartTransaction, nor a SecurityError before
any boot is on record (an upstream added to a running charger) every transaction
message. Only codes that say the payload itself is wrong set one aside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.ocpp_csms.csms import upstream as upstream_module
from custom_components.ocpp_csms.csms.rpc_types import CallOutcome, OutcomeStatus
from custom_components.ocpp_csms.csms.upstream_queue import Queued, UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_refusals import (
    PAYLOAD_ERRORS,
    TRANSIENT_TRIES,
    Refusals,
    Verdict,
)
from tests.chargers import wait_for
from tests.engine.fake_upstream import fake_upstream
from tests.engine.test_upstream_faults import BOOT, METER, START, STARTED, STOP, link_to

WAITS = (5.0, 15.0, 30.0, 60.0)
START_ENTRY = Queued(1, "StartTransaction", START, True, "7")


def error(code: str) -> CallOutcome:
    return CallOutcome(OutcomeStatus.ERROR, error_code=code)


def refusals(tmp_path: Path) -> Refusals:
    return Refusals("test", UpstreamQueue(tmp_path / "q.db"), is_16=True, retry_waits=WAITS)


@pytest.mark.parametrize("code", ["InternalError", "GenericError", "SecurityError", "Odd"])
def test_a_transient_error_is_retried_for_about_an_hour_with_a_capped_wait(
    tmp_path: Path, code: str
) -> None:
    verdicts = refusals(tmp_path)
    seen = [
        verdicts.verdict(START_ENTRY, error(code), boot_accepted=True)
        for _ in range(TRANSIENT_TRIES + 1)
    ]
    waits = [*WAITS, *[60.0] * (TRANSIENT_TRIES - len(WAITS))]
    assert seen[:-1] == [(Verdict.RETRY, wait) for wait in waits]
    assert 3000 <= sum(waits) <= 4000  # about an hour
    # A backend that refuses a message for good, whatever it says, holds the queue no
    # longer than that (one built on the `ocpp` library answers any exception so).
    assert seen[-1] == (Verdict.SET_ASIDE, 0.0)


@pytest.mark.parametrize("code", sorted(PAYLOAD_ERRORS))
def test_an_error_about_the_payload_sets_aside_after_the_retries(tmp_path: Path, code: str) -> None:
    verdicts = refusals(tmp_path)
    seen = [verdicts.verdict(START_ENTRY, error(code), boot_accepted=True) for _ in range(5)]
    assert seen == [*[(Verdict.RETRY, wait) for wait in WAITS], (Verdict.SET_ASIDE, 0.0)]


def test_the_payload_errors_are_the_ones_about_the_message_itself() -> None:
    assert {
        "FormationViolation",  # 1.6
        "FormatViolation",  # 2.x
        "PropertyConstraintViolation",
        "TypeConstraintViolation",
        "OccurenceConstraintViolation",  # 1.6's spelling
        "OccurrenceConstraintViolation",  # 2.x's
        "ProtocolError",
        "NotImplemented",
        "NotSupported",
    } <= PAYLOAD_ERRORS
    assert not {"InternalError", "GenericError", "SecurityError"} & PAYLOAD_ERRORS


def test_a_security_error_before_any_boot_is_not_counted(tmp_path: Path) -> None:
    verdicts = refusals(tmp_path)
    for _ in range(10):
        assert verdicts.verdict(START_ENTRY, error("SecurityError"), boot_accepted=False) == (
            Verdict.BOOT,
            0.0,
        )
    # The payload's own retries are all still there.
    first = verdicts.verdict(START_ENTRY, error("FormationViolation"), boot_accepted=True)
    assert first == (Verdict.RETRY, WAITS[0])


async def test_an_upstream_failing_a_while_loses_no_start(tmp_path: Path) -> None:
    """More InternalErrors than there are retry waits: the session still goes whole."""
    async with fake_upstream() as upstream:
        upstream.errors["StartTransaction"] = ["InternalError", "GenericError"] * 3
        async with link_to(upstream.url, tmp_path, retry_waits=(0.0, 0.0)) as link:
            link.relay("BootNotification", BOOT, {"status": "Accepted"})
            link.relay("StartTransaction", START, STARTED)
            link.relay("MeterValues", METER, {})
            link.relay("StopTransaction", STOP, {})
            await wait_for(lambda: upstream.of("StopTransaction"))
            assert link.status.set_aside == 0
    assert len(upstream.of("StartTransaction")) == 7
    assert upstream.of("MeterValues")[0]["transactionId"] == 9001
    assert upstream.of("StopTransaction")[0]["transactionId"] == 9001


async def test_a_security_error_with_no_boot_on_record_waits_for_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upstream added to a running charger: nothing set aside while it wants a boot."""
    monkeypatch.setattr(upstream_module, "BOOT_RETRY_S", (0, 0))  # tried again at once
    async with fake_upstream() as upstream:
        upstream.errors["StartTransaction"] = ["SecurityError"] * 6
        async with link_to(upstream.url, tmp_path, retry_waits=(0.0, 0.0)) as link:
            await wait_for(lambda: link.status.connected)
            link.relay("StartTransaction", START, STARTED)
            link.relay("StopTransaction", STOP, {})
            await wait_for(lambda: upstream.of("StopTransaction"))
            assert link.status.set_aside == 0
    assert upstream.actions() == ["StartTransaction"] * 7 + ["StopTransaction"]
    assert upstream.of("StopTransaction")[0]["transactionId"] == 9001
