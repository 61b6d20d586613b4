"""A session's energy from the best evidence a charger gives, and registers that misbehave.

The rule itself (`meter_sanity`) is checked on its own first, then through the engine
with raw frames of every version, then with simulated chargers that meter as real ones
do (a register sent in kWh without a unit; nothing sampled but a session's edges).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_csms.csms.events import RegisterImplausible, TransactionEnded
from custom_components.ocpp_csms.csms.meter_sanity import (
    MAX_POWER_W,
    SLACK_WH,
    MeterNote,
    RegisterTrack,
    notes_from,
    notes_text,
    plausible,
)
from custom_components.ocpp_csms.csms.metering import take_register
from custom_components.ocpp_csms.csms.station import Measurand, Transaction
from tests.chargers import charger, wait_for
from tests.engine.conftest import ConnectRaw, RawCharger, Running, StartSystem
from tests.engine.test_messages_2x import event, sampled

MOMENT = datetime(2026, 11, 23, 10, tzinfo=UTC)
T0, T1, T2, T3 = (f"2026-11-23T1{hour}:00:00Z" for hour in range(4))
VERSIONS_2X = pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
ENERGY = "Energy.Active.Import.Register"
# A register as real chargers have them: years of charging, in Wh.
OLD_METER_WH = 3_456_000


def minutes(n: float) -> datetime:
    return MOMENT + timedelta(minutes=n)


def session(start_wh: float | None = None) -> Transaction:
    """A session started at MOMENT, with its start reading if given."""
    transaction = Transaction(id="T-1", evse_id=1, connector_id=1, started_at=MOMENT)
    if start_wh is not None:
        take_register(transaction, start_wh, MOMENT, opening=True)
    return transaction


def read(transaction: Transaction, *readings: tuple[float, float]) -> None:
    """Register readings (minutes after the start, Wh as read)."""
    for after, wh in readings:
        take_register(transaction, wh, minutes(after))


# -- the rule on its own ---------------------------------------------------------------


def test_the_bound_is_350_kw_over_the_time_between_plus_slack() -> None:
    hour = timedelta(hours=1)
    assert plausible(1000, 1000 + MAX_POWER_W + SLACK_WH, hour)
    assert not plausible(1000, 1000 + MAX_POWER_W + SLACK_WH + 1, hour)
    assert plausible(1000, 1000 + SLACK_WH, timedelta(0))  # same second: the slack only
    assert plausible(1000, 900, hour)  # rounding of kWh with one decimal
    assert not plausible(1000, 899, hour)
    assert plausible(1000, 1000 + SLACK_WH, -hour)  # time backwards counts as none


def test_plausible_readings_are_counted_as_they_come() -> None:
    transaction = session(OLD_METER_WH)
    read(transaction, (30, OLD_METER_WH + 5500), (60, OLD_METER_WH + 11000))
    assert transaction.energy_wh == 11000
    assert transaction.meter_notes == set()


def test_a_small_step_back_is_rounding_and_the_higher_reading_stands() -> None:
    transaction = session(12_500)
    read(transaction, (30, 12_540), (31, 12_500), (60, 12_700))
    assert transaction.energy_wh == 200
    assert transaction.meter_notes == set()


def test_kwh_read_as_wh_is_rescaled_and_wh_again_is_taken_back() -> None:
    """The tester's charger: mid-session its register came in kWh without a unit."""
    transaction = session(12_500)
    read(transaction, (30, 12_900), (60, 13.3), (90, 13.7), (120, 14_100))
    assert transaction.energy_wh == pytest.approx(1600)
    assert transaction.meter_notes == {MeterNote.REGISTER_IN_KWH}
    assert transaction.register.scale == 1.0  # back to its own unit


def test_wh_read_as_kwh_is_rescaled() -> None:
    transaction = session(12_500)
    read(transaction, (30, 12_900_000), (60, 13_300_000))
    assert transaction.energy_wh == pytest.approx(800)
    assert transaction.meter_notes == {MeterNote.REGISTER_IN_WH}


def test_a_register_that_restarts_counts_on_from_its_new_baseline() -> None:
    """Counted up to the last plausible reading, then from the new one on."""
    transaction = session(OLD_METER_WH)
    read(transaction, (30, OLD_METER_WH + 6000), (40, 10), (50, 510), (60, 1010))
    # 6 kWh before the fall; the step into it unknown; 1 kWh after it.
    assert transaction.energy_wh == 7000
    assert transaction.meter_notes == {MeterNote.REGISTER_FELL}


def test_a_glitch_is_left_out_and_forgotten() -> None:
    transaction = session(OLD_METER_WH)
    read(transaction, (30, OLD_METER_WH + 5000), (40, 999_999_999), (60, OLD_METER_WH + 11000))
    assert transaction.energy_wh == 11000
    assert transaction.meter_notes == {MeterNote.REGISTER_JUMPED}


