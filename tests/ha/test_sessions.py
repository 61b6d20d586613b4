"""The session journal in Home Assistant: restarts, exports, downloads, repairs, sensors."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.csms.sessions import SessionStatus
from custom_components.ocpp_csms.sessions.book import journal_issue_id, month_start
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, restarted, url_of
from tests.ha.test_entities import garage, state_of
from tests.ocpi import problems

SESSION_ENERGY = "sensor.garage_session_energy"


def journal_path(hass: HomeAssistant, entry: MockConfigEntry) -> Path:
    return Path(hass.config.path(DOMAIN, f"sessions-{entry.entry_id}.db"))


async def journal_rows(entry: MockConfigEntry) -> list[Any]:
    return await entry.runtime_data.sessions.journal.sessions(with_samples=True)


def register(wh: float, timestamp: str) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "sampled_value": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        ],
    }


async def charge_for_an_hour(hass: HomeAssistant, entry: MockConfigEntry) -> tuple[int, float]:
    """Boot CP-1, start a session and meter an hour; returns (transaction id, register Wh)."""
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        transaction_id = int(await client.start_session(1, "04A2B3"))
        await client.send_meter_values(1, 3600)
        await hass.async_block_till_done()
        evse = entry.runtime_data.system.stations["CP-1"].evses[1]
        return transaction_id, float(evse.transaction.last_register_wh)


async def charge_and_stop(hass: HomeAssistant, entry: MockConfigEntry, readings: int = 1) -> None:
    """Boot CP-1 and run one whole session with tag 04A2B3: an hour of metering in all."""
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, "04A2B3")
        for _ in range(readings):
            await client.send_meter_values(1, 3600 / readings)
        await client.stop_session(1)
        await hass.async_block_till_done()


async def test_a_session_goes_on_across_a_reload(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    transaction_id, register_wh = await charge_for_an_hour(hass, entry)
    energy_before = float(state_of(hass, SESSION_ENERGY).state)
    assert energy_before > 0

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    # The running session is back before the charger reports: the sensor continues.
    assert float(state_of(hass, SESSION_ENERGY).state) == pytest.approx(energy_before)

    async with charger(url_of(entry), "CP-1") as client:  # reconnects, no boot
        await client.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=transaction_id,
                meter_value=[register(register_wh + 1000, "2030-01-01T00:00:00Z")],
            )
        )
        await hass.async_block_till_done()
        assert float(state_of(hass, SESSION_ENERGY).state) == pytest.approx(energy_before + 1)
        stop = call16.StopTransaction(
            meter_stop=int(register_wh + 2000),
            timestamp="2030-01-01T00:30:00Z",
            transaction_id=transaction_id,
        )
        await client.call(stop)
        await client.call(stop)  # replayed: noted, not counted
    [row] = await journal_rows(entry)
    assert row.status is SessionStatus.COMPLETED
    assert row.energy_wh == pytest.approx(energy_before * 1000 + 2000)
    assert row.late_messages == 1


async def test_a_session_goes_on_across_a_real_restart(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Home Assistant stops (no unload) and a new one starts from the same files."""
    entry = await setup_entry(chargers=[garage()])
    transaction_id, register_wh = await charge_for_an_hour(hass, entry)
    energy_before = float(state_of(hass, SESSION_ENERGY).state)
    async with restarted(hass, entry) as (restarted_hass, again):
        energy_sensor = state_of(restarted_hass, SESSION_ENERGY)
        assert float(energy_sensor.state) == pytest.approx(energy_before)

        async with charger(url_of(again), "CP-1") as client:
            await client.call(
                call16.StopTransaction(
                    meter_stop=int(register_wh + 500),
                    timestamp="2030-01-01T00:30:00Z",
                    transaction_id=transaction_id,
                )
            )
            await restarted_hass.async_block_till_done()
        [row] = await journal_rows(again)
        assert (row.transaction_id, row.status) == (str(transaction_id), SessionStatus.COMPLETED)
        assert row.energy_wh == pytest.approx(energy_before * 1000 + 500)
        assert float(state_of(restarted_hass, "sensor.garage_last_session_energy").state) == (
            pytest.approx(row.energy_wh / 1000)
        )
        await restarted_hass.async_stop(force=True)


async def test_export_action_and_sensors(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    entry = await setup_entry(
        chargers=[garage()], options={"price_per_kwh": 2.0, "currency": "SEK"}
    )
    await charge_and_stop(hass, entry)
    device = next(
        d
        for d in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        if d.name == "Garage"
    )
    response = await hass.services.async_call(
        DOMAIN, "export_sessions", {"device_id": [device.id], "tag": "04a2b3"},
        blocking=True, return_response=True,
    )  # fmt: skip
    assert response is not None
    assert response["count"] == 1
    rows: list[dict[str, Any]] = response["sessions"]  # type: ignore[assignment]
    [row] = rows
    assert (row["charger_name"], row["id_tag"], row["status"]) == ("Garage", "04A2B3", "completed")
    assert row["cost"] == pytest.approx(round(row["energy_kwh"] * 2.0, 2))
    assert response["cost"] == row["cost"]

    month = float(state_of(hass, "sensor.garage_energy_this_month").state)
    assert month == pytest.approx(row["energy_kwh"], abs=0.001)
    cost = state_of(hass, "sensor.garage_last_session_cost")
    assert float(cost.state) == row["cost"]
    assert cost.attributes["unit_of_measurement"] == "SEK"

    empty = await hass.services.async_call(
        DOMAIN, "export_sessions", {"tag": "nobody"}, blocking=True, return_response=True
    )
    assert empty == {"count": 0, "energy_kwh": 0.0, "sessions": []}
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "export_sessions", {"device_id": ["nope"]}, blocking=True, return_response=True
        )
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "export_sessions",
            {"start": "2026-11-02T00:00:00", "end": "2026-11-01T00:00:00"},
            blocking=True, return_response=True,
        )  # fmt: skip


