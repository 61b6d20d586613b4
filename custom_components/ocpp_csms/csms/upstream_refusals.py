"""What a forwarding link does with a CALLERROR, and with a 1.6 session the upstream lacks.

A CALLERROR does not lose a transaction message to an upstream that is unwell for a
while. Only a code that says the message itself is wrong (`PAYLOAD_ERRORS`: its format,
a property, type or occurrence constraint, the protocol; or an action it does not
implement or support), which sending it again will not change, has it *set aside*
after the waits of `RETRY_WAITS_S` (taken out of the queue, logged within a budget,
counted in `UpstreamStatus.set_aside`) so that the queue behind it goes on. Any other
code (InternalError, GenericError, a SecurityError after an accepted boot, a code we do
not know) says nothing against the message: it is sent again, the waits growing to the
last of `RETRY_WAITS_S` and staying there, for about an hour (`TRANSIENT_TRIES`): a
backend down for a while costs no session (a StartTransaction set aside would cost the
whole session upstream), and one that refuses a message for good whatever it says (a
backend built on the `ocpp` library answers InternalError to any exception of its
handler, an unknown transaction say) holds the queue for an hour, not for ever.

A SecurityError while no boot was accepted on the connection means "boot first": the
charger's last boot is sent, then the message again; with no boot on record at all (an
upstream added to a running charger) the link waits for the charger's next boot. That
is not a refusal of the message and does not count towards setting it aside; after an
accepted boot a SecurityError is a transient refusal like others (no boot loop). Other
messages answered with a CALLERROR count as answered.

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
from .rpc_types import CallOutcome
from .upstream_queue import Queued, UpstreamQueue

_LOGGER = logging.getLogger(__name__)

# A transaction message answered with a CALLERROR is sent again after each of these
# waits; one refused for its payload is then set aside (it cannot hold up the queue for
# ever), one refused otherwise is sent again every last wait, `TRANSIENT_TRIES` in all.
RETRY_WAITS_S = (5.0, 15.0, 30.0, 60.0)
# How many tries a message refused with any other code gets before it is set aside:
# with the waits above, about an hour.
TRANSIENT_TRIES = 60
# CALLERROR codes (1.6 and 2.x, both spellings of 1.6's typo) that say the message
# itself is wrong or will never be taken: sending it again would not change that.
PAYLOAD_ERRORS = frozenset(
    {
        "FormationViolation",
        "FormatViolation",
        "PropertyConstraintViolation",
        "TypeConstraintViolation",
        "OccurenceConstraintViolation",
        "OccurrenceConstraintViolation",
        "ProtocolError",
        "NotImplemented",
        "NotSupported",
        "MessageTypeNotSupported",
        "RpcFrameworkError",
    }
)
_LOG_BUDGET = LogBudget(per_source=5, overall=60, period_s=600.0)


class Verdict(StrEnum):
    """What to do with a message the upstream answered with a CALLERROR."""

    BOOT = "boot"  # boot first (it does not know us yet), then send it again
    RETRY = "retry"  # send it again after a wait
    TAKE = "take"  # the error is its answer
    SET_ASIDE = "set_aside"  # its payload refused too often: out of the queue, counted


class Refusals:
    """A link's CALLERRORs and the 1.6 ids it must not send (see module)."""

    def __init__(
        self,
        label: str,
        queue: UpstreamQueue,
        *,
        is_16: bool,
        retry_waits: tuple[float, ...] = RETRY_WAITS_S,
        transient_tries: int = TRANSIENT_TRIES,
    ) -> None:
        """Count for `queue`'s messages; `label` names the link in the log."""
        self._label = label
        self._transient_tries = transient_tries
        self._queue = queue
        self._is_16 = is_16
        self._retry_waits = retry_waits or RETRY_WAITS_S  # a wait to repeat: never none
        # How many messages were set aside.
        self.count = 0
        # The entry (by seq) answered with CALLERRORs lately, and how many times: only
        # the head of the queue is ever sent, so one is enough.
        self._tries = (0, 0)

    def verdict(
        self, entry: Queued, outcome: CallOutcome, *, boot_accepted: bool
    ) -> tuple[Verdict, float]:
        """What to do with `entry`, answered with `outcome` (a CALLERROR); the wait to RETRY."""
        if outcome.error_code == "SecurityError" and not boot_accepted:
            return Verdict.BOOT, 0.0  # not counted: it is about us, not the message
        seq, tries = self._tries
        tries = tries + 1 if seq == entry.seq else 1
        self._tries = (entry.seq, tries)
        if not entry.durable:
            return Verdict.TAKE, 0.0
        if tries <= len(self._retry_waits):
            return Verdict.RETRY, self._retry_waits[tries - 1]
        if outcome.error_code in PAYLOAD_ERRORS or tries > self._transient_tries:
            return Verdict.SET_ASIDE, 0.0
        return Verdict.RETRY, self._retry_waits[-1]

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