def test_a_jump_the_register_keeps_is_a_new_baseline() -> None:
    """A meter swapped for one with a higher register: its jump is never counted."""
    transaction = session(OLD_METER_WH)
    read(transaction, (30, OLD_METER_WH + 5000), (40, 90_000_000), (60, 90_002_000))
    assert transaction.energy_wh == 7000
    assert transaction.meter_notes == {MeterNote.REGISTER_JUMPED}


def test_the_last_reading_held_back_ends_the_session_at_the_last_plausible_one() -> None:
    transaction = session(OLD_METER_WH)
    read(transaction, (30, OLD_METER_WH + 4000), (60, 0))
    assert transaction.energy_wh == 4000
    assert transaction.last_register_wh == OLD_METER_WH + 4000


def test_a_late_copy_of_an_older_reading_moves_nothing() -> None:
    """A 1.6 stop repeats its start reading in transactionData, after newer readings."""
    transaction = session(12_500)
    read(transaction, (30, 13_000), (0, 12_500))
    assert transaction.energy_wh == 500
    assert transaction.meter_notes == set()


def test_time_between_readings_is_the_longer_of_the_chargers_and_ours() -> None:
    """A charger whose clock was set back mid-session: our clock still shows the time."""
    track = RegisterTrack()
    track.counted(minutes(60), minutes(0))
    step = track.step(10_000, 15_000, minutes(50), minutes(30))  # 5 kWh, 30 min ours
    assert (step.value_wh, step.note) == (15_000, None)
    step = track.step(15_000, 50_000, minutes(51), minutes(31))  # 35 kWh in a minute
    assert (step.value_wh, step.note) == (None, MeterNote.REGISTER_JUMPED)


def test_one_reading_is_no_energy_known_and_a_genuine_zero_stays_zero() -> None:
    assert session(12_500).energy_wh is None  # the start only
    no_start = session()
    read(no_start, (30, 13_000))
    assert no_start.energy_wh is None  # one reading during it, none at the start
    genuine_zero = session(12_500)
    read(genuine_zero, (60, 12_500))
    assert genuine_zero.energy_wh == 0


def test_without_a_start_the_session_counts_from_its_first_reading_and_says_so() -> None:
    """Better a little short, and noted, than a whole session unknown."""
    transaction = session()
    read(transaction, (30, 13_000), (60, 14_000), (90, 15_000))
    assert (transaction.meter_start_wh, transaction.energy_wh) == (13_000, 2000)
    assert transaction.meter_notes == {MeterNote.START_NOT_READ}


def test_notes_are_journaled_as_words_and_unknown_words_are_dropped() -> None:
    notes = {MeterNote.REGISTER_IN_WH, MeterNote.REGISTER_FELL}
    assert notes_text(notes) == "register_fell,register_in_wh"
    assert notes_from("register_fell,register_in_wh,from_the_future") == notes
    assert notes_text(set()) is None
    assert notes_from(None) == set()


# -- through the engine: raw frames ------------------------------------------------------


def register(timestamp: str, value: float, **extra: str) -> dict[str, Any]:
    """A register reading as 2.x sends it (`as_16` makes it 1.6's)."""
    return {
        "timestamp": timestamp,
        "sampledValue": [{"value": value, "measurand": ENERGY, **extra}],
    }


def as_16(meter_value: dict[str, Any]) -> dict[str, Any]:
    """1.6 sends values as text."""
    values = [{**value, "value": f"{value['value']:g}"} for value in meter_value["sampledValue"]]
    return {**meter_value, "sampledValue": values}


async def run_16(
    charger: RawCharger, start: int, readings: list[dict[str, Any]], stop: int
) -> None:
    """A whole 1.6 session: StartTransaction at T0, MeterValues, StopTransaction at T3."""
    answer = await charger.result(
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG1", "meterStart": start, "timestamp": T0},
    )
    transaction_id = answer["transactionId"]
    for meter_value in readings:
        await charger.result(
            "MeterValues",
            {"connectorId": 1, "transactionId": transaction_id, "meterValue": [as_16(meter_value)]},
        )
    await charger.result(
        "StopTransaction", {"transactionId": transaction_id, "meterStop": stop, "timestamp": T3}
    )


