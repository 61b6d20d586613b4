"""What the session journal costs: writing meter samples, and exporting 10,000 sessions.

Writing is split in two, because only one of them is paid by Home Assistant's event
loop: `record` (on the loop: a snapshot and the new samples queued) and the batch
write (on the journal's own thread). Both are reported per meter sample, for batches
as they form under load (one per round of 100 chargers) and for the worst case of
one sample per batch.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custom_components.ocpp_csms.csms.session_export import (
    CdrSettings,
    Pricing,
    cdrs,
    sessions_csv,
)
from custom_components.ocpp_csms.csms.sessions import SessionJournal
from custom_components.ocpp_csms.csms.station import MeterSample, Transaction, TransactionState

START = datetime(2026, 1, 1, tzinfo=UTC)


def _transaction(number: int) -> Transaction:
    return Transaction(
        id=str(100_000 + number),
        evse_id=1,
        connector_id=1,
        started_at=START + timedelta(hours=number),
        id_tag=f"TAG{number % 20:04d}",
        meter_start_wh=0.0,
        last_register_wh=0.0,
    )


def _add_sample(transaction: Transaction, minute: int) -> None:
    energy = 185.0 * minute
    transaction.last_register_wh = energy
    transaction.samples.append(
        MeterSample(transaction.started_at + timedelta(minutes=minute), energy, 11000, 16, 20)
    )


async def _writes(
    folder: Path, chargers: int, rounds: int, *, batch_per_round: bool
) -> dict[str, Any]:
    journal = SessionJournal(folder / f"writes-{chargers}-{batch_per_round}.db")
    await journal.open()
    running = [_transaction(number) for number in range(chargers)]
    for transaction in running:
        journal.record(f"CP-{transaction.id}", transaction)
    await journal.flush()
    on_loop = 0.0
    writing = 0.0
    for minute in range(1, rounds + 1):
        for transaction in running:
            _add_sample(transaction, minute)
            began = time.perf_counter()
            journal.record(f"CP-{transaction.id}", transaction)
            on_loop += time.perf_counter() - began
            if not batch_per_round:
                began = time.perf_counter()
                await journal.flush()
                writing += time.perf_counter() - began
        if batch_per_round:
            began = time.perf_counter()
            await journal.flush()
            writing += time.perf_counter() - began
    samples = chargers * rounds
    await journal.close()
    return {
        "samples": samples,
        "batches": "one per round" if batch_per_round else "one per sample",
        "on_loop_us_per_sample": round(on_loop / samples * 1e6, 1),
        "writer_us_per_sample": round(writing / samples * 1e6, 1),
    }


async def _fill(path: Path, sessions: int, samples_each: int) -> SessionJournal:
    journal = SessionJournal(path)
    await journal.open()
    for number in range(sessions):
        transaction = _transaction(number)
        for minute in range(1, samples_each + 1):
            _add_sample(transaction, minute * 5)
        transaction.meter_stop_wh = transaction.last_register_wh
        transaction.stopped_at = transaction.started_at + timedelta(minutes=5 * samples_each)
        transaction.state = TransactionState.COMPLETED
        journal.record(f"CP-{number % 10}", transaction)
        if number % 500 == 499:
            await journal.flush()
    await journal.flush()
    return journal


async def _median_seconds(work: Any, repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        await work()
        runs.append(time.perf_counter() - began)
    return round(statistics.median(runs), 3)


async def _exports(folder: Path, sessions: int, samples_each: int) -> dict[str, Any]:
    path = folder / "export.db"
    began = time.perf_counter()
    journal = await _fill(path, sessions, samples_each)
    filled = time.perf_counter() - began
    pricing = Pricing(0.25, "EUR")
    settings = CdrSettings(pricing=pricing)

    async def as_csv() -> None:
        sessions_csv(await journal.sessions(), pricing)

    async def as_cdrs() -> None:
        json.dumps(cdrs(await journal.sessions(with_samples=True), settings))

    figures = {
        "sessions": sessions,
        "samples_per_session": samples_each,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "fill_s": round(filled, 2),
        "csv_s": await _median_seconds(as_csv),
        "cdr_json_s": await _median_seconds(as_cdrs),
    }
    await journal.close()
    return figures


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        return {
            "writes_batched": await _writes(base, 100, 30, batch_per_round=True),
            "writes_one_by_one": await _writes(base, 100, 5, batch_per_round=False),
            "export": await _exports(base, 10_000, 24),
        }


def journal() -> dict[str, Any]:
    """Run the journal benchmark (a few tens of seconds)."""
    return asyncio.run(_run())
