"""Reservations: recorded when a charger accepts one, ended by every way OCPP ends one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_csms.csms.commands import CancelReservation, ReserveNow
from custom_components.ocpp_csms.csms.events import StationUpdated
from custom_components.ocpp_csms.csms.reservation_upkeep import ReservationExpiry
from custom_components.ocpp_csms.csms.reservations import (
    Reservation,
    Reservations,
    ReservationStatus,
)
from custom_components.ocpp_csms.csms.station import Station
from tests.chargers import wait_for
from tests.engine.conftest import ConnectRaw, RawCharger
from tests.engine.test_commands import run_command
from tests.engine.test_messages_2x import event

EVERY_VERSION = pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
VERSIONS_2X = pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def announced(charger: RawCharger) -> int:
    """How many times the engine said the charger's reservations changed."""
    updates = charger.running.recorder.of_type(StationUpdated, charger.charger_id)
    return sum("reservations" in update.changed for update in updates)


async def reserve(
    charger: RawCharger,
    reservation_id: int = 5,
    evse_id: int | None = 1,
    expiry: datetime | None = None,
    status: str = "Accepted",
) -> None:
    expiry = expiry or datetime.now(UTC) + timedelta(hours=1)
    command = ReserveNow(reservation_id, "TAG1", expiry, evse_id=evse_id)
    await run_command(charger, command, {"status": status})


def on_evse(charger: RawCharger, evse_id: int | None) -> Reservation | None:
    return charger.station.reservations.on_evse(evse_id, datetime.now(UTC))


@EVERY_VERSION
async def test_reserve_then_cancel_by_connector(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    expiry = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    await reserve(charger, expiry=expiry)
    found = on_evse(charger, 1)
    assert found == Reservation(5, 1, "TAG1", expiry)
    assert announced(charger) == 1

    # Cancelled by naming the connector: its reservation's id goes to the charger.
    frame, result = await run_command(charger, CancelReservation(found.id), {"status": "Accepted"})
    assert result.accepted
    assert frame[3] == {"reservationId": 5}
    assert on_evse(charger, 1) is None
    assert announced(charger) == 2


@EVERY_VERSION
async def test_a_refused_reservation_is_not_recorded(raw_charger: ConnectRaw, version: str) -> None:
    charger = await raw_charger(version)
    await reserve(charger, status="Occupied")
    assert len(charger.station.reservations) == 0
    assert announced(charger) == 0


@EVERY_VERSION
async def test_a_reservation_for_any_connector(raw_charger: ConnectRaw, version: str) -> None:
    """1.6 reserves the station as connector 0, 2.x without an EVSE: both are None here."""
    charger = await raw_charger(version)
    await reserve(charger, evse_id=None)
    assert on_evse(charger, None) is not None
    assert on_evse(charger, 1) is None


@EVERY_VERSION
async def test_a_cancellation_the_charger_refuses_ends_it_too(
    raw_charger: ConnectRaw, version: str
) -> None:
    """A charger refuses to cancel only a reservation it does not hold: it holds nothing."""
    charger = await raw_charger(version)
    await reserve(charger)
    _, result = await run_command(charger, CancelReservation(5), {"status": "Rejected"})
    assert not result.accepted
    assert on_evse(charger, 1) is None


@EVERY_VERSION
async def test_a_silent_charger_keeps_the_reservation(
    raw_charger: ConnectRaw, version: str
) -> None:
    """No answer says nothing about the reservation: it stays."""
    charger = await raw_charger(version, call_timeout=0.05)
    await reserve(charger)
    await run_command(charger, CancelReservation(5), None)
    assert on_evse(charger, 1) is not None


async def test_16_start_with_the_reservation_ends_it(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger("ocpp1.6")
    await reserve(charger)
    start = {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": "2026-11-23T10:00Z"}
    await charger.result("StartTransaction", {**start, "reservationId": 5})
    assert on_evse(charger, 1) is None
    assert announced(charger) == 2


@VERSIONS_2X
async def test_2x_transaction_with_the_reservation_ends_it(
    raw_charger: ConnectRaw, version: str
) -> None:
    charger = await raw_charger(version)
    await reserve(charger)
    started = event(
        "Started",
        0,
        idToken={"idToken": "TAG1", "type": "ISO14443"},
        evse={"id": 1, "connectorId": 1},
        reservationId=5,
    )
    await charger.result("TransactionEvent", started)
    assert on_evse(charger, 1) is None


@VERSIONS_2X
@pytest.mark.parametrize("word", ["Expired", "Removed"])
async def test_2x_status_update_ends_it(raw_charger: ConnectRaw, version: str, word: str) -> None:
    charger = await raw_charger(version)
    await reserve(charger)
    update = {"reservationId": 5, "reservationUpdateStatus": word}
    assert await charger.result("ReservationStatusUpdate", update) == {}
    assert on_evse(charger, 1) is None
    assert announced(charger) == 2


@EVERY_VERSION
async def test_expiry_ends_it_and_says_so(raw_charger: ConnectRaw, version: str) -> None:
    """Without a word from the charger (1.6 has none), the expiry passing ends it."""
    charger = await raw_charger(version)
    await reserve(charger, expiry=datetime.now(UTC) + timedelta(seconds=1))
    assert on_evse(charger, 1) is not None
    await wait_for(lambda: len(charger.station.reservations) == 0)
    assert announced(charger) == 2


def test_reservations_read_against_the_clock_given() -> None:
    """Expired ones are not active even before anything removes them."""
    reservations = Reservations()
    reservations.add(Reservation(1, 1, "A", NOW + timedelta(minutes=10)))
    reservations.add(Reservation(2, None, "B", NOW + timedelta(minutes=20)))
    later = NOW + timedelta(minutes=15)
    assert [r.id for r in reservations.active(NOW)] == [1, 2]
    assert [r.id for r in reservations.active(later)] == [2]
    assert reservations.on_evse(1, later) is None
    assert reservations.next_expiry() == NOW + timedelta(minutes=10)
    expired = reservations.expire(later)
    assert [(r.id, r.status) for r in expired] == [(1, ReservationStatus.EXPIRED)]
    assert len(reservations) == 1


def test_the_same_id_replaces_a_reservation() -> None:
    reservations = Reservations()
    reservations.add(Reservation(1, 1, "A", NOW + timedelta(minutes=10)))
    reservations.add(Reservation(1, 2, "B", NOW + timedelta(minutes=20)))
    assert [(r.evse_id, r.id_tag) for r in reservations.active(NOW)] == [(2, "B")]


async def test_the_expiry_timer_follows_the_clock_it_is_given() -> None:
    """With the clock past the expiry, the timer ends the reservation at once."""
    station = Station("CP-1")
    station.reservations.add(Reservation(1, 1, "A", NOW + timedelta(minutes=10)))
    told = asyncio.Event()
    expiry = ReservationExpiry(lambda _station: told.set(), clock=lambda: NOW + timedelta(hours=1))
    expiry.watch(station)
    await asyncio.wait_for(told.wait(), 30)
    assert len(station.reservations) == 0
    expiry.stop()