async def run_2x(
    charger: RawCharger,
    begin: dict[str, Any] | None,
    readings: list[dict[str, Any]],
    end: dict[str, Any] | None,
) -> None:
    """A whole 2.x session: Started at T0, one Updated per reading, Ended at T3."""
    started: dict[str, Any] = {"idToken": {"idToken": "TAG1", "type": "ISO14443"}}
    await charger.result(
        "TransactionEvent",
        event("Started", 0, evse={"id": 1, "connectorId": 1}, **started, **meter(begin)),
    )
    for seq_no, meter_value in enumerate(readings, start=1):
        await charger.result(
            "TransactionEvent",
            event(
                "Updated",
                seq_no,
                timestamp=meter_value["timestamp"],
                trigger="MeterValuePeriodic",
                meterValue=[meter_value],
            ),
        )
    ended = event(
        "Ended", len(readings) + 1, timestamp=T3, info={"stoppedReason": "Local"}, **meter(end)
    )
    await charger.result("TransactionEvent", ended)


def meter(reading: dict[str, Any] | None) -> dict[str, Any]:
    return {"meterValue": [reading]} if reading else {}


def ended_session(running: Running) -> Transaction:
    [ended] = running.recorder.of_type(TransactionEnded)
    return ended.transaction


def told(running: Running) -> list[MeterNote]:
    return [found.anomaly.note for found in running.recorder.of_type(RegisterImplausible)]


