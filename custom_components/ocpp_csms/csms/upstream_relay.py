"""Sending a forwarding link's queue back to back, the next message from the reader.

OCPP-J allows one CALL in flight, so a queue is sent one message per round trip. Sent
the ordinary way (`RpcConnection.call`), each answer takes two turns of the event loop
before the next message goes: the reader reads it and wakes the sender, which sends the
next. Here the reader sends the next message itself as soon as the answer is in
(`RpcConnection.after_answer`): no task wakes per message, and a burst from a charger
drains as fast as the charger sends it, so its messages are answered within the
queue's group-commit window and never written (`upstream_queue`).

A `RelayRun` sends from the head of the queue while answers come; it ends when the
queue runs dry, a boot is due (the caller boots first), another CALL waits for its turn
(the upstream's say on a tag, `UpstreamLink.ask`), or a call ends in a way the caller
must handle: the connection lost, no answer in time, a CALLERROR (sent again later, or
set aside: the caller's choice). A message `outgoing` will not have sent (the caller
has taken it out of the queue) is passed over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .rpc import RpcConnection
from .rpc_types import CallOutcome, OutcomeStatus
from .upstream_queue import Queued, UpstreamQueue

type Ended = tuple[Queued, CallOutcome] | None


class RelayRun:
    """Sends a queue over one connection, each next message from its reader (see module)."""

    def __init__(
        self,
        rpc: RpcConnection,
        queue: UpstreamQueue,
        *,
        outgoing: Callable[[Queued], dict[str, Any] | None],
        answered: Callable[[Queued, CallOutcome], None],
        halt: Callable[[], bool],
        call_timeout: float,
    ) -> None:
        """Bind to a connection (taking its `after_answer`).

        `outgoing` makes the payload to send (None: passed over, the caller took the
        message out of the queue), `answered` takes a CALLRESULT, `halt` says a boot is due.
        """
        self._rpc = rpc
        self._queue = queue
        self._outgoing = outgoing
        self._answered = answered
        self._halt = halt
        self._call_timeout = call_timeout
        self._entry: Queued | None = None
        self._future: asyncio.Future[CallOutcome] | None = None
        self._sent_at = 0.0
        self._ended: asyncio.Future[Ended] | None = None
        rpc.after_answer = self._after_answer

    async def run(self, first: Queued) -> Ended:
        """Send `first` and what follows it while answers come.

        None when the queue ran dry or a boot is due; else the message whose call ended
        the run and how (OFFLINE, TIMEOUT, ERROR), still queued.
        """
        loop = asyncio.get_running_loop()
        ended = self._ended = loop.create_future()
        await self._send(first)
        # Each call in flight gets `call_timeout`: the wait is renewed while they come.
        while not ended.done():
            left = self._sent_at + self._call_timeout - loop.time()
            if left <= 0 and self._entry is not None:
                self._ended = None
                return self._entry, CallOutcome(OutcomeStatus.TIMEOUT)
            try:
                async with asyncio.timeout(max(left, 0.0)):
                    await asyncio.shield(ended)
            except TimeoutError:
                continue
        result: Ended = ended.result()
        return result

    async def _send(self, entry: Queued) -> None:
        while (payload := self._outgoing(entry)) is None:
            if (head := self._next()) is None:
                self._end(None)
                return
            entry = head
        self._entry = entry
        self._sent_at = asyncio.get_running_loop().time()
        self._future = future = await self._rpc.start_call(entry.action, payload)
        if future.done():  # the connection is gone
            self._end((entry, future.result()))
        else:
            future.add_done_callback(self._settled)

    def _settled(self, future: asyncio.Future[CallOutcome]) -> None:
        # An answer was taken by `_after_answer` before this runs; what is left is a call
        # ended without one (the connection lost), which no reader reports.
        if future is self._future and self._entry is not None:
            self._future = None
            self._end((self._entry, future.result()))

    async def _after_answer(self) -> None:
        """On the reader: take the answer, send the next message or end the run."""
        future, entry = self._future, self._entry
        if future is None or entry is None or not future.done() or self._ended is None:
            return  # not one of ours (the boot, which its caller awaits)
        self._future = None
        outcome = future.result()
        if outcome.status is not OutcomeStatus.RESULT:
            self._end((entry, outcome))
            return
        self._answered(entry, outcome)
        if (head := self._next()) is None:
            self._end(None)
            return
        await self._send(head)

    def _next(self) -> Queued | None:
        """The next message to send in this run, None when the run should end."""
        # Another CALL of the link's own waits (`UpstreamLink.ask`): it goes first, and
        # the run goes on from the sender's task, never waiting here on the reader.
        if self._halt() or self._rpc.calls_waiting:
            return None
        return self._queue.peek()

    def _end(self, ended: Ended) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(ended)
        self._ended = None
