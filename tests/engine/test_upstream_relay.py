"""Sending a forwarding link's queue back to back (see `upstream_relay`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.rpc import RpcConnection
from custom_components.ocpp_csms.csms.rpc_types import CallOutcome, OutcomeStatus
from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_queue import Queued, UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_relay import RelayRun
from tests.chargers import PATIENCE_S
from tests.engine.test_rpc import NoHandlers


@dataclass
class Upstream:
    """A socket to a scripted upstream: it sees what we send, says what the test says."""

    sent: list[list[Any]] = field(default_factory=list)
    incoming: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    new_frame: asyncio.Event = field(default_factory=asyncio.Event)
    # How many of the frames sent the test has taken (`next_call`).
    taken: int = 0

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))
        self.new_frame.set()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str]:
        while (frame := await self.incoming.get()) is not None:
            yield frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.incoming.put_nowait(None)

    async def next_call(self) -> list[Any]:
        """The next frame we sent (a CALL), waiting for it."""
        async with asyncio.timeout(PATIENCE_S):
            while len(self.sent) <= self.taken:
                self.new_frame.clear()
                await self.new_frame.wait()
        self.taken += 1
        return self.sent[self.taken - 1]

    def answer(self, call: list[Any], payload: dict[str, Any]) -> None:
        self.incoming.put_nowait(json.dumps([3, call[1], payload]))

    def error(self, call: list[Any], code: str) -> None:
        self.incoming.put_nowait(json.dumps([4, call[1], code, "", {}]))


@dataclass
class Harness:
    upstream: Upstream
    rpc: RpcConnection
    queue: UpstreamQueue
    relay: RelayRun
    answered: list[tuple[int, OutcomeStatus]]
    halted: list[bool]


@asynccontextmanager
async def harness(tmp_path: Path, call_timeout: float = PATIENCE_S) -> AsyncIterator[Harness]:
    schemas = (await asyncio.to_thread(load_all))[OcppVersion.V16]
    upstream = Upstream()
    rpc = RpcConnection(upstream, schemas, NoHandlers(), label="UP", call_timeout=call_timeout)
    queue = UpstreamQueue(tmp_path / "q.db")
    await queue.open()
    answered: list[tuple[int, OutcomeStatus]] = []
    halted = [False]

    def take(entry: Queued, outcome: CallOutcome) -> None:
        answered.append((entry.payload["n"], outcome.status))
        queue.done(entry)

    relay = RelayRun(
        rpc,
        queue,
        outgoing=lambda entry: entry.payload,
        answered=take,
        halt=lambda: halted[0],
        call_timeout=call_timeout,
    )
    reader = asyncio.create_task(rpc.serve())
    try:
        yield Harness(upstream, rpc, queue, relay, answered, halted)
    finally:
        await rpc.close()
        await reader
        await queue.close()


def put(queue: UpstreamQueue, *numbers: int) -> None:
    for n in numbers:
        queue.put("MeterValues", {"n": n}, durable=True, ref=None)


async def test_a_queue_goes_back_to_back_one_call_in_flight(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        put(h.queue, 1, 2, 3)
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        for n in (1, 2, 3):
            call = await h.upstream.next_call()
            assert call[3] == {"n": n}
            if n == 2:
                put(h.queue, 4)  # what comes meanwhile follows in the same run
            h.upstream.answer(call, {})
        h.upstream.answer(await h.upstream.next_call(), {})
        assert await run is None  # the queue ran dry
        assert h.answered == [(n, OutcomeStatus.RESULT) for n in (1, 2, 3, 4)]
        # One call in flight: each was sent after the answer to the one before.
        assert [frame[3]["n"] for frame in h.upstream.sent] == [1, 2, 3, 4]
        assert h.queue.queued == 0


@pytest.mark.parametrize("code", ["InternalError", "SecurityError"])
async def test_an_error_answer_ends_the_run_and_its_message_stays_first(
    tmp_path: Path, code: str
) -> None:
    """The link decides: send it again later, take it, or set it aside (`upstream`)."""
    async with harness(tmp_path) as h:
        put(h.queue, 1, 2)
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        h.upstream.error(await h.upstream.next_call(), code)
        entry, outcome = await _ended(run)
        assert (entry.payload, outcome.error_code) == ({"n": 1}, code)
        assert h.answered == []
        assert h.queue.queued == 2
        assert len(h.upstream.sent) == 1


async def test_a_message_not_to_be_sent_is_passed_over(tmp_path: Path) -> None:
    """`outgoing` None: the link took it out of the queue; the run goes on with the next."""
    async with harness(tmp_path) as h:
        put(h.queue, 1, 2, 3, 4)

        def outgoing(entry: Queued) -> dict[str, Any] | None:
            if entry.payload["n"] in (1, 3):
                h.queue.done(entry)
                return None
            return entry.payload

        h.relay._outgoing = outgoing
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        for n in (2, 4):
            call = await h.upstream.next_call()
            assert call[3] == {"n": n}
            h.upstream.answer(call, {})
        assert await run is None
        assert h.answered == [(2, OutcomeStatus.RESULT), (4, OutcomeStatus.RESULT)]
        assert h.queue.queued == 0


async def test_a_boot_due_ends_the_run_after_the_answer_in_flight(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        put(h.queue, 1, 2)
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        call = await h.upstream.next_call()
        h.halted[0] = True  # the charger booted meanwhile
        h.upstream.answer(call, {})
        assert await run is None
        assert h.answered == [(1, OutcomeStatus.RESULT)]
        assert len(h.upstream.sent) == 1


async def test_no_answer_in_time_ends_the_run_timed_out(tmp_path: Path) -> None:
    async with harness(tmp_path, call_timeout=0.05) as h:
        put(h.queue, 1)
        entry, outcome = await _ended(asyncio.create_task(h.relay.run(await h.queue.next())))
        assert (entry.payload, outcome.status) == ({"n": 1}, OutcomeStatus.TIMEOUT)
        assert h.queue.queued == 1


async def test_a_lost_connection_ends_the_run_offline(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        put(h.queue, 1)
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        await h.upstream.next_call()
        await h.rpc.close()
        entry, outcome = await _ended(run)
        assert (entry.payload, outcome.status) == ({"n": 1}, OutcomeStatus.OFFLINE)
        # And a run on a connection that is gone ends at once.
        entry, outcome = await _ended(asyncio.create_task(h.relay.run(entry)))
        assert outcome.status is OutcomeStatus.OFFLINE


async def _ended(
    run: asyncio.Task[tuple[Queued, CallOutcome] | None],
) -> tuple[Queued, CallOutcome]:
    async with asyncio.timeout(PATIENCE_S):
        ended = await run
    assert ended is not None
    return ended


async def test_a_call_of_the_links_own_takes_its_turn_between_relayed_ones(
    tmp_path: Path,
) -> None:
    """The upstream's say on a tag (`UpstreamLink.ask`) does not wait for the queue."""
    async with harness(tmp_path) as h:
        put(h.queue, 1, 2)
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        first = await h.upstream.next_call()
        ask = asyncio.create_task(h.rpc.call("Authorize", {"idTag": "T"}))
        await asyncio.sleep(0)  # it waits for the line
        assert h.rpc.calls_waiting
        h.upstream.answer(first, {})
        assert await run is None  # the run made way
        authorize = await h.upstream.next_call()
        assert authorize[2:] == ["Authorize", {"idTag": "T"}]
        h.upstream.answer(authorize, {"idTagInfo": {"status": "Accepted"}})
        assert (await ask).status is OutcomeStatus.RESULT
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        h.upstream.answer(await h.upstream.next_call(), {})
        assert await run is None
        sent = [frame[2] for frame in h.upstream.sent]
        assert sent == ["MeterValues", "Authorize", "MeterValues"]


async def test_a_run_waits_its_turn_behind_a_call_in_flight(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        ask = asyncio.create_task(h.rpc.call("Authorize", {"idTag": "T"}))
        authorize = await h.upstream.next_call()
        put(h.queue, 1)
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        await asyncio.sleep(0)
        assert len(h.upstream.sent) == 1  # not while the Authorize is unanswered
        h.upstream.answer(authorize, {"idTagInfo": {"status": "Accepted"}})
        await ask
        h.upstream.answer(await h.upstream.next_call(), {})
        assert await run is None


async def test_every_relayed_outcome_is_told_to_the_outcome_hook(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        told: list[tuple[str, dict[str, Any], OutcomeStatus]] = []
        h.rpc.on_outcome = lambda action, sent, outcome: told.append((action, sent, outcome.status))
        put(h.queue, 1, 2)
        run = asyncio.create_task(h.relay.run(await h.queue.next()))
        h.upstream.answer(await h.upstream.next_call(), {})
        await h.upstream.next_call()
        await h.rpc.close()  # the second ends with the connection
        await _ended(run)
        assert told == [
            ("MeterValues", {"n": 1}, OutcomeStatus.RESULT),
            ("MeterValues", {"n": 2}, OutcomeStatus.OFFLINE),
        ]
