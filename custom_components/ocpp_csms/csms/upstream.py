"""Forwarding: a charger's messages relayed to a second central system (its *upstream*).

An employer's or installer's backend can keep seeing a charger that talks only to us.
Per charger, an `UpstreamLink` holds one OCPP-J connection to that backend, as if it
were the charger (same charge point id or another, the charger's own OCPP version),
and relays every CALL the charger sent us *after* we answered it (the RPC layer's
`on_answered` hook): the upstream's answers never delay ours. Each relayed CALL gets a
message id of our own (sent back to back by `RelayRun`; one in flight at a time, which
also keeps the order).

What waits for the upstream waits in an `UpstreamQueue`: transactions durably, in
order, the rest bounded. A 1.6 upstream answers a StartTransaction with an id of its
own; later MeterValues and StopTransaction of that session carry it instead of ours.
Each (re)connection first sends the charger's last BootNotification, and nothing else
until the upstream accepted it, as a charger would. Reconnects back off exponentially
with jitter; the waits start over only once a connection with an accepted boot lasted
`STABLE_CONNECTION_S` (an upstream that accepts and hangs up is not redialled in a loop).
A CALLERROR loses no transaction message: it is sent again until taken, set aside
(counted) only when refused for its payload; our own 1.6 transaction ids never go
upstream (see `upstream_refusals`).

What the upstream may do to the charger is its `CommandPolicy`, applied to each of its
CALLs by a `CommandGate` (see `upstream_policy`); under SESSIONS_AND_AUTH and FULL its
word on tags counts too (see `upstream_authorization`, which asks through `ask`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import ssl
from collections.abc import Callable
from typing import Any

from websockets.exceptions import InvalidHandshake, InvalidStatus

from .coalesce import Coalescer
from .log_budget import LogBudget
from .rpc import RpcConnection
from .rpc_types import CallOutcome, OutcomeStatus
from .schemas import VersionSchemas
from .upstream_authorization import honours_upstream
from .upstream_policy import ChargerAccess, CommandGate, UpstreamCommand
from .upstream_queue import Queued, UpstreamQueue
from .upstream_refusals import RETRY_WAITS_S, Refusals, Verdict
from .upstream_relay import RelayRun
from .upstream_settings import Backoff, UpstreamSettings, UpstreamState, UpstreamStatus
from .upstream_socket import MAX_FRAME_BYTES, UpstreamSocket, open_upstream_socket

_LOGGER = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 20.0
# How long to wait before booting again after the upstream did not accept a boot.
BOOT_RETRY_S = (10, 300)
# Reports of the queue's and the counts' changes come at most this often (`on_status`).
STATUS_INTERVAL_S = 1.0
# Reconnect waits start over only after a connection with an accepted boot lasted this.
STABLE_CONNECTION_S = 60.0

# 2.x reports that answer requests of ours, by our request ids: not the upstream's.
_ANSWERS_TO_US = frozenset(
    {
        "NotifyReport",
        "NotifyMonitoringReport",
        "ReportChargingProfiles",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
    }
)
_DURABLE_16 = frozenset({"StartTransaction", "StopTransaction"})
_LAST_BOOT = "last_boot"
_LOG_BUDGET = LogBudget(per_source=5, overall=60, period_s=600.0)


def _is_id(value: Any) -> bool:
    """Whether an upstream's 1.6 transactionId is one (answers are not schema-checked)."""
    return isinstance(value, int) and not isinstance(value, bool)


