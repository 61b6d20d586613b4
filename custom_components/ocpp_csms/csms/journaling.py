"""The central system's side of the session journal: what it records, what it restores.

Events that concern sessions are recorded; at start, the stations go on from what the
journal read back (running sessions, last sessions, transaction ids already closed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from .events import (
    Event,
    LateTransactionMessage,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from .sessions import RestoredJournal, SessionJournal
from .station import Station

_LOGGER = logging.getLogger(__name__)


def record_event(journal: SessionJournal, event: Event) -> None:
    """Record what an event says of a session (other events are not the journal's)."""
    match event:
        case (
            TransactionStarted(station=station, transaction=transaction)
            | TransactionUpdated(station=station, transaction=transaction)
            | TransactionEnded(station=station, transaction=transaction)
        ):
            journal.record(station.id, transaction)
        case LateTransactionMessage(station=station, transaction_id=tid, action=action):
            journal.record_late_message(station.id, tid, action)


def record_sessions(journal: SessionJournal, stations: Iterable[Station]) -> None:
    """Record every running and last session of `stations` (into a journal begun afresh)."""
    for station in stations:
        for evse in station.evses.values():
            for transaction in (evse.transaction, evse.last_transaction):
                if transaction is not None:
                    journal.record(station.id, transaction)


def restore_stations(
    restored: RestoredJournal,
    ensure_station: Callable[[str], Station],
    admitted: Callable[[str], bool],
) -> None:
    """Give admitted chargers' stations their running and last sessions back.

    Chargers removed since keep their rows, but get no station back.
    """
    for record in restored.last_ended:
        if admitted(record.charger_id):
            station = ensure_station(record.charger_id)
            station.evse(record.evse_id).last_transaction = record.to_transaction()
    for record in restored.active:
        if admitted(record.charger_id):
            station = ensure_station(record.charger_id)
            station.evse(record.evse_id).transaction = record.to_transaction()
    for charger_id, closed in restored.closed_ids.items():
        if admitted(charger_id):
            ensure_station(charger_id).closed_transactions.extend(closed)
    if restored.active:
        _LOGGER.info(
            "Going on with %s charging sessions that were running at the last stop",
            len(restored.active),
        )
