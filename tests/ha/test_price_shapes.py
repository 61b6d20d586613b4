"""Prices as Home Assistant's price integrations give them, read into slots."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.ocpp_csms.csms.price_plan import PriceSlot
from custom_components.ocpp_csms.prices.shapes import MAX_ITEMS, MAX_SLOTS, read_prices

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MIDNIGHT = datetime(2026, 12, 7, tzinfo=STOCKHOLM)


def hour(n: int) -> datetime:
    return MIDNIGHT + timedelta(hours=n)


def iso(n: int) -> str:
    return hour(n).isoformat()


EXPECTED = [PriceSlot(hour(0), hour(1), 0.31), PriceSlot(hour(1), hour(2), 0.42)]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            {
                "today": [0.31, 0.42],
                "raw_today": [
                    {"start": iso(0), "end": iso(1), "value": 0.31},
                    {"start": iso(1), "end": iso(2), "value": 0.42},
                ],
                "raw_tomorrow": [],
                "tomorrow_valid": False,
            },
            id="nordpool_custom",
        ),
        pytest.param(
            {
                "SE3": [
                    {"start": iso(0), "end": iso(1), "price": 310.0},
                    {"start": iso(1), "end": iso(2), "price": 420.0},
                ],
                "unit": "SEK/MWh",
            },
            id="nordpool_core_action",
        ),
        pytest.param(
            {
                "prices_today": [{"time": iso(0), "price": 0.31}, {"time": iso(1), "price": 0.42}],
                "prices": [{"time": iso(0), "price": 0.31}, {"time": iso(1), "price": 0.42}],
            },
            id="entsoe",
        ),
        pytest.param(
            {
                "data": [
                    {"start_time": iso(0), "end_time": iso(1), "price_per_kwh": 0.31},
                    {"start_time": iso(1), "end_time": iso(2), "price_per_kwh": 0.42},
                ]
            },
            id="epex_spot",
        ),
        pytest.param(
            {
                "prices": {
                    "Home": [
                        {"start_time": iso(0), "price": 0.31},
                        {"start_time": iso(1), "price": 0.42},
                    ]
                }
            },
            id="tibber_action",
        ),
        pytest.param(
            {"raw_today": [{"hour": iso(0), "price": 0.31}, {"hour": iso(1), "price": 0.42}]},
            id="energi_data_service",
        ),
        pytest.param(
            {
                "rates": [
                    {"start": hour(0), "end": hour(1), "value_inc_vat": 0.31},
                    {"start": hour(1), "end": hour(2), "value_inc_vat": 0.42},
                ]
            },
            id="octopus_energy",
        ),
        pytest.param(
            {
                "data": [
                    {"start_time": iso(0), "end_time": iso(1), "price_ct_per_kwh": 31},
                    {"start_time": iso(1), "end_time": iso(2), "price_ct_per_kwh": "42"},
                ]
            },
            id="cents",
        ),
    ],
)
def test_each_documented_shape(source: dict[str, Any]) -> None:
    assert read_prices(source, STOCKHOLM) == pytest.approx(EXPECTED)


def test_times_without_an_offset_are_local_and_utc_is_understood() -> None:
    source = {
        "data": [
            {"start": "2026-12-07T00:00:00", "value": 0.31},
            {"start": "2026-12-06T23:00:00Z", "value": 0.99},  # the same hour: first wins
            {"start": "2026-12-07 01:00:00", "value": 0.42},
        ]
    }
    assert read_prices(source, STOCKHOLM) == pytest.approx(EXPECTED)


def test_quarter_hours_keep_their_length() -> None:
    quarters = [
        {"start": (MIDNIGHT + timedelta(minutes=15 * n)).isoformat(), "value": n} for n in range(3)
    ]
    slots = read_prices({"raw_today": quarters}, STOCKHOLM)
    assert [slot.end - slot.start for slot in slots] == [timedelta(minutes=15)] * 3


def test_per_mwh_when_told() -> None:
    source = {"SE3": [{"start": iso(0), "end": iso(1), "price": 310.0}]}
    assert read_prices(source, STOCKHOLM, per_mwh=True)[0].price == pytest.approx(0.31)


@pytest.mark.parametrize(
    "item",
    [
        {"start": iso(5), "value": float("nan")},
        {"start": iso(5), "value": float("inf")},
        {"start": iso(5), "value": 1e300},
        {"start": iso(5), "value": True},
        {"start": iso(5), "value": "cheap"},
        {"start": iso(5), "value": None},
        {"start": "not a time", "value": 0.1},
        {"start": "9" * 500, "value": 0.1},
        {"start": 12345, "value": 0.1},
        {"start": iso(5), "end": iso(4), "value": 0.1},  # ends before it starts
        {"value": 0.1},
        {"start": iso(5)},
        "0.1",
    ],
)
def test_what_cannot_be_a_price_is_skipped(item: Any) -> None:
    good = {"start": iso(0), "end": iso(1), "value": 0.31}
    assert read_prices({"raw_today": [good, item]}, STOCKHOLM) == [EXPECTED[0]]


def test_whatever_a_sensor_holds_is_bounded() -> None:
    many = [
        {"start": (MIDNIGHT + timedelta(minutes=n)).isoformat(), "value": 1}
        for n in range(MAX_ITEMS + 10)
    ]
    assert len(read_prices({"raw_today": many}, STOCKHOLM)) == MAX_SLOTS
    deep: dict[str, Any] = {"raw_today": [{"start": iso(0), "end": iso(1), "value": 0.31}]}
    for _ in range(10):
        deep = {"inner": deep}
    assert read_prices(deep, STOCKHOLM) == []


def test_nothing_to_read_is_no_prices() -> None:
    assert read_prices({}, STOCKHOLM) == []
    assert read_prices({"friendly_name": "Price", "today": [1, 2, 3]}, STOCKHOLM) == []