class UpstreamLink:
    """One charger's upstream connection: relays, queues, reconnects."""

    def __init__(
        self,
        charger_id: str,
        settings: UpstreamSettings,
        schemas: VersionSchemas,
        queue: UpstreamQueue,
        *,
        call_timeout: float = 30.0,
        backoff: Backoff | None = None,
        on_status: Callable[[UpstreamStatus], None] | None = None,
        chargers: ChargerAccess | None = None,
        on_command: Callable[[UpstreamCommand], None] | None = None,
        retry_waits: tuple[float, ...] = RETRY_WAITS_S,
    ) -> None:
        """Prepare; `start` opens the queue and begins connecting.

        Without `chargers` none of the upstream's commands reaches the charger.

        `on_status` is called with the link's `status`: at once when its state changes
        (connected, refused, stopped...), and after changes of the queue or the counts
        only, coalesced: at most once per `STATUS_INTERVAL_S`, a burst handled in one
        turn of the event loop reported once, the last change always reported (see
        `Coalescer`). A burst of 300 messages is a handful of calls, not 600. A listener
        that raises is logged (within a budget); the link goes on.
        """
        self.charger_id = charger_id
        self.settings = settings
        self._schemas = schemas
        self.queue = queue
        self._call_timeout = call_timeout
        self._backoff = backoff or Backoff()
        self._on_status = on_status
        self._chargers = chargers
        self._on_command = on_command
        # The live connection's RPC, for `ask`.
        self._rpc: RpcConnection | None = None
        # The connection on which the upstream accepted our last boot (see `booted`).
        self._booted_on: RpcConnection | None = None
        self._label = f"Upstream of charger {charger_id}"
        self._state = UpstreamState.STOPPED
        self._last_error = ""
        self._commands_refused = 0
        self._relayed = 0
        self._refusals = Refusals(
            self._label, queue, is_16=not settings.version.is_2x, retry_waits=retry_waits
        )
        # When the current connection was ready to relay (its boot accepted, or none to
        # send), and whether a boot was accepted on it (see `_refused`).
        self._ready_at: float | None = None
        self._boot_accepted = False
        self._task: asyncio.Task[None] | None = None
        # Set when the upstream should be sent the charger's boot (again) first.
        self._boot_again = asyncio.Event()
        # Set when there is something new for the sender: a message queued, or a boot.
        self._wake = asyncio.Event()
        self._is_16 = not settings.version.is_2x
        self._reports = Coalescer(self._report_status, STATUS_INTERVAL_S)
        queue.on_change = self._status_changed

    @property
    def status(self) -> UpstreamStatus:
        """The link's state, queue and counts now."""
        return UpstreamStatus(
            self._state,
            self.queue.queued,
            self.queue.dropped,
            # The connection's trouble first; else the queue file's, if writing fails.
            self._last_error or self.queue.store_error,
            self._commands_refused,
            self._relayed,
            self._refusals.count,
        )

    @property
    def booted(self) -> bool:
        """Whether the upstream accepted our BootNotification on the live connection.

        Before that it may not know us: nothing of our own (`ask`) is worth sending.
        """
        rpc = self._rpc
        return rpc is not None and not rpc.closed and self._booted_on is rpc

    async def start(self) -> None:
        """Open the queue and keep connected until `stop`."""
        await self.queue.open()
        self._set_state(UpstreamState.CONNECTING)
        self._task = asyncio.create_task(self._run(), name=self._label)

    async def stop(self) -> None:
        """Disconnect; what is queued durably stays in the file for the next start.

        A link that ended with an error is logged, not raised: the stop goes on.
        """
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                # Not `await task`: a cancellation of this stop must not be taken for
                # the task's own, nor the task's error be raised here.
                await asyncio.wait({task})
                if not task.cancelled() and (error := task.exception()) is not None:
                    _LOGGER.error("%s had ended with an error: %r", self._label, error)
        finally:
            await self.queue.close()
            self._set_state(UpstreamState.STOPPED)
            self._reports.cancel()

    # -- charger -> upstream (the RPC layer's `on_answered` hook) -------------------------

    def relay(self, action: str, request: dict[str, Any], answer: dict[str, Any]) -> None:
        """Queue a CALL the charger sent us (and we answered) for the upstream."""
        if action == "BootNotification":
            # Sent first on every connection: see `_boot`.
            self.queue.set_meta(_LAST_BOOT, json.dumps(request))
            self._boot_again.set()
            self._wake.set()
            return
        if action in _ANSWERS_TO_US:
            return
        ref = None
        if self._is_16:
            durable = action in _DURABLE_16 or (
                action == "MeterValues" and "transactionId" in request
            )
            if action == "StartTransaction" and "transactionId" in answer:
                ref = str(answer["transactionId"])
        else:
            durable = action == "TransactionEvent"
        self.queue.put(action, request, durable=durable, ref=ref)
        self._wake.set()

    # -- the connection ---------------------------------------------------------------------

    async def _run(self) -> None:
        context = None
        while True:
            self._set_state(UpstreamState.CONNECTING)
            try:
                if context is None and self.settings.url.startswith("wss://"):
                    # Loading the system's certificates reads files: not on the event loop.
                    context = await asyncio.to_thread(ssl.create_default_context)
                async with asyncio.timeout(OPEN_TIMEOUT_S):
                    socket = await open_upstream_socket(
                        self.settings.endpoint,
                        subprotocol=self.settings.version.value,
                        headers=self.settings.headers(),
                        ssl_context=context,
                        max_size=MAX_FRAME_BYTES,
                    )
            except InvalidStatus as error:
                code = error.response.status_code
                refused = code in (401, 403)
                self._fail(
                    UpstreamState.CREDENTIALS_REFUSED if refused else UpstreamState.REFUSED,
                    f"HTTP {code}",
                )
            except (OSError, TimeoutError, InvalidHandshake) as error:
                self._fail(UpstreamState.UNREACHABLE, f"{type(error).__name__}: {error}")
            except Exception as error:
                # A URL or proxy websockets refuses, certificates that failed to load: the
                # link must not die of it (nothing would be forwarded, nobody told).
                self._fail(UpstreamState.UNREACHABLE, f"{type(error).__name__}: {error}")
                self._log("cannot connect: %r", error)
            else:
                try:
                    await self._converse(socket)
                except Exception as error:
                    self._fail(UpstreamState.UNREACHABLE, f"{type(error).__name__}: {error}")
                    self._log("connection failed: %r", error)
            await asyncio.sleep(self._backoff.next())

    async def _converse(self, socket: UpstreamSocket) -> None:
        gate = CommandGate(
            self.charger_id,
            self.settings,
            self._schemas,
            charger=self._call_charger if self._chargers is not None else None,
            our_transaction=self.queue.our_transaction,
            refused=self._refuse,
            report=self._on_command,  # a report that raises is logged by the gate
            timeout=self._call_timeout,
            ours=None
            if self._chargers is None
            else functools.partial(self._chargers.started_with_known_tag, self.charger_id),
        )
        # The upstream's commands wait for the charger in the background (the gate
        # bounds them): its connection reads on, answers to what we relay included.
        rpc = RpcConnection(
            socket,
            self._schemas,
            gate,
            label=self._label,
            call_timeout=self._call_timeout,
            background_answers=True,
        )
        if self._chargers is not None and honours_upstream(self.settings.policy):
            rpc.on_outcome = self._upstream_answered
        self._rpc = rpc
        self._ready_at = None
        self._boot_accepted = False
        self._last_error = ""
        self._set_state(UpstreamState.CONNECTED)
        reader = asyncio.create_task(rpc.serve())
        sender = asyncio.create_task(self._send_all(rpc))
        try:
            await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._rpc = None
            # Waited for with `asyncio.wait`, never `await task` under a suppress: a stop
            # (our own cancellation) arriving meanwhile must end `_run`, not be swallowed.
            sender.cancel()
            try:
                await asyncio.wait({sender})
                self._log_failure(sender)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await rpc.close()
            finally:
                reader.cancel()
                await asyncio.wait({reader})
                self._log_failure(reader)
        ready_at = self._ready_at
        if ready_at is not None and self._now() - ready_at >= STABLE_CONNECTION_S:
            self._backoff.reset()
        self._fail(UpstreamState.UNREACHABLE, self._last_error or "connection closed")

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            self._last_error = f"{type(error).__name__}: {error}"
            self._log("connection task failed: %r", error)

    async def _send_all(self, rpc: RpcConnection) -> None:
        """Boot, then send the queue in order; return when the connection fails.

        The queue goes back to back, each next message sent by the connection's reader
        (`RelayRun`). What the upstream answers is not checked against its schema: only
        a start's transactionId is read, and checked (`_answered`, `_outgoing`).
        """
        relay = RelayRun(
            rpc,
            self.queue,
            outgoing=self._refusals.outgoing,
            answered=self._answered,
            halt=self._boot_again.is_set,
            call_timeout=self._call_timeout,
        )
        self._boot_again.set()
        while True:
            if self._boot_again.is_set():
                if not await self._boot(rpc):
                    return
                if self._ready_at is None:
                    self._ready_at = self._now()
            entry = await self._next_or_boot()
            if entry is None or (ended := await relay.run(entry)) is None:
                continue
            entry, outcome = ended
            if outcome.status in (OutcomeStatus.TIMEOUT, OutcomeStatus.OFFLINE):
                self._last_error = f"{entry.action}: {outcome.status}"
                self._log("%s ended: %s", entry.action, outcome.status)
                return  # reconnect; the entry stays first in the queue
            await self._refused(entry, outcome)

    async def _refused(self, entry: Queued, outcome: CallOutcome) -> None:
        """A CALLERROR: boot first, take it as answered, send it again later, or set it aside."""
        verdict, wait = self._refusals.verdict(entry, outcome, boot_accepted=self._boot_accepted)
        if verdict is Verdict.BOOT:
            # It does not know us (yet): boot, then this entry (not counted as refused).
            # With no boot on record: the charger's next one, the entry tried again now
            # and then meanwhile. Once a boot was accepted, a refusal like others.
            if self.queue.meta(_LAST_BOOT) is None:
                await self._pause(BOOT_RETRY_S[1])
            self._boot_again.set()
        elif verdict is Verdict.RETRY:
            self._log("%s answered with %s: again in %ss", entry.action, outcome.error_code, wait)
            await self._pause(wait)
        elif verdict is Verdict.SET_ASIDE:
            self._refusals.refused_too_often(entry, outcome)
        else:
            self._answered(entry, outcome)

    async def _next_or_boot(self) -> Queued | None:
        """The next entry, or None when the charger booted in the meantime.

        One event wakes the sender for both (no task per message to wait on either).
        """
        while not self._boot_again.is_set():
            if (head := self.queue.peek()) is not None:
                return head
            if self.queue.spilled and await self.queue.read_spilled():
                continue
            self._wake.clear()
            await self._wake.wait()
        return None

    async def _boot(self, rpc: RpcConnection) -> bool:
        """Send the charger's last boot until the upstream accepts it; False: reconnect."""
        while (text := self.queue.meta(_LAST_BOOT)) is not None:
            self._boot_again.clear()
            outcome = await rpc.call("BootNotification", json.loads(text))
            if outcome.status in (OutcomeStatus.TIMEOUT, OutcomeStatus.OFFLINE):
                self._last_error = f"BootNotification: {outcome.status}"
                return False
            status = outcome.payload.get("status") or outcome.error_code
            self._booted_on = rpc if status == "Accepted" else None
            if status == "Accepted":
                self._boot_accepted = True
                return True
            self._last_error = f"BootNotification: {status}"
            await self._wait_boot(outcome.payload.get("interval"))
        self._boot_again.clear()
        return True

    async def _wait_boot(self, interval: Any) -> None:
        """Wait as the upstream asked (bounded), or until the charger boots again."""
        low, high = BOOT_RETRY_S
        await self._pause(min(max(interval, low), high) if isinstance(interval, int) else low)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or until the charger boots again (a boot is sent first)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._boot_again.wait()

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _answered(self, entry: Queued, outcome: CallOutcome) -> None:
        if outcome.status is OutcomeStatus.ERROR:
            self._log("%s answered with %s", entry.action, outcome.error_code)
        elif entry.ref is not None and _is_id(theirs := outcome.payload.get("transactionId")):
            self.queue.map_transaction(entry.ref, str(theirs))
        self._relayed += 1
        self.queue.done(entry)

    # -- upstream -> charger ----------------------------------------------------------------

    def _refuse(self, _action: str) -> None:
        # Counted here (shown with the next change of status), logged by the gate.
        self._commands_refused += 1

    async def _call_charger(
        self, action: str, payload: dict[str, Any], timeout: float
    ) -> CallOutcome:
        assert self._chargers is not None
        return await self._chargers.call_charger(
            self.charger_id, self.settings.version, action, payload, timeout
        )

    def _upstream_answered(
        self, action: str, request: dict[str, Any], outcome: CallOutcome
    ) -> None:
        assert self._chargers is not None
        self._chargers.upstream_answered(self.charger_id, action, request, outcome)

    async def ask(self, action: str, payload: dict[str, Any], timeout: float) -> CallOutcome:
        """Send the upstream a CALL of our own (not a relayed one); OFFLINE when not connected.

        It takes its turn with the relayed ones (one in flight at a time), within `timeout`.
        """
        rpc = self._rpc
        if rpc is None or rpc.closed or self._state is not UpstreamState.CONNECTED:
            return CallOutcome(OutcomeStatus.OFFLINE)
        return await rpc.call(action, payload, timeout=timeout)

    # -- status -----------------------------------------------------------------------------

    def _fail(self, state: UpstreamState, error: str) -> None:
        self._last_error = error[:200]
        self._set_state(state)

    def _set_state(self, state: UpstreamState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_status is not None:
                self._reports.now()

    def _status_changed(self) -> None:
        # The queue or a count changed: reported coalesced (see `__init__`).
        if self._on_status is not None:
            self._reports.changed()

    def _report_status(self) -> None:
        if self._on_status is not None:
            try:
                self._on_status(self.status)
            except Exception:
                self._listener_failed("on_status")

    def _listener_failed(self, name: str) -> None:
        # A listener's bug must not end the link (nothing forwarded, stop raising).
        if _LOG_BUDGET.take(f"{self._label} {name}") is not None:
            _LOGGER.exception("%s: its %s listener raised", self._label, name)

    def _log(self, message: str, *args: Any) -> None:
        if _LOG_BUDGET.take(self._label) is not None:
            _LOGGER.info("%s: " + message, self._label, *args)
