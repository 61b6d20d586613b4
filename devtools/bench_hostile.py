"""`scripts/bench hostile`: hostile frames at a real Home Assistant while a good charger charges.

A fresh Home Assistant starts with a central system that admits a few hostile chargers
and one good one, each with its own password (`devtools.admitted_hass`). The hostile
chargers (`devtools.hostile_frames`, a process of their own) boot, then send 100,000
frames from a seeded generator (mutated messages, NaN and 1e999, huge ints, lone
surrogates, deep nesting, unknown actions, huge strings, EVSE-id floods, broken framing,
oversized frames) as fast as the central system reads them, each charger with at most
100 frames sent and not yet read. Meanwhile the good charger,
in this process, runs a session (OCPP 1.6: StartTransaction, a MeterValues every 100 ms
with a Heartbeat every tenth tick, StopTransaction) and times each CALL until its
CALLRESULT.

Afterwards every charger, hostile or good, must connect and boot again (a charger that
cannot is locked out). Home Assistant is stopped cleanly and the session journal's
SQLite file read (read-only): the good charger's session must be there with the energy
it reported and every meter sample. The figures also give Home Assistant's log growth
over the run, the integration's ERROR records in it, and the integration's entity count
before and after.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custom_components.ocpp_csms.const import DEFAULT_REMOTE_TAG
from custom_components.ocpp_csms.csms.credentials import generate_password
from custom_components.ocpp_csms.csms.session_records import utc_text
from devtools.admitted_hass import (
    AdmittedHomeAssistant,
    charger_passwords,
    profile_of,
    progress,
    read_journal,
    start_py_spy,
    stop_py_spy,
    version_of,
)
from devtools.bench_storm import profile_areas
from devtools.hostile_frames import BATCH
from devtools.load_window import REGISTRY_SAVE_DELAY_S, Generator, cpu_seconds, settle
from devtools.loadgen import Charger
from devtools.release_check import log_records
from devtools.storm_chargers import Backoff, come_back, summary

DEFAULT_FRAMES = 100_000
HOSTILE_CHARGERS = 4
GOOD_ID = "GOOD-0000"
GOOD_VERSION = "ocpp1.6"
# The targets.
TARGET_GOOD_P99_MS = 50.0
TARGET_LOG_BYTES = 5 * 1024 * 1024
# The good charger's meter: where its session starts, what each MeterValues adds.
METER_START_WH = 10_000
STEP_WH = 7
# How long a charger may take to connect and boot again after the run.
LOCKOUT_TIMEOUT_S = 60.0
FIRST_ERRORS = 5
# py-spy's collapsed stacks of the last profiled run, for a closer look (flamegraph.pl).
HOSTILE_STACKS = Path(tempfile.gettempdir()) / "ocpp-csms-bench-hostile-profile.txt"
ERROR_CHARACTERS = 300


def _ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


@dataclass
class GoodSession:
    """A well-behaved OCPP 1.6 charger's session, one CALL at a time, as OCPP-J demands.

    Meter timestamps count up a second a message from an hour ago: the journal keeps
    one sample per second, and every sample must be found there afterwards.
    """

    charger: Charger
    started_at: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    )
    transaction_id: int | None = None
    register_wh: int = METER_START_WH
    ticks: int = 0
    samples: list[str] = field(default_factory=list)  # journal timestamps of answered ones
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    heartbeats: int = 0
    disconnected: bool = False  # whether its connection ended during the window

    def _at(self, seconds: int) -> str:
        return (self.started_at + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def start(self) -> None:
        """Start the transaction (the default tag: always accepted) and report Charging."""
        answer = await self.charger.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": DEFAULT_REMOTE_TAG, "meterStart": METER_START_WH,
             "timestamp": self._at(0)},
        )  # fmt: skip
        if not answer or "transactionId" not in answer:
            raise RuntimeError(f"StartTransaction was not answered: {answer}")
        self.transaction_id = int(answer["transactionId"])
        await self.charger.call("StatusNotification", self.charger.status_payload())
        await self._meter_values()  # the meter sensors exist before the window

    async def _meter_values(self) -> None:
        self.ticks += 1
        self.register_wh += STEP_WH
        at = self._at(self.ticks)
        answer = await self.charger.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": self.transaction_id,
                "meterValue": [
                    {
                        "timestamp": at,
                        "sampledValue": [
                            {
                                "value": str(self.register_wh),
                                "unit": "Wh",
                                "measurand": "Energy.Active.Import.Register",
                            },
                            {"value": "7200", "unit": "W", "measurand": "Power.Active.Import"},
                        ],
                    }
                ],
            },
        )
        if answer is None:
            self.unanswered += 1
        else:
            self.samples.append(str(utc_text(datetime.fromisoformat(at))))

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """MeterValues every `interval_s` (a Heartbeat every tenth tick) until `stop`."""
        self.charger.latencies.clear()
        tick = 0
        while not stop.is_set() and not self.charger.closed:
            tick += 1
            if tick % 10 == 0:
                self.heartbeats += 1
                if await self.charger.call("Heartbeat", {}) is None:
                    self.unanswered += 1
            else:
                await self._meter_values()
            # Not a tight loop: a charger's pace, whatever the answers' speed.
            with_stop = asyncio.ensure_future(stop.wait())
            await asyncio.wait([with_stop], timeout=interval_s)
            with_stop.cancel()
        self.latencies = list(self.charger.latencies)
        self.disconnected = self.charger.closed

    async def finish(self) -> None:
        """Stop the transaction with the last register reading."""
        await self.charger.call(
            "StopTransaction",
            {"transactionId": self.transaction_id, "meterStop": self.register_wh,
             "timestamp": self._at(self.ticks + 1), "reason": "Local"},
        )  # fmt: skip

    def figures(self) -> dict[str, Any]:
        """Round trips of the window's CALLs."""
        return {
            "calls": len(self.latencies),
            **_ms(self.latencies),
            "meter_values": self.ticks - 1,  # the first came before the window
            "heartbeats": self.heartbeats,
            "unanswered": self.unanswered,
            "disconnected": self.disconnected,
        }


