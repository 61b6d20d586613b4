"""The session journal's write queue, kept on the event loop: what waits, and what failed.

Writes wait in a `WriteBatch` while the journal's thread is busy or the database cannot
be written; the bounds below keep that wait finite. Rows the database refused for their
own values come back as `RefusedRow`s, which the `RefusalLog` counts and logs, bounded.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

# Bounds of the write queue while the database cannot be written (locked, full disk,
# damaged until moved aside): beyond them the oldest writes of that kind are shed, each
# kind bounded on its own. Sessions are keyed snapshots, so their count is that of
# transactions waiting, not of messages. 100 000 samples are some 30 MB and a day of 70
# chargers sampling every minute.
MAX_QUEUED_SESSIONS = 10_000
MAX_QUEUED_SAMPLES = 100_000
MAX_QUEUED_LATE = 10_000

# Refusals are counted per charger for at most this many chargers (admitted chargers
# are far fewer); beyond, they are counted together under OTHER_CHARGERS, so a flood of
# identities cannot grow the counter or the log without end.
MAX_REFUSING_CHARGERS = 1000
OTHER_CHARGERS = "(other chargers)"


class RowKind(StrEnum):
    """What a journal row holds (for reporting the rows refused)."""

    SESSION = "session"
    SAMPLE = "sample"
    LATE_MESSAGE = "late message"


@dataclass(frozen=True, slots=True)
class RefusedRow:
    """A write the database refused for its own values: dropped, never tried again.

    Every text is already fit for a log line: cleaned and cut to a few hundred characters.
    """

    charger_id: str
    transaction_id: str
    kind: RowKind
    reason: str


@dataclass(slots=True)
class WriteBatch:
    """Writes queued together: session snapshots by key, samples, late messages."""

    sessions: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    samples: list[tuple[Any, ...]] = field(default_factory=list)
    late: list[tuple[str, str, str, str]] = field(default_factory=list)
    # Rows `SessionStore.write` took out of this batch because the database refused
    # them, for the journal to report; not counted as waiting, never written again.
    refused: list[RefusedRow] = field(default_factory=list)

    def __len__(self) -> int:
        """How many writes wait."""
        return len(self.sessions) + len(self.samples) + len(self.late)

    def put_back(self, newer: WriteBatch) -> None:
        """Merge writes queued after this batch was taken: theirs win."""
        self.sessions.update(newer.sessions)
        self.samples.extend(newer.samples)
        self.late.extend(newer.late)

    def shed(self) -> int:
        """Drop the oldest writes beyond the queue's bounds; how many went."""
        shed = 0
        excess = len(self.samples) - MAX_QUEUED_SAMPLES
        if excess > 0:
            del self.samples[:excess]
            shed += excess
        excess = len(self.late) - MAX_QUEUED_LATE
        if excess > 0:
            del self.late[:excess]
            shed += excess
        excess = len(self.sessions) - MAX_QUEUED_SESSIONS
        if excess > 0:
            for key in list(itertools.islice(self.sessions, excess)):
                del self.sessions[key]
            shed += excess
        return shed


class RefusalLog:
    """Counts the rows the database refused per charger; logs each charger and kind once.

    Lives on the event loop. Both the counts and the log are bounded (see
    MAX_REFUSING_CHARGERS): a charger sending bad values with every message must not
    flood the log, nor grow memory.
    """

    def __init__(self, path: Path) -> None:
        """Count nothing yet."""
        self._path = path
        self._counts: dict[str, int] = {}
        self._logged: set[tuple[str, RowKind]] = set()

    @property
    def counts(self) -> dict[str, int]:
        """Rows refused so far, per charger id (a copy)."""
        return dict(self._counts)

    def report(self, refused: Iterable[RefusedRow]) -> None:
        """Count (and log, the first time for its charger and kind) each refused row."""
        for row in refused:
            charger = row.charger_id
            if charger not in self._counts and len(self._counts) >= MAX_REFUSING_CHARGERS:
                charger = OTHER_CHARGERS
            self._counts[charger] = self._counts.get(charger, 0) + 1
            if (charger, row.kind) in self._logged:
                continue
            self._logged.add((charger, row.kind))
            _LOGGER.warning(
                "Session journal %s refused a %s row of charger %s (transaction %s): %s;"
                " the row is dropped, the rest of its batch is written. Further refused"
                " %s rows of this charger are only counted",
                self._path,
                row.kind,
                row.charger_id,
                row.transaction_id,
                row.reason,
                row.kind,
            )
