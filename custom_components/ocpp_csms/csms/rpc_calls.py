"""The central system's own CALLs on an OCPP-J connection: the line, ids, outcomes.

`OutgoingCalls` is the half of `rpc.RpcConnection` that sends CALLs and correlates
their answers: only one is in flight at a time, every one is bounded by a timeout and
ends in a typed `CallOutcome` (never an exception, never a hang).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .log_budget import shorten
from .rpc_types import MSG_CALL, CallOutcome, OutcomeHook, OutcomeStatus

if TYPE_CHECKING:
    from .schemas import VersionSchemas

# A part of the RPC layer: its lines go under `rpc`'s logger, the name users and tests
# turn the layer's lines on by.
_LOGGER = logging.getLogger(f"{__name__.rpartition('.')[0]}.rpc")


class OutgoingCalls:
    """Our CALLs on one conversation; `rpc.RpcConnection` extends it with the rest.

    Attributes this class owns (sets and keeps true): the line (`_call_lock`,
    `_waiting`), the call in flight (`_pending_id`, `_pending`, `_pending_action`,
    `_started`, `_awaited_answer`), the ids (`_id_prefix`, `_ids`), `_call_timeout`,
    and the hooks `on_outcome` and `after_answer`. The connection's reader only reads
    `_pending_action` (what a repaired or refused answer is counted under) and clears
    `_awaited_answer`, which `_on_answer` sets, once it has run `after_answer`.

    What it takes from the connection (declared below, set there): whether it has
    ended (`_closed`), its label and schemas, and its `_send` and `_log`.
    """

    _closed: bool
    _label: str
    _schemas: VersionSchemas

    def __init__(self, call_timeout: float) -> None:
        """No call in flight yet; a call waits at most `call_timeout` unless told."""
        self._call_timeout = call_timeout
        self._call_lock = asyncio.Lock()
        self._pending_id: str | None = None
        self._pending: asyncio.Future[CallOutcome] | None = None
        # The action of the call in flight: what a repaired answer is counted under.
        self._pending_action = ""
        # A `start_call`'s: the payload sent (for `on_outcome`); it holds the line (the
        # call lock) until its outcome is in.
        self._started: dict[str, Any] | None = None
        # How many callers wait for the line (`call` and `start_call`).
        self._waiting = 0
        # Set by the frame that answered the call in flight (see `RpcConnection.serve`).
        self._awaited_answer = False
        self._id_prefix = secrets.token_hex(4) + "-"
        self._ids = itertools.count(1)
        # See `OutcomeHook`; None (the rule) costs one test per CALL of ours.
        self.on_outcome: OutcomeHook | None = None
        # Awaited by the reader as soon as a frame answered the call in flight (see
        # `start_call`).
        self.after_answer: Callable[[], Awaitable[None]] | None = None

    @abstractmethod
    async def _send(self, frame: list[Any]) -> bool:
        """Send a frame; False when the connection is already gone."""

    @abstractmethod
    def _log(self, level: int, message: str, *args: Any, exc_info: Any = None) -> None:
        """Log about this charger's frames within the shared budget."""

    async def call(
        self, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> CallOutcome:
        """Send a CALL and wait, at most `timeout` seconds in all, for its answer."""
        try:
            async with asyncio.timeout(timeout or self._call_timeout):
                await self._take_line()
                try:
                    outcome = await self._call_locked(action, payload)
                finally:
                    self._call_lock.release()
        except TimeoutError:
            _LOGGER.warning("%s: no answer to %s in time", self._label, action)
            outcome = CallOutcome(OutcomeStatus.TIMEOUT)
        self._tell_outcome(action, payload, outcome)
        return outcome

    @property
    def calls_waiting(self) -> bool:
        """Whether a caller waits for its turn to send a CALL."""
        return self._waiting > 0

    async def start_call(self, action: str, payload: dict[str, Any]) -> asyncio.Future[CallOutcome]:
        """Send a CALL, once it is our turn, and return: the future gets its outcome.

        For a caller that sends back to back (forwarding): from `after_answer`, run by
        the reader as soon as the answer is in, it reads the outcome and sends the next
        CALL in the same turn of the event loop, unless `calls_waiting` (then it must
        leave the reader, and call again from a task of its own: the others' answers
        need the reader). The line is held until the outcome is in; the caller bounds
        the wait, and answers are not checked against their schemas. OFFLINE (after a turn
        of the loop, see `_let_it_end`) when the connection is gone.
        """
        future: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        if not self._closed:
            await self._take_line()
            if self._closed:  # while it waited
                self._call_lock.release()
        if self._closed:
            await _let_it_end()
            future.set_result(CallOutcome(OutcomeStatus.OFFLINE))
            return future
        unique_id = f"{self._id_prefix}{next(self._ids)}"
        self._pending_id, self._pending, self._pending_action = unique_id, future, action
        self._started = payload
        await self._send([MSG_CALL, unique_id, action, payload])  # if lost: OFFLINE
        return future

    async def _take_line(self) -> None:
        self._waiting += 1
        try:
            await self._call_lock.acquire()
        finally:
            self._waiting -= 1

    def _settle(self, outcome: CallOutcome) -> None:
        """The call in flight ended: its future, and for a `start_call`, the line."""
        assert self._pending is not None
        self._pending.set_result(outcome)
        if (payload := self._started) is not None:
            self._started = None
            self._call_lock.release()
            self._tell_outcome(self._pending_action, payload, outcome)

    def _tell_outcome(self, action: str, payload: dict[str, Any], outcome: CallOutcome) -> None:
        if (hook := self.on_outcome) is not None:
            try:
                hook(action, payload, outcome)
            except Exception:
                self._log(logging.ERROR, "the outcome hook failed on %s", action, exc_info=True)

    async def _call_locked(self, action: str, payload: dict[str, Any]) -> CallOutcome:
        if self._closed:
            await _let_it_end()
            return CallOutcome(OutcomeStatus.OFFLINE)
        unique_id = f"{self._id_prefix}{next(self._ids)}"
        future: asyncio.Future[CallOutcome] = asyncio.get_running_loop().create_future()
        self._pending_id, self._pending, self._pending_action = unique_id, future, action
        try:
            if not await self._send([MSG_CALL, unique_id, action, payload]):
                return CallOutcome(OutcomeStatus.OFFLINE)
            outcome = await future
        finally:
            self._pending_id, self._pending, self._pending_action = None, None, ""
        if outcome.status is OutcomeStatus.RESULT and (
            problem := self._schemas.response_problem(action, outcome.payload)
        ):
            # Keep what the charger said: a strict reading would turn a working
            # charger's slightly-off answer into a failed command.
            self._log(
                logging.INFO,
                "answer to %s breaks its schema (%s at '%s'); using it anyway",
                action,
                shorten(problem.message),
                shorten(problem.path),
            )
        return outcome

    def _on_answer(self, unique_id: str, outcome: CallOutcome) -> None:
        if self._pending is None or unique_id != self._pending_id:
            self._log(logging.INFO, "ignoring an answer to unknown call %s", shorten(unique_id))
            return
        if not self._pending.done():
            self._settle(outcome)
            self._awaited_answer = True

    def _drop_call_in_flight(self) -> None:
        """The connection ended: a call in flight ends as OFFLINE."""
        if self._pending is not None and not self._pending.done():
            self._settle(CallOutcome(OutcomeStatus.OFFLINE))


async def _let_it_end() -> None:
    """Give the loop a turn before a call on a closed connection ends OFFLINE.

    A closed connection stays registered until its reader had a turn to end. A caller
    that asks again whenever it hears OFFLINE (a sync that wants its charger) would
    otherwise never give it one, and hold the loop for good.
    """
    await asyncio.sleep(0)