async def test_16_kwh_without_a_unit_mid_session(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    readings = [register(T1, 12.9), register(T2, 13.3)]
    await run_16(charger, 12_500, readings, 13_700)
    transaction = ended_session(charger.running)
    assert transaction.energy_wh == pytest.approx(1200)
    assert transaction.meter_notes == {MeterNote.REGISTER_IN_KWH}
    assert charger.station.warnings == {"meter_register_in_kwh": 1}
    assert told(charger.running) == [MeterNote.REGISTER_IN_KWH]
    # The EVSE shows the register as the session reads it, in Wh.
    assert charger.station.evses[1].value(Measurand.ENERGY_IMPORT_REGISTER) == pytest.approx(13_300)


@VERSIONS_2X
async def test_2x_kwh_without_a_unit_mid_session(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    begin = register(T0, 12500, context="Transaction.Begin")
    end = register(T3, 13700, context="Transaction.End")
    await run_2x(charger, begin, [register(T1, 12.9), register(T2, 13.3)], end)
    transaction = ended_session(charger.running)
    assert transaction.energy_wh == pytest.approx(1200)
    assert transaction.meter_notes == {MeterNote.REGISTER_IN_KWH}
    assert charger.station.warnings == {"meter_register_in_kwh": 1}
    assert told(charger.running) == [MeterNote.REGISTER_IN_KWH]


async def test_16_a_register_that_falls_keeps_the_plausible_energy(
    raw_charger: ConnectRaw,
) -> None:
    charger = await raw_charger()
    readings = [register(T1, OLD_METER_WH + 6000), register(T2, 10)]
    await run_16(charger, OLD_METER_WH, readings, 1010)
    transaction = ended_session(charger.running)
    assert transaction.energy_wh == 7000  # 6 kWh, then 1 kWh from the new baseline
    assert transaction.meter_notes == {MeterNote.REGISTER_FELL}
    assert charger.station.warnings == {"meter_register_fell": 1}
    assert told(charger.running) == [MeterNote.REGISTER_FELL]


@VERSIONS_2X
async def test_2x_a_register_that_falls_keeps_the_plausible_energy(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    begin = register(T0, OLD_METER_WH)
    readings = [register(T1, OLD_METER_WH + 6000), register(T2, 10)]
    await run_2x(charger, begin, readings, register(T3, 1010))
    transaction = ended_session(charger.running)
    assert transaction.energy_wh == 7000
    assert transaction.meter_notes == {MeterNote.REGISTER_FELL}
    assert charger.station.warnings == {"meter_register_fell": 1}


async def test_16_a_jump_is_left_out(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    readings = [register(T1, 999999999), register(T2, OLD_METER_WH + 14_000)]
    await run_16(charger, OLD_METER_WH, readings, OLD_METER_WH + 24_000)
    transaction = ended_session(charger.running)
    assert transaction.energy_wh == 24_000
    assert transaction.meter_notes == {MeterNote.REGISTER_JUMPED}
    assert charger.station.warnings == {"meter_register_jumped": 1}
    assert told(charger.running) == [MeterNote.REGISTER_JUMPED]


@VERSIONS_2X
async def test_2x_wh_marked_as_kwh_is_read_as_wh(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    in_kwh = {"unitOfMeasure": {"unit": "kWh"}}
    readings = [
        {"timestamp": T1, "sampledValue": [sampled(12_900, ENERGY, **in_kwh)]},
        {"timestamp": T2, "sampledValue": [sampled(13_300, ENERGY, **in_kwh)]},
    ]
    await run_2x(charger, register(T0, 12500), readings, register(T3, 13700))
    transaction = ended_session(charger.running)
    assert transaction.energy_wh == pytest.approx(1200)
    assert transaction.meter_notes == {MeterNote.REGISTER_IN_WH}
    assert charger.station.warnings == {"meter_register_in_wh": 1}


async def test_16_a_genuine_zero_stays_zero(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger()
    await run_16(charger, 12_500, [], 12_500)
    assert ended_session(charger.running).energy_wh == 0


@VERSIONS_2X
async def test_2x_a_genuine_zero_stays_zero(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    await run_2x(charger, register(T0, 12500), [], register(T3, 12500))
    assert ended_session(charger.running).energy_wh == 0


@VERSIONS_2X
@pytest.mark.parametrize(
    ("begin", "end"),
    [(None, None), (register(T0, 12_500), None), (None, register(T3, 13_700))],
    ids=["nothing", "start only", "end only"],
)
async def test_2x_without_evidence_the_energy_is_unknown_not_zero(
    raw_charger: ConnectRaw,
    version: str,
    begin: dict[str, Any] | None,
    end: dict[str, Any] | None,
) -> None:
    """No reading at all, or one alone: a 30 s sampler's 20 s session is not 0 kWh."""
    charger = await raw_charger(version)
    await run_2x(charger, begin, [], end)
    assert ended_session(charger.running).energy_wh is None
    assert charger.station.warnings == {}


@VERSIONS_2X
async def test_2x_without_a_start_reading_the_energy_counts_from_the_first(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    await run_2x(charger, None, [register(T1, 12_900)], register(T3, 13_700))
    transaction = ended_session(charger.running)
    assert (transaction.meter_start_wh, transaction.energy_wh) == (12_900, 800)
    assert transaction.meter_notes == {MeterNote.START_NOT_READ}
    assert told(charger.running) == []  # nothing implausible: no repair


@VERSIONS_2X
async def test_2x_the_evses_register_before_the_start_is_the_start(
    raw_charger: ConnectRaw, version: str
) -> None:
    """Started without meter values: the last reading before it, idle, is the start."""
    charger = await raw_charger(version)
    await charger.result("MeterValues", {"evseId": 1, "meterValue": [register(T0, 12500)]})
    await run_2x(charger, None, [], register(T3, 13700))
    transaction = ended_session(charger.running)
    assert (transaction.meter_start_wh, transaction.energy_wh) == (12_500, 1200)


# -- simulated chargers that meter as real ones do ---------------------------------------


async def simulated_session(
    running: Running, version: str, seconds: float, **options: Any
) -> tuple[Transaction, float]:
    """One session of `seconds` of charging (simulated at once, no waiting).

    Returns the ended session and what the charger's own register gained.
    """
    running.directory.admit("SIM-1")
    async with charger(f"{running.url}/SIM-1", "SIM-1", version, charger_options=options) as client:
        client.energy_wh[1] = float(OLD_METER_WH)
        assert await client.boot() == "Accepted"
        await client.start_session(1, "TAG1")
        if options.get("sampling", "ours") == "ours":
            await client.send_meter_values(1, seconds / 2)
            await client.send_meter_values(1, seconds / 2)
        else:
            client.advance(1, seconds)  # the charger samples nothing meanwhile
        await client.stop_session(1)
        await wait_for(lambda: running.recorder.of_type(TransactionEnded))
        gained = client.energy_wh[1] - OLD_METER_WH
    return ended_session(running), gained


@pytest.mark.parametrize(
    ("version", "sampling"),
    [("ocpp1.6", "none"), ("ocpp2.0.1", "edges_only"), ("ocpp2.1", "edges_only")],
)
async def test_a_20_s_session_of_a_charger_that_samples_only_its_edges(
    start_system: StartSystem, version: str, sampling: str
) -> None:
    """1.6 meterStart / meterStop, 2.x Started / Ended meter values: the energy is right."""
    running = await start_system()
    transaction, gained = await simulated_session(
        running, version, 20, sampling=sampling, autonomous_sampling=True
    )
    assert gained > 0
    assert transaction.energy_wh == pytest.approx(gained, abs=1)


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
async def test_a_2x_session_of_a_charger_that_samples_nothing_is_unknown(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    transaction, gained = await simulated_session(
        running, version, 20, sampling="none", autonomous_sampling=True
    )
    assert gained > 0
    assert transaction.energy_wh is None


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_the_kwh_without_a_unit_twin_is_read_right(
    start_system: StartSystem, version: str
) -> None:
    running = await start_system()
    transaction, gained = await simulated_session(running, version, 1200, kwh_without_unit=True)
    # Its readings in kWh carry three decimals: the energy is right to the Wh.
    assert transaction.energy_wh == pytest.approx(gained, abs=2)
    assert transaction.meter_notes == {MeterNote.REGISTER_IN_KWH}
    assert told(running) == [MeterNote.REGISTER_IN_KWH]
