"""The session journal's records as read back, and what the engine restores from them.

Plain data, free of SQLite: the journal's store (`session_store`) makes them from rows,
and the engine, the calendar and the exports read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from .meter_sanity import RegisterTrack, notes_from
from .station import MeterSample, Transaction, TransactionState


class SessionStatus(StrEnum):
    """A journaled session's state."""

    ACTIVE = "active"
    COMPLETED = "completed"
    # Ended, but not to be billed as it stands: the starting tag was refused, or the
    # meter ran backwards.
    INVALID = "invalid"


@dataclass(slots=True)
class SessionRecord:
    """A session as the journal holds it."""

    session_id: int
    charger_id: str
    transaction_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    status: SessionStatus
    id_tag: str | None = None
    id_tag_type: str | None = None
    tag_name: str | None = None
    stop_id_tag: str | None = None
    stopped_at: datetime | None = None
    meter_start_wh: float | None = None
    meter_stop_wh: float | None = None
    last_register_wh: float | None = None
    energy_wh: float | None = None
    stop_reason: str | None = None
    offline: bool = False
    charging_state: str | None = None
    seq_no: int = -1
    late_messages: int = 0
    updated_at: datetime | None = None
    # Why the energy is not simply the last reading less the first (`MeterNote` words,
    # comma-separated); None: it is.
    meter_note: str | None = None
    register_offset_wh: float = 0.0
    register_scale: float = 1.0
    samples: list[MeterSample] = field(default_factory=list)

    def to_transaction(self) -> Transaction:
        """The engine's transaction, to go on from where the journal left it."""
        return Transaction(
            id=self.transaction_id,
            evse_id=self.evse_id,
            connector_id=self.connector_id,
            started_at=self.started_at,
            id_tag=self.id_tag,
            id_tag_type=self.id_tag_type,
            tag_name=self.tag_name,
            authorized=self.status is not SessionStatus.INVALID,
            meter_start_wh=self.meter_start_wh,
            meter_stop_wh=self.meter_stop_wh,
            last_register_wh=self.last_register_wh,
            stopped_at=self.stopped_at,
            stop_reason=self.stop_reason,
            stop_id_tag=self.stop_id_tag,
            state=(
                TransactionState.ACTIVE
                if self.status is SessionStatus.ACTIVE
                else TransactionState.COMPLETED
            ),
            offline=self.offline,
            charging_state=self.charging_state,
            seq_no=self.seq_no,
            register=RegisterTrack(self.register_scale, self.register_offset_wh),
            meter_notes=notes_from(self.meter_note),
        )


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions to read: all when every field is None."""

    charger_ids: frozenset[str] | None = None
    started_from: datetime | None = None  # inclusive
    started_before: datetime | None = None  # exclusive
    # Sessions still running, or stopped after this moment (exclusive): with
    # `started_before`, the sessions that overlap a period, as a calendar shows them.
    running_after: datetime | None = None
    id_tag: str | None = None  # matched without regard to case


@dataclass(slots=True)
class RestoredJournal:
    """What the journal remembers at start-up, for the engine to go on from."""

    active: list[SessionRecord] = field(default_factory=list)
    # The last ended session of each (charger, EVSE).
    last_ended: list[SessionRecord] = field(default_factory=list)
    # Recently closed transaction ids per charger, oldest first.
    closed_ids: dict[str, list[str]] = field(default_factory=dict)
    # The highest numeric transaction id on record (1.6 ids are issued by us).
    highest_numeric_id: int = 0


def session_status(transaction: Transaction) -> SessionStatus:
    """The journal status of a transaction."""
    if transaction.state is TransactionState.ACTIVE:
        return SessionStatus.ACTIVE
    if not transaction.authorized:
        return SessionStatus.INVALID
    start, stop = transaction.meter_start_wh, transaction.meter_stop_wh
    if start is not None and stop is not None and stop < start:
        return SessionStatus.INVALID
    return SessionStatus.COMPLETED


def utc_text(moment: datetime | None) -> str | None:
    """A moment as the journal stores it: ISO 8601 in UTC, to the second."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def moment_of(text: str | None) -> datetime | None:
    """A moment read back from the journal (the inverse of `utc_text`)."""
    return None if text is None else datetime.fromisoformat(text)
