"""The thread that does the SQLite work of upstream queues, and its group commits.

Handing work to a thread costs far more CPU than the SQLite work a forwarded message
needs (issue 24's benchmark: about 50 µs a hand-off against 5 to 20 µs a commit), so
the hand-offs are what is economised. Queues do not hand over each write: they mark
themselves *dirty* (`QueueWriter.gather`); `GROUP_COMMIT_S` later the writer takes
what every dirty queue gathered meanwhile and hands it all over at once, one SQLite
transaction per queue's file. One writer serves every charger's queue
(`upstreams.Upstreams` owns it), so a burst from many chargers is one hand-off per
window, not one per message.

Reads (`run`) go to the same thread, after everything handed over before them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from .upstream_store import PendingWrites, UpstreamStore

# How long writes gather before they go to the thread as one batch; also how much a
# crash of the whole process can lose (see `upstream_queue`).
GROUP_COMMIT_S = 0.01

_T = TypeVar("_T")


class WriteSource(Protocol):
    """A queue whose writes the writer gathers."""

    def take_pending(self) -> tuple[UpstreamStore, PendingWrites] | None:
        """What the queue gathered since last asked, to be written now (None: nothing)."""

    def write_failed(self, error: BaseException) -> None:
        """A batch of this queue could not be written (called on the event loop)."""


class QueueWriter:
    """One thread for the SQLite work of many queues (see the module)."""

    def __init__(
        self, *, group_commit_s: float = GROUP_COMMIT_S, name: str = "ocpp_csms_upstream"
    ) -> None:
        """Prepare; the thread starts with the first work and ends at `close`."""
        self._group_commit_s = group_commit_s
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: dict[int, WriteSource] = {}
        self._timer: asyncio.TimerHandle | None = None
        # Batches the thread has committed (for tests and figures).
        self.batches_written = 0
        self.handoffs = 0

    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._loop = asyncio.get_running_loop()
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return self._executor

    async def run(self, function: Callable[..., _T], *arguments: Any) -> _T:
        """Run `function` on the thread, after every write handed over before."""
        executor = self._thread()
        return await asyncio.get_running_loop().run_in_executor(executor, function, *arguments)

    def gather(self, source: WriteSource) -> None:
        """`source` has writes pending: take them within `GROUP_COMMIT_S`, with the others'."""
        self._dirty[id(source)] = source
        if self._timer is None:
            loop = self._loop or asyncio.get_running_loop()
            self._timer = loop.call_later(self._group_commit_s, self.flush)

    def flush(self) -> None:
        """Hand every dirty source's writes to the thread now, in one job."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._dirty:
            return
        sources, self._dirty = list(self._dirty.values()), {}
        work = [(source, taken) for source in sources if (taken := source.take_pending())]
        if not work:
            return
        job = self._thread().submit(_write_all, [(store, batch) for _, (store, batch) in work])
        self.handoffs += 1
        job.add_done_callback(functools.partial(self._written, [source for source, _ in work]))

    def _written(self, sources: list[WriteSource], job: Future[list[BaseException | None]]) -> None:
        # On the thread: only failures (rare) are handed back to the event loop.
        try:
            errors = job.result()
        except BaseException as error:
            errors = [error] * len(sources)
        self.batches_written += sum(error is None for error in errors)
        failed = [(s, e) for s, e in zip(sources, errors, strict=True) if e is not None]
        if failed and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                self._loop.call_soon_threadsafe(_report, failed)

    async def close(self) -> None:
        """Write what is gathered and end the thread (a later use starts a new one)."""
        self.flush()
        if (executor := self._executor) is None:
            return
        self._executor = None
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)


def _write_all(work: list[tuple[UpstreamStore, PendingWrites]]) -> list[BaseException | None]:
    """On the thread: write each batch to its file; one file's failure costs only it."""
    errors: list[BaseException | None] = []
    for store, batch in work:
        try:
            store.write(batch)
        except Exception as error:
            errors.append(error)
        else:
            errors.append(None)
    return errors


def _report(failed: list[tuple[WriteSource, BaseException]]) -> None:
    for source, error in failed:
        source.write_failed(error)
