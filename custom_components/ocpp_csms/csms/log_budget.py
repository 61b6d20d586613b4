"""A bound on how much one charger (and all of them together) can make us log.

A charger that sends a thousand broken frames a second must not write a thousand log
lines a second into Home Assistant's log. Each source gets a few lines per period; what
goes beyond is counted, and the next line that may be written says how many were left
out. A second, overall budget holds when many sources misbehave at once, and the number
of sources remembered is bounded too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    started: float
    used: int = 0
    # Lines left out since the last line written (reported with the next one).
    left_out: int = 0


class LogBudget:
    """Up to `per_source` lines per source and `overall` lines in all, per `period_s`."""

    def __init__(
        self,
        *,
        per_source: int,
        overall: int,
        period_s: float,
        max_sources: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set the budget; `clock` is for tests."""
        self._per_source = per_source
        self._overall = overall
        self._period_s = period_s
        self._max_sources = max_sources
        self._clock = clock
        self._sources: OrderedDict[str, _Window] = OrderedDict()
        self._all = _Window(clock())

    def take(self, source: str) -> int | None:
        """None when `source` must stay silent now; else how many lines it left out."""
        now = self._clock()
        window = self._sources.get(source)
        if window is None:
            window = self._sources[source] = _Window(now)
            while len(self._sources) > self._max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(source)
        for each in (window, self._all):
            if now - each.started >= self._period_s:
                each.started, each.used = now, 0
        if window.used >= self._per_source or self._all.used >= self._overall:
            window.left_out += 1
            return None
        window.used += 1
        self._all.used += 1
        left_out, window.left_out = window.left_out, 0
        return left_out


def shorten(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters, saying so when it was cut."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