async def test_downloads_need_a_login_and_give_csv_and_cdrs(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    hass_client: Any,
    hass_client_no_auth: Any,
) -> None:
    hass.config.country = "SE"
    entry = await setup_entry(
        chargers=[garage()],
        options={
            "price_per_kwh": 1.5,
            "currency": "EUR",
            "address": "Storgatan 1",
            "city": "Uppsala",
        },
    )
    await charge_and_stop(hass, entry, readings=3)

    anonymous = await hass_client_no_auth()
    for url in ("/api/ocpp_csms/sessions.csv", "/api/ocpp_csms/cdrs.json"):
        assert (await anonymous.get(url)).status == 401

    client = await hass_client()
    answer = await client.get("/api/ocpp_csms/sessions.csv", params={"start": "2000-01-01"})
    assert answer.status == 200
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    [row] = list(csv.DictReader(io.StringIO(await answer.text())))
    assert (row["charger_id"], row["id_tag"], row["currency"]) == ("CP-1", "04A2B3", "EUR")

    answer = await client.get("/api/ocpp_csms/cdrs.json")
    assert answer.status == 200
    [cdr] = await answer.json()
    assert problems(cdr) == []
    assert cdr["cdr_location"]["country"] == "SWE"
    assert cdr["cdr_location"]["address"] == "Storgatan 1"
    energy = [period["dimensions"][0]["volume"] for period in cdr["charging_periods"]]
    assert sum(energy) == pytest.approx(cdr["total_energy"], abs=0.001)
    assert cdr["total_energy"] == pytest.approx(float(row["energy_kwh"]), abs=0.001)
    assert cdr["total_cost"]["excl_vat"] == pytest.approx(float(row["cost"]))

    bad = await client.get("/api/ocpp_csms/sessions.csv", params={"start": "yesterday"})
    assert bad.status == 400


async def test_a_damaged_journal_raises_a_repair_that_fixes_it(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, hass_client: Any
) -> None:
    damaged = b"not a database at all" * 50
    entry_id = "01JOURNALDAMAGED000000000"
    path = tmp_path / DOMAIN / f"sessions-{entry_id}.db"
    path.parent.mkdir()
    path.write_bytes(damaged)
    entry = await setup_entry(chargers=[garage()], entry_id=entry_id)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, journal_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "journal_damaged"

    # Charging goes on; the session waits in memory.
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, "04A2B3")
        await hass.async_block_till_done()
    assert path.read_bytes() == damaged

    assert await async_setup_component(hass, "repairs", {})
    http = await hass_client()
    started = await http.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue.issue_id}
    )
    flow = await started.json()
    assert flow["step_id"] == "confirm"
    done = await (await http.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})).json()
    assert done["type"] == "create_entry"
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue.issue_id) is None
    [kept] = [p for p in path.parent.iterdir() if ".damaged-" in p.name]
    assert kept.read_bytes() == damaged
    [row] = await journal_rows(entry)
    assert row.status is SessionStatus.ACTIVE


async def test_a_locked_journal_warns_until_it_is_free(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    journal = entry.runtime_data.sessions.journal
    journal._store._busy_timeout = 0.05
    await journal._run(journal._store.close)
    locker = sqlite3.connect(journal_path(hass, entry), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session(1, "04A2B3")
        await hass.async_block_till_done()
        issue_id = journal_issue_id(entry.entry_id)
        await wait_for(lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None)
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert (issue.translation_key, issue.is_fixable) == ("journal_unavailable", False)
        locker.execute("ROLLBACK")
        locker.close()
        assert await journal.flush()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    [row] = await journal_rows(entry)
    assert row.id_tag == "04A2B3"


async def test_options_take_a_price_and_check_the_currency(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    await charge_and_stop(hass, entry)
    assert hass.states.get("sensor.garage_last_session_cost") is None
    last_kwh = float(state_of(hass, "sensor.garage_last_session_energy").state)
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(flow["flow_id"], {"next_step_id": "settings"})
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"price_per_kwh": 0.25, "currency": "euro"}
    )
    assert result["errors"] == {"currency": "invalid_currency"}
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"price_per_kwh": 0.25, "currency": "eur", "city": " Uppsala "}
    )
    assert entry.options == {"price_per_kwh": 0.25, "currency": "EUR", "city": "Uppsala"}
    await hass.async_block_till_done()  # a price added: reloaded with cost sensors
    assert entry.runtime_data.sessions.pricing is not None
    await wait_for(lambda: hass.states.get("sensor.garage_last_session_cost") is not None)
    # The last session comes back from the journal, priced.
    cost = state_of(hass, "sensor.garage_last_session_cost")
    assert float(cost.state) == round(last_kwh * 0.25, 2)


def test_month_start_is_local_midnight_on_the_first() -> None:

    start = month_start(datetime(2026, 11, 23, 12, tzinfo=UTC))
    assert (start.day, start.hour, start.minute) == (1, 0, 0)