def journal_figures(sessions: list[dict[str, Any]], good: GoodSession) -> dict[str, Any]:
    """The good charger's session as journaled, against what it sent."""
    expected_wh = float(good.register_wh - METER_START_WH)
    ours = [row for row in sessions if row["transaction_id"] == str(good.transaction_id)]
    row = ours[0] if ours else None
    journaled = set(row["sample_timestamps"]) if row else set()
    lost = [at for at in good.samples if at not in journaled]
    complete = row is not None and row["energy_wh"] == expected_wh and row["status"] == "completed"
    return {
        "session_found": row is not None,
        "status": row["status"] if row else None,
        "energy_wh": row["energy_wh"] if row else None,
        "expected_energy_wh": expected_wh,
        "samples_sent": len(good.samples),
        "samples_journaled": len(journaled),
        "samples_lost": len(lost),
        "rows_lost": len(lost) + (0 if complete else 1),
    }


def log_figures(text: str, growth: int) -> dict[str, Any]:
    """The run's slice of Home Assistant's log: its size, the integration's errors."""
    records = list(log_records(text))

    def ours(logger: str, message: str) -> bool:
        return logger.startswith("custom_components") or "ocpp_csms" in message

    errors = [
        record
        for record in records
        if record.level in ("ERROR", "CRITICAL") and ours(record.logger, record.text)
    ]
    warnings = sum(
        1 for record in records if record.level == "WARNING" and ours(record.logger, record.text)
    )
    return {
        "growth_bytes": growth,
        "records": len(records),
        "integration_errors": len(errors),
        "integration_warnings": warnings,
        "first_errors": [
            # One line each: a traceback's lines joined.
            f"[{record.logger}] {' // '.join(record.text.splitlines())}"[:ERROR_CHARACTERS]
            for record in errors[:FIRST_ERRORS]
        ],
    }


async def lockout_check(
    url: str, chargers: dict[str, tuple[str, str]], seed: int
) -> dict[str, Any]:
    """Every charger connects and boots again; those that cannot are locked out."""
    started = time.monotonic()
    rng = random.Random(seed)
    tasks: set[asyncio.Task[None]] = set()
    ways = await asyncio.gather(
        *(
            come_back(
                url,
                charger_id,
                version,
                password,
                started=started,
                deadline=started + LOCKOUT_TIMEOUT_S,
                first="boot",
                backoff=Backoff(),
                rng=rng,
                tasks=tasks,
            )
            for charger_id, (version, password) in chargers.items()
        )
    )
    for way in ways:
        if way.charger is not None and way.charger.websocket is not None:
            await way.charger.websocket.close()
    locked = {way.charger_id: dict(way.outcomes) for way in ways if way.back_after_s is None}
    return {"lockouts": len(locked), "locked_out": locked, **summary(ways)}


