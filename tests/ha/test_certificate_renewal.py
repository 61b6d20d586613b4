"""Client certificate expiry and renewal in Home Assistant, on an accelerated clock.

The clock starts frozen (ticking) and jumps weeks ahead; `async_fire_time_changed` then
runs what was due, the central system's hourly certificate check among it. The
server's own TLS certificate is made before the clock is frozen: the charger's TLS
library checks it against the real time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from freezegun.api import TickingDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ocpp_csms.client_certificates.memory import facts_to_dict, storage_key
from custom_components.ocpp_csms.const import CONF_SECURITY_PROFILE, DOMAIN
from custom_components.ocpp_csms.csms.certificates import (
    CA_KEY_FILE,
    CertificateFacts,
    certificate_facts,
)
from custom_components.ocpp_csms.diagnostics import async_get_config_entry_diagnostics
from custom_components.ocpp_csms.identifiers import unique_id_for
from tests.chargers import charger, wait_for
from tests.engine.pki import client_files
from tests.ha.conftest import FROZEN_NOW, SetUpEntry, restarted
from tests.ha.test_security_profile_3 import _ca_folder, _client, _on_profile, _our_ca, _tls, _url

CP = "CP-3"
TRIGGERS = ("TriggerMessage", "ExtendedTriggerMessage")


def _sensor(hass: HomeAssistant, entry: MockConfigEntry) -> str | None:
    """The state of the charger's expiry sensor."""
    unique_id = unique_id_for(entry.entry_id, CP, None, "client_certificate_expiry")
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"client_certificate_{entry.entry_id}_{CP}")


def _stamp(facts: CertificateFacts) -> str:
    """A timestamp sensor's state for the certificate's end (to the second)."""
    return facts.not_after.isoformat()


def _local(moment: dt.datetime) -> str:
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M")


async def _jump(hass: HomeAssistant, clock: TickingDateTimeFactory, by: dt.timedelta) -> None:
    """Move the clock on and run what became due (the hourly check among it)."""
    clock.tick(by)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def _settled(entry: MockConfigEntry, client: Any) -> None:
    """Wait until the charger's set-up calls are over: a jump would time out one in flight."""
    station = entry.runtime_data.system.stations[CP]
    await wait_for(lambda: station.capabilities is not None)
    await client.heartbeat()  # the charger's own calls go one at a time


def _triggers(client: Any) -> list[str]:
    return [action for action, _payload in client.received if action in TRIGGERS]


async def _certificate(
    hass: HomeAssistant, tmp_path: Path, issued_days_ago: int
) -> tuple[tuple[Path, Path], CertificateFacts]:
    """The charger's files, a year's certificate of our CA issued that many days ago."""
    ca = await _our_ca(hass)
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=issued_days_ago)
    files = await hass.async_add_executor_job(partial(client_files, tmp_path, ca, CP, now=issued))
    return files, certificate_facts(files[0].read_text())


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_expiry_renewal_and_repair_on_an_accelerated_clock(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    version: str,
) -> None:
    """The sensor shows the certificate the charger presented; 35 days before its end
    (issued 300 days ago) renewal begins: refused by the charger, a repair says so; an
    hour later it takes the new certificate, the sensor moves a year on and the repair
    goes. Neither the log nor the diagnostics hold the CA's key."""
    caplog.set_level(logging.DEBUG)
    tls = _tls(tmp_path)
    with freeze_time(FROZEN_NOW, tick=True, real_asyncio=True) as clock:
        assert isinstance(clock, TickingDateTimeFactory)
        entry = await setup_entry(chargers=[_on_profile(CP, 3)], **tls)
        assert _sensor(hass, entry) == "unknown"
        files, old = await _certificate(hass, tmp_path, issued_days_ago=300)
        async with charger(_url(entry), CP, version, ssl=_client(entry, files)) as client:
            assert await client.boot() == "Accepted"
            await wait_for(lambda: _sensor(hass, entry) == _stamp(old))
            await _settled(entry, client)

            await _jump(hass, clock, dt.timedelta(days=34))
            await client.heartbeat()
            assert _triggers(client) == []  # its window opens in a day

            client.answers.update(
                {"TriggerMessage": "Rejected", "ExtendedTriggerMessage": "Rejected"}
            )
            await _jump(hass, clock, dt.timedelta(days=2))
            await wait_for(lambda: _issue(hass, entry) is not None)
            issue = _issue(hass, entry)
            assert issue is not None
            assert issue.translation_key == "client_certificate_trigger_refused"
            assert issue.severity is ir.IssueSeverity.WARNING
            placeholders = issue.translation_placeholders or {}
            assert placeholders["charger"] == CP
            assert placeholders["detail"] == "Rejected"
            assert placeholders["expires"] == _local(old.not_after)
            assert _sensor(hass, entry) == _stamp(old)

            client.answers.clear()
            await _jump(hass, clock, dt.timedelta(hours=1))  # the first retry's delay
            await wait_for(lambda: _sensor(hass, entry) != _stamp(old))
            assert client.client_chain is not None
            new = certificate_facts(client.client_chain)
            assert _sensor(hass, entry) == _stamp(new)
            assert new.not_after > old.not_after + dt.timedelta(days=300)
            await wait_for(lambda: _issue(hass, entry) is None)
            assert len(_triggers(client)) == 2

            # Called directly: the test client's login was made by the real clock.
            found = await async_get_config_entry_diagnostics(hass, entry)
    shown = found["chargers"][CP]["client_certificate"]
    assert (shown["not_after"], shown["sha256_fingerprint"]) == (
        new.not_after.isoformat(),
        new.sha256_fingerprint,
    )
    assert shown["renewal"]["failures"] == 0
    key_pem = (_ca_folder(hass) / CA_KEY_FILE).read_text()
    key_body = "".join(line for line in key_pem.splitlines() if "-----" not in line)
    for text in (json.dumps(found), caplog.text):
        assert "PRIVATE KEY" not in text
        assert key_body[:40] not in text
    assert "BEGIN CERTIFICATE" not in json.dumps(found)


