"""Journal rows on their way into SQLite: made storable, and written one by one.

Charger input reaches these rows, so one row's values must never cost other rows: text
and numbers are made storable here (`storable`), and a row the database still refuses
for its own values is dropped and reported (`refused_row`) while the rest of its batch
is written (`write_rows`). Runs on the journal's thread, as `session_store` does.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .boundary import clean_text
from .journal_queue import RefusedRow, RowKind

# SQLite's INTEGER is 64 bits; a Python int beyond raises OverflowError when bound.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Errors that a row's own values cause, so that writing the same row again fails the
# same way: a constraint (a NOT NULL column given NULL), a value too big for SQLite,
# text UTF-8 cannot encode (UnicodeEncodeError is a ValueError), an int beyond 64 bits
# (OverflowError), a type SQLite cannot store (TypeError, from `storable`). Everything
# else is the database's state, which may change: busy or locked, I/O, a full disk, a
# read-only, damaged or newer file, out of memory, even a programming error: rows are
# never dropped for those, they stay queued and are tried again.
ROW_FAULTS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    ValueError,
    ArithmeticError,
    TypeError,
)

# Values quoted in a log line are cut to this many characters.
_LOGGED_CHARS = 200


def storable(row: Sequence[Any]) -> tuple[Any, ...]:
    """A row with every value as SQLite can store it (the journal's own edge).

    The engine's boundary already makes charger input safe; this is the last line, so
    that a value slipping past it is journaled in a harmless form rather than refused.
    """
    return tuple(map(_storable_value, row))


def _storable_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        # SQLite stores UTF-8, which cannot hold a lone surrogate: U+FFFD stands in.
        return value if value.isascii() else clean_text(value)
    if isinstance(value, int):  # bool too
        # Beyond 64 bits: NULL, not clamped. A clamped value would be a false reading
        # that looks real (9.2e18 Wh summed into the energy totals, an id that seems
        # plausible); NULL says "unknown", which every nullable column's reader already
        # handles. In a NOT NULL column (EVSE, connector, sequence number) the row is
        # then refused, and dropped and reported: no value there is worth guessing.
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float):
        # SQLite keeps infinities (and makes NaN NULL): one infinite reading would make
        # every sum over it infinite, so NULL for these too.
        return value if math.isfinite(value) else None
    # Nothing the journal queues is of another type; should charger input ever bring
    # one (a JSON object where text was expected), the row is refused, not retried.
    raise TypeError(f"a {type(value).__name__} cannot be journaled")


type _Statements = Iterable[tuple[str, Sequence[Any]]]


def write_row(connection: sqlite3.Connection, statements: _Statements) -> Exception | None:
    """Write one row (its statements) in a savepoint; the row's own fault if refused.

    Raises when the database, not the row, is at fault.
    """
    connection.execute("SAVEPOINT journal_row")
    try:
        for statement, row in statements:
            connection.execute(statement, storable(row))
    except ROW_FAULTS as error:
        connection.execute("ROLLBACK TO journal_row")
        connection.execute("RELEASE journal_row")
        return error
    connection.execute("RELEASE journal_row")
    return None


def write_rows[R: Sequence[Any]](
    connection: sqlite3.Connection,
    rows: list[R],
    statements: Callable[[R], _Statements],
    refusal: Callable[[R, Exception], RefusedRow],
    refused: list[RefusedRow],
) -> None:
    """Write each row on its own; take the refused ones out of `rows` into `refused`.

    They are taken out even when the database fails half way, so that they are not
    queued again.
    """
    dropped: set[int] = set()
    try:
        for index, row in enumerate(rows):
            error = write_row(connection, statements(row))
            if error is not None:
                dropped.add(index)
                refused.append(refusal(row, error))
    finally:
        if dropped:
            rows[:] = [row for index, row in enumerate(rows) if index not in dropped]


def refused_row(
    kind: RowKind, charger_id: Any, transaction_id: Any, error: Exception
) -> RefusedRow:
    """A refused row as it is reported: its ids and the reason, short and loggable."""
    return RefusedRow(
        _loggable(charger_id), _loggable(transaction_id), kind, _loggable(_reason(error))
    )


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _loggable(value: Any) -> str:
    """Short text for a log line: never a huge value, never one a log file cannot encode."""
    if not isinstance(value, str):
        # Not str(): a huge int has no decimal form (and it would be huge).
        return f"<{type(value).__name__}>"
    cut = value[:_LOGGED_CHARS]
    return clean_text(cut) + ("..." if len(value) > _LOGGED_CHARS else "")