async def _hostile_generator(
    url: str, passwords_file: Path, *, frames: int, rate: float, seed: int, batch: int
) -> Generator:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.hostile_frames", "--url", url,
        "--passwords", str(passwords_file), "--frames", str(frames), "--rate", str(rate),
        "--seed", str(seed), "--batch", str(batch),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return Generator(process)


@dataclass
class _Run:
    """What the run measured inside Home Assistant, before it stopped."""

    window: dict[str, Any]
    cpu_s: float
    lockouts: dict[str, Any]
    entities: dict[str, int]
    entry_state: str
    log_text: str


async def _good_charger(url: str, password: str, seed: int) -> GoodSession:
    """The good charger connected, booted, its session started."""
    now = time.monotonic()
    way = await come_back(
        url, GOOD_ID, GOOD_VERSION, password, started=now, deadline=now + 60, first="boot",
        backoff=Backoff(), rng=random.Random(seed), tasks=set(),
    )  # fmt: skip
    if way.charger is None:
        raise RuntimeError(f"the good charger could not connect: {dict(way.outcomes)}")
    good = GoodSession(way.charger)
    await good.start()
    return good


async def _window(
    generator: Generator, good: GoodSession, pid: int, interval_s: float, *, profile: bool
) -> tuple[dict[str, Any], float]:
    """The hostile frames, the good session meanwhile; their figures, Home Assistant's CPU."""
    spy = await start_py_spy(pid, 3600, HOSTILE_STACKS) if profile else None
    cpu_before = cpu_seconds(pid)
    generator.go()
    await generator.expect("window_start")
    stop = asyncio.Event()
    running = asyncio.create_task(good.run(stop, interval_s))
    try:
        end = await generator.expect("window_end", timeout=3600)
    finally:
        stop.set()
        await running
        if spy is not None:
            await stop_py_spy(spy)
    end.pop("event")
    return end, cpu_seconds(pid) - cpu_before


async def _run(
    hass: AdmittedHomeAssistant,
    generator: Generator,
    good: GoodSession,
    chargers: dict[str, tuple[str, str]],
    *,
    seed: int,
    interval_s: float,
    profile: bool,
) -> _Run:
    """From the hostile window to the lockout check; the log's share of the run."""
    before = len(await hass.entity_ids())
    log_start = hass.log.stat().st_size
    window, cpu = await _window(generator, good, hass.pid, interval_s, profile=profile)
    progress(f"hostile: {window}")
    await good.finish()
    await generator.finish()
    assert good.charger.websocket is not None
    await good.charger.websocket.close()
    lockouts = await lockout_check(hass.url, chargers, seed)
    after = len(await hass.entity_ids())
    entry_state = await hass.entry_state()
    await asyncio.sleep(1)  # the last log lines of the run
    with hass.log.open("rb") as stream:
        stream.seek(log_start)
        text = stream.read().decode(errors="replace")
    return _Run(window, cpu, lockouts, {"before": before, "after": after}, entry_state, text)


