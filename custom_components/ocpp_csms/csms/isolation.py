"""One charger's failures kept to that charger: logged within a budget, never passed on.

Home Assistant may refuse a state, or a listener may have a bug: that must not end the
charger's connection, lock it out, reach another charger, or flood the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .events import Event
from .host import CentralSystemListener
from .log_budget import LogBudget

_LOGGER = logging.getLogger(__name__)


class FailureIsolation:
    """Tells the listener, and runs work for one charger, each failure logged alone."""

    def __init__(self, listener: CentralSystemListener) -> None:
        """Guard calls to `listener` (and any work given to `safely`)."""
        self._listener = listener
        # What failing listeners (and upkeep) may make us log: a few tracebacks per
        # charger per ten minutes, and a bound for all chargers together.
        self._failure_log = LogBudget(per_source=3, overall=30, period_s=600.0)

    def tell(self, event: Event) -> None:
        """Pass an event to the listener; what it raises is logged, never passed on."""
        try:
            self._listener.handle(event)
        except Exception:
            self._log_failure(event.station.id, f"handling {type(event).__name__}")

    def safely[*A](self, charger_id: str, what: str, work: Callable[[*A], None], *args: *A) -> None:
        """Run `work` for one charger; a failure is logged, never passed on."""
        try:
            work(*args)
        except Exception:
            self._log_failure(charger_id, what)

    def _log_failure(self, charger_id: str, what: str) -> None:
        """Log the exception being handled, within a budget per charger."""
        left_out = self._failure_log.take(charger_id)
        if left_out is None:
            return
        note = f" ({left_out} similar failures left out)" if left_out else ""
        _LOGGER.exception("Charger %s: failed %s%s", charger_id, what, note)
