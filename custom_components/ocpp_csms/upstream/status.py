"""One upstream link's status as Home Assistant shows it.

The engine reports a link's status (`on_status`) on every change, and the queue
changes with every message forwarded: twice per message (queued, then answered). What
reaches the entities is coalesced by `Coalescer`: the first change after a quiet second
is shown at the next turn of the event loop (so a burst within one turn is one write),
later ones at most once a second, the last one always. The entities then write only
when what they show changed. A change of the link's state (connected, refused...) is
passed on at once, for the repair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..csms.upstream_settings import UpstreamState, UpstreamStatus

# At most one update of a link's entities per this many seconds.
UPDATE_INTERVAL_S = 1.0


class Coalescer:
    """Runs `action` soon after `poke`, at most once per `interval` seconds."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        action: Callable[[], None],
        interval: float = UPDATE_INTERVAL_S,
    ) -> None:
        """Nothing is scheduled until the first poke."""
        self._loop = loop
        self._action = action
        self._interval = interval
        self._last = -interval  # the first poke runs at the next turn
        self._handle: asyncio.Handle | None = None
        self._closed = False

    @property
    def pending(self) -> bool:
        """Whether a run is scheduled."""
        return self._handle is not None

    def poke(self) -> None:
        """Something changed: run the action soon (once, however many pokes)."""
        if self._handle is not None or self._closed:
            return
        wait = self._last + self._interval - self._loop.time()
        self._handle = (
            self._loop.call_later(wait, self._run) if wait > 0 else self._loop.call_soon(self._run)
        )

    def _run(self) -> None:
        self._handle = None
        self._last = self._loop.time()
        self._action()

    def close(self) -> None:
        """Run no more."""
        self._closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class UpstreamTracker:
    """The last status of one charger's link; tells its entities and its repair."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        show: Callable[[], None],
        state_changed: Callable[[UpstreamState], None],
    ) -> None:
        """`show` updates the entities; `state_changed` is told each new state at once."""
        self.status: UpstreamStatus | None = None
        self._state_changed = state_changed
        self._coalescer = Coalescer(loop, show)
        self._closed = False

    def on_status(self, status: UpstreamStatus) -> None:
        """The engine's `on_status`: called often, so it only records and schedules."""
        if self._closed:
            return
        previous, self.status = self.status, status
        if previous is None or previous.state is not status.state:
            self._state_changed(status.state)
        self._coalescer.poke()

    def close(self) -> None:
        """The link is gone (or Home Assistant stops): report nothing more."""
        self._closed = True
        self._coalescer.close()
