"""One upstream link's status as Home Assistant shows it.

The engine reports a link's status (`on_status`) already coalesced (`csms.coalesce`):
a new state at once, queue and count changes at most once a second, the last one
always. So each report goes straight to the entities, which write only when what they
show changed, and a change of the link's state (connected, refused...) to the repair.
"""

from __future__ import annotations

from collections.abc import Callable

from ..csms.upstream_settings import UpstreamState, UpstreamStatus


class UpstreamTracker:
    """The last status of one charger's link; tells its entities and its repair."""

    def __init__(
        self,
        *,
        show: Callable[[], None],
        state_changed: Callable[[UpstreamState], None],
    ) -> None:
        """`show` updates the entities; `state_changed` is told each new state."""
        self.status: UpstreamStatus | None = None
        self._show = show
        self._state_changed = state_changed
        self._closed = False

    def on_status(self, status: UpstreamStatus) -> None:
        """The engine's `on_status`: record, tell the repair of a new state, show."""
        if self._closed:
            return
        previous, self.status = self.status, status
        if previous is None or previous.state is not status.state:
            self._state_changed(status.state)
        self._show()

    def close(self) -> None:
        """The link is gone (or Home Assistant stops): report nothing more."""
        self._closed = True
