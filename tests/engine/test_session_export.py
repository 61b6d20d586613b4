"""Journaled sessions exported as rows, CSV and OCPI 2.2.1 CDRs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_csms.csms.session_export import (
    CdrSettings,
    CdrSite,
    Pricing,
    cdr,
    cdrs,
    charging_periods,
    session_row,
    sessions_csv,
)
from custom_components.ocpp_csms.csms.sessions import SessionRecord, SessionStatus
from custom_components.ocpp_csms.csms.station import MeterSample
from tests.ocpi import problems

START = datetime(2026, 11, 23, 18, tzinfo=UTC)
SITE = CdrSite(
    name="Home", address="Storgatan 1", city="Uppsala", postal_code="75320",
    country="SWE", latitude=59.8586, longitude=17.6389,
)  # fmt: skip
SETTINGS = CdrSettings(country_code="SE", party_id="HAS", id_prefix="abc-", site=SITE)


def record(**fields: object) -> SessionRecord:
    """A completed two-hour session: 1 kWh -> 15 kWh, sampled every 30 minutes."""
    samples = [
        MeterSample(START + timedelta(minutes=30 * n), 1000 + wh, 7400, 32, 40 + 10 * n)
        for n, wh in enumerate((0, 3500, 7000, 10500), start=0)
    ]
    base: dict[str, object] = {
        "session_id": 7,
        "charger_id": "garage-1",
        "transaction_id": "1234",
        "evse_id": 1,
        "connector_id": 1,
        "started_at": START,
        "status": SessionStatus.COMPLETED,
        "id_tag": "04A2B3C4",
        "stopped_at": START + timedelta(hours=2),
        "meter_start_wh": 1000,
        "meter_stop_wh": 15000,
        "last_register_wh": 15000,
        "energy_wh": 14000,
        "stop_reason": "EVDisconnected",
        "updated_at": START + timedelta(hours=2),
        "samples": samples,
    }
    base.update(fields)
    return SessionRecord(**base)  # type: ignore[arg-type]


def test_a_cdr_is_a_valid_ocpi_221_cdr_with_consistent_totals() -> None:
    document = cdr(record(), SETTINGS)
    assert problems(document, priced=False) == []
    assert "currency" not in document
    assert "total_cost" not in document
    periods = document["charging_periods"]
    energy = [p["dimensions"][0] for p in periods]
    assert {d["type"] for d in energy} == {"ENERGY"}
    assert sum(d["volume"] for d in energy) == pytest.approx(document["total_energy"])
    assert document["total_energy"] == 14.0
    assert document["total_time"] == 2.0
    assert [p["start_date_time"] for p in periods] == [
        "2026-11-23T18:00:00Z",
        "2026-11-23T18:30:00Z",
        "2026-11-23T19:00:00Z",
        "2026-11-23T19:30:00Z",
    ]
    assert [d["volume"] for d in energy] == [3.5, 3.5, 3.5, 3.5]
    # The readings that close a period describe it: power in kW, current, SoC.
    assert periods[0]["dimensions"][1:] == [
        {"type": "POWER", "volume": 7.4},
        {"type": "CURRENT", "volume": 32},
        {"type": "STATE_OF_CHARGE", "volume": 50},
    ]
    assert document["id"] == "abc-7"
    assert document["session_id"] == "1234"
    assert document["cdr_token"] == {
        "country_code": "SE",
        "party_id": "HAS",
        "uid": "04A2B3C4",
        "type": "RFID",
        "contract_id": "04A2B3C4",
    }
    assert document["auth_method"] == "AUTH_REQUEST"
    location = document["cdr_location"]
    assert (location["evse_uid"], location["evse_id"], location["connector_id"]) == (
        "garage-1-1",
        "SE*HAS*EGARAGE1*1",
        "1",
    )
    assert location["coordinates"] == {"latitude": "59.858600", "longitude": "17.638900"}


def test_a_price_makes_the_cost() -> None:
    settings = CdrSettings(site=SITE, pricing=Pricing(per_kwh=2.5, currency="SEK"))
    document = cdr(record(), settings)
    assert problems(document) == []
    assert document["currency"] == "SEK"
    assert document["total_cost"] == {"excl_vat": 35.0}
    assert session_row(record(), settings.pricing)["cost"] == 35.0


def test_a_session_without_samples_is_one_period() -> None:
    document = cdr(record(samples=[]), SETTINGS)
    assert problems(document, priced=False) == []
    assert document["charging_periods"] == [
        {
            "start_date_time": "2026-11-23T18:00:00Z",
            "dimensions": [{"type": "ENERGY", "volume": 14.0}],
        }
    ]


def test_a_meter_that_jumps_back_never_makes_negative_energy() -> None:
    samples = [
        MeterSample(START + timedelta(minutes=20), 5000),
        MeterSample(START + timedelta(minutes=40), 4000),  # a glitch
        MeterSample(START + timedelta(minutes=60), 8000),
    ]
    periods = charging_periods(record(samples=samples))
    assert [p["dimensions"][0]["volume"] for p in periods] == [4.0, 0.0, 3.0, 7.0]


@pytest.mark.parametrize(
    ("fields", "token_type", "method"),
    [
        ({"id_tag": "HomeAssistant"}, "APP_USER", "COMMAND"),
        ({"id_tag": "X", "id_tag_type": "Central"}, "APP_USER", "COMMAND"),
        ({"id_tag": "X", "offline": True}, "RFID", "WHITELIST"),
        ({"id_tag": "X", "id_tag_type": "eMAID"}, "OTHER", "AUTH_REQUEST"),
        ({"id_tag": None}, "OTHER", "AUTH_REQUEST"),
    ],
)
def test_token_type_and_auth_method(
    fields: dict[str, object], token_type: str, method: str
) -> None:
    settings = CdrSettings(site=SITE, remote_tags=frozenset({"HomeAssistant"}))
    document = cdr(record(**fields), settings)
    assert problems(document, priced=False) == []
    assert (document["cdr_token"]["type"], document["auth_method"]) == (token_type, method)


def test_only_completed_sessions_have_cdrs() -> None:
    records = [
        record(session_id=1),
        record(session_id=2, status=SessionStatus.ACTIVE, stopped_at=None),
        record(session_id=3, status=SessionStatus.INVALID),
    ]
    assert [d["id"] for d in cdrs(records, SETTINGS)] == ["abc-1"]


def test_csv_has_a_row_per_session_and_defuses_formulas() -> None:
    text = sessions_csv(
        [record(), record(session_id=8, tag_name="=HYPERLINK(1)", status=SessionStatus.ACTIVE)],
        Pricing(2.0, "EUR"),
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2
    assert rows[0]["energy_kwh"] == "14.0"
    assert rows[0]["cost"] == "28.0"
    assert rows[0]["currency"] == "EUR"
    assert rows[0]["started_at"] == "2026-11-23T18:00:00Z"
    assert rows[1]["tag_name"] == "'=HYPERLINK(1)"
    assert rows[1]["status"] == "active"
    assert "cost" not in next(csv.DictReader(io.StringIO(sessions_csv([record()]))))


def test_the_cdr_check_finds_departures() -> None:
    """The checker the tests above rely on does catch what it should."""
    document = cdr(record(), SETTINGS)
    del document["cdr_token"]["uid"]
    document["total_energy"] = "14"
    document["auth_method"] = "PIN"
    document["cdr_location"]["country"] = "SE"
    document["charging_periods"] = []
    assert problems(document, priced=True) == [
        "cdr.cdr_token.uid: required, missing",
        "cdr.auth_method: 'PIN' not one of ['AUTH_REQUEST', 'COMMAND', 'WHITELIST']",
        "cdr.cdr_location.country: not ISO 3166-1 alpha-3 ('SE')",
        "cdr.charging_periods: needs at least one period",
        "cdr.currency: required, missing",
        "cdr.total_cost: required, missing",
        "cdr.total_energy: not a number ('14')",
    ]


def test_a_meter_note_is_a_csv_column_and_a_cdr_remark() -> None:
    noted = record(meter_note="register_fell,register_in_kwh")
    rows = list(csv.DictReader(io.StringIO(sessions_csv([noted, record(session_id=8)]))))
    assert [row["meter_note"] for row in rows] == ["register_fell,register_in_kwh", ""]
    document = cdr(noted, SETTINGS)
    assert problems(document, priced=False) == []
    assert document["remark"].startswith("The energy register fell during the session;")
    assert "kWh without their unit" in document["remark"]
    assert "remark" not in cdr(record(), SETTINGS)


def test_a_session_of_unknown_energy_has_an_empty_row_and_no_cdr() -> None:
    """Unknown is never exported as 0: nothing measured, nothing billed."""
    unknown = record(session_id=2, meter_stop_wh=None, last_register_wh=None, energy_wh=None)
    zero = record(session_id=3, meter_stop_wh=1000, last_register_wh=1000, energy_wh=0)
    assert session_row(unknown, Pricing(2.0, "SEK"))["energy_kwh"] is None
    assert session_row(unknown, Pricing(2.0, "SEK"))["cost"] is None
    assert [d["id"] for d in cdrs([record(), unknown, zero], SETTINGS)] == ["abc-7", "abc-3"]