async def hostile(
    frames: int = DEFAULT_FRAMES,
    *,
    hostile_chargers: int = HOSTILE_CHARGERS,
    rate: float = 0.0,
    seed: int = 20261207,
    batch: int = BATCH,
    good_interval_s: float = 0.1,
    delayed_work_s: float = REGISTRY_SAVE_DELAY_S,
    profile: bool = False,
) -> dict[str, Any]:
    """Run the scenario; its figures. With `profile`, py-spy samples the window.

    `delayed_work_s`: how long Home Assistant may put off work that admitting the
    chargers caused (its registries are saved 10 s after the last change) before the
    window starts; 0 starts at once (the tests).
    """
    hostile_passwords = charger_passwords("HOSTILE-", hostile_chargers)
    good_password = generate_password()
    chargers = {
        charger_id: (version_of(index), password)
        for index, (charger_id, password) in enumerate(hostile_passwords.items())
    }
    chargers[GOOD_ID] = (GOOD_VERSION, good_password)
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-hostile-") as folder:
        work = Path(folder)
        passwords_file = work / "hostile.json"
        passwords_file.write_text(json.dumps(hostile_passwords))
        all_passwords = {**hostile_passwords, GOOD_ID: good_password}
        # Guesses against PBKDF2 (passwords users chose) are the costly case.
        async with AdmittedHomeAssistant(work, all_passwords, "hostile", generated=False) as hass:
            generator = await _hostile_generator(
                hass.url, passwords_file, frames=frames, rate=rate, seed=seed, batch=batch
            )
            await generator.expect("connected", timeout=300)
            good = await _good_charger(hass.url, good_password, seed)
            if delayed_work_s > 0:
                await settle(hass.pid, delayed_work_s)
            run = await _run(
                hass, generator, good, chargers, seed=seed, interval_s=good_interval_s,
                profile=profile,
            )  # fmt: skip
            exit_code = await hass.stop()  # a clean stop writes the journal's last batch
            journal = journal_figures(read_journal(hass.journal, GOOD_ID), good)
    end, lockouts = run.window, run.lockouts
    good_figures = good.figures()
    log = log_figures(run.log_text, len(run.log_text.encode()))
    figures: dict[str, Any] = {
        "frames_requested": frames,
        "hostile_chargers": hostile_chargers,
        "seed": seed,
        "rate": rate or "as fast as read",
        # What each hostile charger may have sent and not yet had read: two batches.
        "batch": batch,
        "hostile": end,
        "cpu_percent_of_a_core": round(run.cpu_s / end["seconds"] * 100, 1)
        if end["seconds"]
        else None,
        "good": good_figures,
        "lockouts": lockouts,
        "journal": journal,
        "log": log,
        "entities": run.entities,
        "entry_state": run.entry_state,
        "home_assistant_exit_code": exit_code,  # 0: stopped cleanly, the journal closed
        "targets": {
            "no charger locked out": lockouts["lockouts"] == 0,
            "no row of the good charger lost": journal["rows_lost"] == 0,
            f"good charger p99 <= {TARGET_GOOD_P99_MS:g} ms": good_figures["p99_ms"] is not None
            and good_figures["p99_ms"] <= TARGET_GOOD_P99_MS,
            f"log growth <= {TARGET_LOG_BYTES // 2**20} MB": log["growth_bytes"]
            <= TARGET_LOG_BYTES,
        },
    }
    if profile:
        figures["profile"] = profile_of(HOSTILE_STACKS)
    return figures


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "none"


def hostile_table(figures: dict[str, Any]) -> str:
    """The figures as a short Markdown table."""
    bad, good, journal, log = (figures[key] for key in ("hostile", "good", "journal", "log"))
    lock = figures["lockouts"]
    rows = [
        "| Hostile | Figure |",
        "|---|---|",
        f"| hostile frames from {figures['hostile_chargers']} chargers (seed {figures['seed']}) | "
        f"{bad['frames']} read in {bad['seconds']} s ({bad['frames_per_s']} /s; up to "
        f"{2 * figures['batch']} in flight per charger) |",
        f"| frames sent in all (unconfirmed: sent on connections closed before they were read) | "
        f"{bad['frames_sent']} ({bad['unconfirmed']}) |",
        f"| frames by kind | {_counts(bad['by_kind'])} |",
        f"| answers: CALLRESULTs; CALLERRORs by code | {bad['callresults']}; "
        f"{_counts(bad['callerrors'])} |",
        f"| InternalError answers | {bad['internal_errors']} |",
        f"| connections closed by the central system (code); reconnects | "
        f"{_counts(bad['closes'])}; {bad['reconnects']} |",
        f"| Home Assistant CPU during the run | {figures['cpu_percent_of_a_core']} % of a core |",
        f"| good charger: CALL→CALLRESULT p50 / p99 / max | {good['p50_ms']} / {good['p99_ms']} / "
        f"{good['max_ms']} ms ({good['calls']} calls, {good['unanswered']} unanswered) |",
        f"| chargers locked out afterwards | {lock['lockouts']} of {lock['chargers']} "
        f"(refusals: {_counts(lock['refusals'])}) |",
        f"| good session in the journal: energy (expected) | {journal['energy_wh']} Wh "
        f"({journal['expected_energy_wh']} Wh), {journal['status']} |",
        f"| good charger's rows lost | {journal['rows_lost']} ({journal['samples_journaled']} of "
        f"{journal['samples_sent']} samples journaled) |",
        f"| Home Assistant log growth | {log['growth_bytes']} bytes ({log['records']} records) |",
        f"| integration ERROR records; WARNING records | {log['integration_errors']}; "
        f"{log['integration_warnings']} |",
        f"| integration entities before / after | {figures['entities']['before']} / "
        f"{figures['entities']['after']} |",
    ]
    rows += [f"| first error | {error.replace('|', '/')} |" for error in log["first_errors"]]
    if profile := figures.get("profile"):
        rows.append(
            f"| profile of the run ({profile['samples']} samples) | {profile_areas(profile)} |"
        )
    rows += [
        f"| target: {target} | {'met' if met else 'MISSED'} |"
        for target, met in figures["targets"].items()
    ]
    return "\n".join(rows)
