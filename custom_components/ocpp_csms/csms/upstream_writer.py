"""The thread that does the SQLite work of upstream queues, and its group commits.

Handing work to a thread costs far more CPU than the SQLite work a forwarded message
needs (issue 24's benchmark: about 50 µs a hand-off against 5 to 20 µs a commit), so
the hand-offs are what is economised. Queues do not hand over each write: they mark
themselves *dirty* (`QueueWriter.gather`); every `GROUP_COMMIT_S` while some are dirty
(a *tick*) the writer takes what every dirty queue has to write and hands it all over
at once, one SQLite transaction per queue's file. One writer serves every charger's
queue (`upstreams.Upstreams` owns it), so a burst from many chargers is one hand-off
per window, not one per message.

A tick takes only the messages that were already waiting at the tick before it
(`take_pending(everything=False)`): a message waits at least one window, at most two,
before it is written. Most are answered by then and never written at all; taking the
one in flight at every tick would write it, and delete it a window later, at every
window of a steady flow (the benchmark's figure: about a fifth of a forwarded
message's whole cost). `flush`, reads and `close` take everything.

One job at a time: while a job is on the thread, what the queues gather stays with
them and merges there, and goes as the next job once this one has ended. So a slow or
locked file (SQLite gives up on a lock after `upstream_store.BUSY_TIMEOUT_S`) holds at
most one batch of its own in the thread's way, however long it stays slow, and the
other chargers' writes and reads wait for at most the job in flight and the next.

Reads (`run`) go in the next job, after the writes gathered before them (a queue reads
back what it wrote). `close` waits at most `CLOSE_TIMEOUT_S` for the thread; past that
it logs what was left and leaves the thread to finish on its own: writes not yet
committed then are lost if the process ends first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from .upstream_store import PendingWrites, UpstreamStore

# How long writes gather before they go to the thread as one batch (a message waits one
# to two of these before it is written); what a crash of the whole process can lose is
# the last two (see `upstream_queue`).
GROUP_COMMIT_S = 0.01
# How long `close` waits for the thread to finish what it was given.
CLOSE_TIMEOUT_S = 10.0

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")
# A read: what to call on the thread, and the future its result goes to.
_Read = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]
_Outcome = tuple[bool, Any]  # (it returned, its result or what it raised)


class WriteSource(Protocol):
    """A queue whose writes the writer gathers."""

    def take_pending(self, *, everything: bool) -> tuple[UpstreamStore, PendingWrites] | None:
        """What the queue has to write now (None: nothing).

        Not `everything` (a tick): only the messages that waited since the tick before
        (see the module); the queue stays dirty (`gather`) while it keeps others back.
        """

    def write_ended(self, error: BaseException | None) -> None:
        """The batch last taken was written (None) or not (on the event loop)."""


class QueueWriter:
    """One thread for the SQLite work of many queues (see the module)."""

    def __init__(
        self,
        *,
        group_commit_s: float = GROUP_COMMIT_S,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
        name: str = "ocpp_csms_upstream",
    ) -> None:
        """Prepare; the thread starts with the first work and ends at `close`."""
        self._group_commit_s = group_commit_s
        self._close_timeout_s = close_timeout_s
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: dict[int, WriteSource] = {}
        self._reads: list[_Read] = []
        self._timer: asyncio.TimerHandle | None = None
        # A job is on the thread; set again each time one ends (for `close`).
        self.busy = False
        self._ended = asyncio.Event()
        # Bumped when `close` gives up on a thread: a job of that thread ending later
        # delivers its outcomes and starts nothing.
        self._generation = 0
        # Batches the thread has committed, and jobs with writes (for tests and figures).
        self.batches_written = 0
        self.handoffs = 0

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._loop = asyncio.get_running_loop()
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return self._executor

    async def run(self, function: Callable[..., _T], *arguments: Any) -> _T:
        """Run `function` on the thread, after every write gathered before."""
        self._thread()
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._reads.append((function, arguments, future))
        self.flush()
        return await future

    def gather(self, source: WriteSource) -> None:
        """`source` has writes pending: take them within `GROUP_COMMIT_S`, with the others'."""
        self._dirty[id(source)] = source
        if self._timer is None and not self.busy:
            loop = self._loop or asyncio.get_running_loop()
            self._timer = loop.call_later(self._group_commit_s, self.tick)

    def tick(self) -> None:
        """A window has passed: hand over what waited since the tick before (see the module)."""
        self._hand_over(everything=False)

    def flush(self) -> None:
        """Hand everything gathered to the thread now, in one job (or after the job in flight)."""
        self._hand_over(everything=True)

    def _hand_over(self, *, everything: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.busy:
            return  # taken up when the job in flight ends
        sources, self._dirty = list(self._dirty.values()), {}
        work = [
            (source, taken)
            for source in sources
            if (taken := source.take_pending(everything=everything))
        ]
        reads, self._reads = self._reads, []
        if not work and not reads:
            return
        self.busy = True
        self.handoffs += bool(work)
        job = self._thread().submit(
            _job,
            [taken for _, taken in work],
            [(function, arguments) for function, arguments, _ in reads],
        )
        job.add_done_callback(
            functools.partial(
                self._on_thread_ended,
                self._generation,
                [source for source, _ in work],
                [future for _, _, future in reads],
            )
        )

    def _on_thread_ended(
        self,
        generation: int,
        sources: list[WriteSource],
        futures: list[asyncio.Future[Any]],
        job: Future[tuple[list[BaseException | None], list[_Outcome]]],
    ) -> None:
        # On the thread: the rest is the event loop's.
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                self._loop.call_soon_threadsafe(self._job_ended, generation, sources, futures, job)

    def _job_ended(
        self,
        generation: int,
        sources: list[WriteSource],
        futures: list[asyncio.Future[Any]],
        job: Future[tuple[list[BaseException | None], list[_Outcome]]],
    ) -> None:
        current = generation == self._generation
        if current:
            self.busy = False
        try:
            errors, outcomes = job.result()
        except BaseException as lost:  # the thread was shut down under it
            errors, outcomes = [lost] * len(sources), [(False, lost)] * len(futures)
        for source, error in zip(sources, errors, strict=True):
            self.batches_written += error is None
            source.write_ended(error)
        for future, (returned, value) in zip(futures, outcomes, strict=True):
            if future.done():  # its caller gave up
                continue
            if returned:
                future.set_result(value)
            else:
                future.set_exception(value)
        self._ended.set()
        if not current:
            return
        if self._reads:
            self.flush()  # a read waits: it goes now, with the writes gathered before it
        elif self._dirty and self._timer is None:
            # What came meanwhile goes after a window of its own: gone at once it would
            # make more, smaller jobs (a delete of what the job just wrote, for one).
            self._timer = asyncio.get_running_loop().call_later(self._group_commit_s, self.tick)

    async def close(self) -> None:
        """Write what is gathered and end the thread (a later use starts a new one).

        Waits at most `close_timeout_s` (see the module).
        """
        self.flush()
        if (executor := self._executor) is None:
            return
        try:
            async with asyncio.timeout(self._close_timeout_s):
                while self.busy:
                    self._ended.clear()
                    await self._ended.wait()
                    self.flush()  # what gathered meanwhile, without its window
            if self._timer is not None:  # a queue whose retry waits: it closes itself
                self._timer.cancel()
                self._timer = None
        except TimeoutError:
            _LOGGER.error(
                "The upstream queues' writer did not finish within %s s (a file is locked"
                " or the disk hangs): what it had not written yet is lost if Home"
                " Assistant stops now",
                self._close_timeout_s,
            )
            self._executor = None
            self.busy = False
            self._generation += 1
            reads, self._reads = self._reads, []
            for _, _, future in reads:  # not a cancel: their callers were not cancelled
                if not future.done():
                    future.set_exception(RuntimeError("the upstream queues' writer has closed"))
            executor.shutdown(wait=False, cancel_futures=True)
            return
        self._executor = None
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)


def _job(
    work: list[tuple[UpstreamStore, PendingWrites]],
    reads: list[tuple[Callable[..., Any], tuple[Any, ...]]],
) -> tuple[list[BaseException | None], list[_Outcome]]:
    """On the thread: each batch to its file (one file's failure costs only it), then reads."""
    errors: list[BaseException | None] = []
    for store, batch in work:
        try:
            store.write(batch)
        except Exception as error:
            errors.append(error)
        else:
            errors.append(None)
    outcomes: list[_Outcome] = []
    for function, arguments in reads:
        try:
            outcomes.append((True, function(*arguments)))
        except Exception as error:
            outcomes.append((False, error))
    return errors, outcomes
