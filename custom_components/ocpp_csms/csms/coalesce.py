"""Reports of something that changes often, coalesced: one call per burst, bounded rate.

A forwarding link's queue changes twice for every message relayed (queued, then
answered); whoever listens (Home Assistant writes entity state on each report) must not
be called a few hundred times a second during a burst. `Coalescer.changed` asks for a
report; reports come at most once per `interval_s`, the first of a quiet spell at the
next turn of the event loop (so a burst handled in one turn is one report), and the
last change is always reported (trailing edge). `Coalescer.now` reports at once, for
changes that should not wait (a connection lost), taking along any pending report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Coalescer:
    """Calls `report` after changes, at most once per `interval_s` (see the module)."""

    def __init__(self, report: Callable[[], None], interval_s: float) -> None:
        """Bind the report; nothing is called until `changed` or `now`."""
        self._report = report
        self._interval_s = interval_s
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        # When the last report was made (event loop time); far past at first.
        self._last = float("-inf")

    @property
    def pending(self) -> bool:
        """Whether a report is due (asked for, not made yet)."""
        return self._timer is not None

    def changed(self) -> None:
        """Something changed: report it soon, together with what changes meanwhile."""
        if self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last + self._interval_s - loop.time()
        if wait > 0:
            self._timer = loop.call_later(wait, self._fire)
        else:
            self._timer = loop.call_soon(self._fire)

    def now(self) -> None:
        """Report at once (what was pending goes with it)."""
        self.cancel()
        self._fire()

    def cancel(self) -> None:
        """Forget a pending report."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        self._last = asyncio.get_running_loop().time()
        self._report()
