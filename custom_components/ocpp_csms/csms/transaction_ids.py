"""Transaction ids the central system issues to OCPP 1.6 chargers.

They must be unique across connectors, chargers and restarts, and fit a 32-bit
integer (many chargers store them so). Ids are seconds since 2024-01-01 or one more
than the last id issued, whichever is larger: after a restart the clock has moved on
past every id issued before, unless more than one id per second was issued on
average since 2024, and a journal that remembers the last id can say so with
`ensure_above`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
MAX_ID = 2**31 - 1


class TransactionIdAllocator:
    """Issues increasing 1.6 transaction ids."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Start from the clock; `clock` returns seconds since the Unix epoch."""
        self._clock = clock
        self._last = 0

    def ensure_above(self, issued: int) -> None:
        """Never issue `issued` or anything below it (a journal's last id)."""
        self._last = max(self._last, issued)

    def next_id(self) -> int:
        """A new id, larger than every id issued before."""
        now = int(self._clock() - _EPOCH)
        self._last = max(self._last + 1, now)
        if self._last > MAX_ID:  # not before 2092; wrap rather than overflow chargers
            self._last = 1
        return self._last