async def test_expiry_is_remembered_and_an_expired_certificate_repaired(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """After a restart the expiry is shown before the charger is back; when it passes,
    a repair says the certificate expired; moving the charger off profile 3 clears it."""
    tls = _tls(tmp_path)
    with freeze_time(FROZEN_NOW, tick=True, real_asyncio=True) as clock:
        assert isinstance(clock, TickingDateTimeFactory)
        entry = await setup_entry(chargers=[_on_profile(CP, 3)], **tls)
        files, old = await _certificate(hass, tmp_path, issued_days_ago=300)
        async with charger(_url(entry), CP, ssl=_client(entry, files)) as client:
            assert await client.boot() == "Accepted"
            await wait_for(lambda: _sensor(hass, entry) == _stamp(old))
        async with restarted(hass, entry) as (again_hass, again):
            assert _sensor(again_hass, again) == _stamp(old)
            assert _issue(again_hass, again) is None
            await _jump(again_hass, clock, dt.timedelta(days=66))
            await wait_for(lambda: _issue(again_hass, again) is not None)
            issue = _issue(again_hass, again)
            assert issue is not None
            assert issue.translation_key == "client_certificate_expired"
            assert issue.severity is ir.IssueSeverity.ERROR
            assert (issue.translation_placeholders or {})["expires"] == _local(old.not_after)
            assert _sensor(again_hass, again) == _stamp(old)  # still what it has

            subentry = next(iter(again.subentries.values()))
            again_hass.config_entries.async_update_subentry(
                again,
                subentry,
                data={**subentry.data, CONF_SECURITY_PROFILE: 2},
            )
            await again_hass.async_block_till_done()
            assert _issue(again_hass, again) is None
            await again_hass.async_stop(force=True)


async def test_a_charger_moved_to_profile_3_gets_its_sensor(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path
) -> None:
    """With another charger on profile 3 already (no reload), the sensor is built at once."""
    entry = await setup_entry(
        chargers=[_on_profile("CP-0", 3), _on_profile(CP, 2)], **_tls(tmp_path)
    )
    unique_id = unique_id_for(entry.entry_id, CP, None, "client_certificate_expiry")
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None
    hub = entry.runtime_data
    subentry = next(s for s in entry.subentries.values() if s.unique_id == CP)
    hass.config_entries.async_update_subentry(
        entry, subentry, data={**subentry.data, CONF_SECURITY_PROFILE: 3}
    )
    await hass.async_block_till_done()
    assert entry.runtime_data is hub  # re-indexed, not reloaded
    entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None
    entity = registry.async_get(entity_id)
    assert entity is not None
    assert entity.entity_category is not None
    assert entity.translation_key == "client_certificate_expiry"


async def test_remembered_facts_damaged_ones_dropped_removed_chargers_forgotten(
    hass: HomeAssistant, setup_entry: SetUpEntry, tmp_path: Path, hass_storage: dict[str, Any]
) -> None:
    """What was kept is shown before the chargers connect; a damaged entry is dropped,
    not fatal; removing a charger, then the central system, removes what was kept."""
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=200)
    kept = facts_to_dict(
        CertificateFacts("CN=CP-3", "1f", "AA:BB", end - dt.timedelta(days=365), end)
    )
    key = storage_key("central")
    hass_storage[key] = {
        "version": 1,
        "key": key,
        "data": {"chargers": {CP: kept, "CP-4": {"not_after": "soon"}, "CP-GONE": kept}},
    }
    entry = await setup_entry(
        entry_id="central", chargers=[_on_profile(CP, 3), _on_profile("CP-4", 3)], **_tls(tmp_path)
    )
    assert _sensor(hass, entry) == end.isoformat()
    memory = entry.runtime_data.certificates.memory
    assert set(memory.facts) == {CP}  # CP-4's was damaged, CP-GONE is no longer admitted
    subentry = next(s for s in entry.subentries.values() if s.unique_id == CP)
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert memory.facts == {}
    await wait_for(lambda: hass_storage[key]["data"] == {"chargers": {}})
    await hass.config_entries.async_remove(entry.entry_id)
    assert key not in hass_storage
