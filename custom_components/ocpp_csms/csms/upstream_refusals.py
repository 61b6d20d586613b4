"""What a forwarding link does with a CALLERROR, and with a 1.6 session the upstream lacks.

A CALLERROR does not lose a transaction message: it is sent again after the waits of
`RETRY_WAITS_S` and, refused once more than those, *set aside* (taken out of the queue,
logged within a budget, counted in `UpstreamStatus.set_aside`) so that the queue behind
it goes on. A SecurityError means "boot first" only while no boot was accepted on the
connection; after that it is a refusal like any other (no boot loop). Other messages
answered with a CALLERROR count as answered.

A 1.6 session the upstream has no transaction id for (its StartTransaction set aside,
answered without an id, or sent before forwarding began) never goes upstream with our
id in place of one: its MeterValues are sent without a transactionId (the readings
still count as the connector's), its StopTransaction is set aside. Nothing waits for an
id meanwhile: the queue keeps the order, so a start still to be answered is always
ahead of its session's other messages, and these find its id mapped by then.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any

from .log_budget import LogBudget
from .rpc import CallOutcome
from .upstream_queue import Queued, UpstreamQueue

_LOGGER = logging.getLogger(__name__)

# A transaction message answered with a CALLERROR is sent again after each of these
# waits, then set aside: one the upstream never takes cannot hold up the queue for ever.
RETRY_WAITS_S = (5.0, 15.0, 30.0, 60.0)
_LOG_BUDGET = LogBudget(per_source=5, overall=60, period_s=600.0)


class Verdict(StrEnum):
    """What to do with a message the upstream answered with a CALLERROR."""

    BOOT = "boot"  # boot first (it does not know us yet), then send it again
    RETRY = "retry"  # send it again after a wait
    TAKE = "take"  # the error is its answer
    SET_ASIDE = "set_aside"  # refused too often: out of the queue, counted


class Refusals:
    """A link's CALLERRORs and the 1.6 ids it must not send (see module)."""

    def __init__(
        self,
        label: str,
        queue: UpstreamQueue,
        *,
        is_16: bool,
        retry_waits: tuple[float, ...] = RETRY_WAITS_S,
    ) -> None:
        """Count for `queue`'s messages; `label` names the link in the log."""
        self._label = label
        self._queue = queue
        self._is_16 = is_16
        self._retry_waits = retry_waits
        # How many messages were set aside.
        self.count = 0
        # The entry (by seq) answered with CALLERRORs lately, and how many times: only
        # the head of the queue is ever sent, so one is enough.
        self._tries = (0, 0)

    def verdict(
        self, entry: Queued, outcome: CallOutcome, *, boot_accepted: bool
    ) -> tuple[Verdict, float]:
        """What to do with `entry`, answered with `outcome` (a CALLERROR); the wait to RETRY."""
        seq, tries = self._tries
        tries = tries + 1 if seq == entry.seq else 1
        self._tries = (entry.seq, tries)
        retries_left = tries <= len(self._retry_waits)
        if outcome.error_code == "SecurityError" and not boot_accepted and retries_left:
            return Verdict.BOOT, 0.0
        if not entry.durable:
            return Verdict.TAKE, 0.0
        if retries_left:
            return Verdict.RETRY, self._retry_waits[tries - 1]
        return Verdict.SET_ASIDE, 0.0

    def set_aside(self, entry: Queued, why: str) -> None:
        """Take a transaction message out of the queue unsent: counted and logged."""
        self.count += 1
        self._queue.done(entry)
        if (left_out := _LOG_BUDGET.take(self._label)) is not None:
            _LOGGER.warning(
                "%s: %s set aside (%s; %s set aside so far, %s similar lines left out): %s",
                self._label,
                entry.action,
                why,
                self.count,
                left_out,
                json.dumps(entry.payload)[:300],
            )

    def refused_too_often(self, entry: Queued, outcome: CallOutcome) -> None:
        """Set aside a message refused more often than it is sent again."""
        self.set_aside(entry, f"refused {self._tries[1]} times, last {outcome.error_code}")

    def outgoing(self, entry: Queued) -> dict[str, Any] | None:
        """The payload as the upstream knows it (its own 1.6 transaction ids); None: not sent.

        See the module: a session it gave no id for goes without one, its stop not at all.
        """
        if not self._is_16 or "transactionId" not in entry.payload:
            return entry.payload
        theirs = self._queue.upstream_transaction(str(entry.payload["transactionId"]))
        if theirs is not None and theirs.lstrip("-").isdigit():
            return entry.payload | {"transactionId": int(theirs)}
        if entry.action == "StopTransaction":
            self.set_aside(entry, "the upstream gave this session no transaction id")
            return None
        return {key: value for key, value in entry.payload.items() if key != "transactionId"}
