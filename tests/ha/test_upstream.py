"""Forwarding a charger to an upstream, seen from Home Assistant (issue 24): its status
entities, an outage, a restart, the credentials repair, removal and diagnostics.

The upstream is a minimal OCPP-J server started in the test on 127.0.0.1
(`tests/engine/fake_upstream.py`); it checks the password of charge point id UP-1.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.ocpp_csms.const import DOMAIN, SUBENTRY_UPSTREAM
from custom_components.ocpp_csms.csms.central_system import CentralSystem
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import (
    CommandPolicy,
    UpstreamSettings,
    UpstreamState,
    UpstreamStatus,
)
from custom_components.ocpp_csms.upstream.repair import UpstreamCredentialsRepairFlow
from custom_components.ocpp_csms.upstream.settings import (
    CONF_UPSTREAM_ID,
    default_allowed,
    queue_files,
    queue_path,
    upstream_subentries,
)
from custom_components.ocpp_csms.upstream.status import UpstreamTracker
from tests.chargers import charger, wait_for
from tests.engine.fake_upstream import FakeUpstream
from tests.ha.conftest import SetUpEntry, charger_subentry, free_port, restarted, url_of
from tests.ha.upstream import (
    CONNECTED,
    QUEUED,
    connection,
    exists,
    queue_of,
    start_flow,
    state,
    states_written,
    the_upstream,
    upstream_subentry,
)

# -- status ---------------------------------------------------------------------------------


async def test_an_outage_shows_disconnected_and_the_queue_rising_then_draining(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    seen = states_written(hass, QUEUED)
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session()
        await wait_for(lambda: upstream.of("StartTransaction"))
        await upstream.go_down()
        await wait_for(lambda: state(hass, CONNECTED) == "off")
        for _ in range(3):
            await client.send_meter_values(seconds=600)
        await client.stop_session()
        await wait_for(lambda: int(state(hass, QUEUED) or 0) >= 4)
        upstream.down = False
        await wait_for(lambda: len(upstream.of("StopTransaction")) == 1)
        await wait_for(lambda: state(hass, CONNECTED) == "on" and state(hass, QUEUED) == "0")
    assert len(upstream.of("MeterValues")) == 3
    counts = [int(value) for value in seen]
    assert max(counts) >= 4
    assert counts[-1] == 0
    # Written only when the count changed (never the same value twice in a row).
    assert all(a != b for a, b in itertools.pairwise(counts))


async def test_what_waits_for_the_upstream_outlives_a_restart(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    """Home Assistant stops during an outage; the new one sends the session's end."""
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.start_session()
        await wait_for(lambda: upstream.of("StartTransaction"))
        await upstream.go_down()
        await wait_for(lambda: state(hass, CONNECTED) == "off")
        await client.send_meter_values(seconds=600)
        await client.stop_session()
        await wait_for(lambda: int(state(hass, QUEUED) or 0) >= 2)
    async with restarted(hass, entry) as (again, _):
        # The session's readings and end were in the file; statuses were in memory only.
        await wait_for(lambda: state(again, QUEUED) == "2")
        assert state(again, CONNECTED) == "off"
        upstream.down = False
        await wait_for(lambda: state(again, CONNECTED) == "on" and state(again, QUEUED) == "0")
        await again.async_stop(force=True)
    [stop] = upstream.of("StopTransaction")
    assert stop["transactionId"] == 9001  # the upstream's own id, remembered in the file


async def test_a_flood_of_messages_is_at_most_one_write_a_second(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """The engine reports every queue change; the entities write at most once a second."""
    nowhere = f"ws://127.0.0.1:{free_port()}/ocpp"
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(nowhere)])
    await wait_for(lambda: state(hass, CONNECTED) == "off")
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: state(hass, QUEUED) is not None)
        writes = states_written(hass, QUEUED, CONNECTED)
        began = time.monotonic()
        for _ in range(150):  # each one queued for the upstream, which is away
            await client.heartbeat()
        elapsed = time.monotonic() - began
        # Heartbeats wait in memory only, at most 100 of them.
        await wait_for(lambda: state(hass, QUEUED) == "100")
    await hass.async_block_till_done()
    assert writes[-1] == "100"
    # The first change at once, then at most one a second, and the last one.
    assert len(writes) <= elapsed + 2, (len(writes), elapsed)


# -- the repair -----------------------------------------------------------------------------


async def test_refused_credentials_are_a_repair_whose_fix_tests_and_stores_new_ones(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream, hass_client: Any
) -> None:
    entry = await setup_entry(
        chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url, password="old")]
    )
    issue_id = f"upstream_credentials_{entry.entry_id}_CP-1"
    issues = ir.async_get(hass)
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    placeholders = issue.translation_placeholders or {}
    assert placeholders["charger"] == "CP-1"
    assert placeholders["host"] == upstream.url.removeprefix("ws://").removesuffix("/ocpp")
    assert state(hass, CONNECTED) == "off"

    assert await async_setup_component(hass, "repairs", {})
    http = await hass_client()
    started = await http.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await started.json()
    assert flow["step_id"] == "confirm"
    step_url = f"/api/repairs/issues/fix/{flow['flow_id']}"
    bad = await (await http.post(step_url, json={CONF_UPSTREAM_ID: "a/b"})).json()
    assert bad["errors"] == {CONF_UPSTREAM_ID: "invalid_charge_point_id"}
    again = await (
        await http.post(step_url, json={CONF_UPSTREAM_ID: "UP-1", CONF_PASSWORD: "still wrong"})
    ).json()
    assert again["errors"] == {"base": "credentials_refused"}
    assert again["description_placeholders"]["detail"] == "HTTP 401"
    done = await (
        await http.post(step_url, json={CONF_UPSTREAM_ID: "UP-1", CONF_PASSWORD: "right"})
    ).json()
    assert done["type"] == "create_entry"
    await hass.async_block_till_done()
    assert the_upstream(entry).data[CONF_PASSWORD] == "right"
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_the_repair_goes_when_the_upstream_is_removed(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(
        chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url, password="old")]
    )
    issue_id = f"upstream_credentials_{entry.entry_id}_CP-1"
    issues = ir.async_get(hass)
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    hass.config_entries.async_remove_subentry(entry, the_upstream(entry).subentry_id)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_the_fix_of_an_upstream_removed_meanwhile_ends_at_once(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1")])
    flow = UpstreamCredentialsRepairFlow({"entry_id": entry.entry_id, "charger_id": "CP-1"})
    flow.hass = hass
    result = await flow.async_step_init()
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "upstream_removed")
    await hass.config_entries.async_unload(entry.entry_id)
    result = await flow.async_step_init()
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "not_loaded")


# -- removal --------------------------------------------------------------------------------


async def test_removing_the_upstream_removes_its_entities_and_queue(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    path = queue_of(hass, entry)
    assert await exists(path)
    assert hass.config_entries.async_remove_subentry(entry, the_upstream(entry).subentry_id)
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    for entity_id in (CONNECTED, QUEUED):
        assert hass.states.get(entity_id) is None
        assert registry.async_get(entity_id) is None
    assert not any([await exists(file) for file in queue_files(path)])
    assert entry.runtime_data.system.upstreams.status("CP-1") is None
    # The charger's own entities stay.
    assert hass.states.get("binary_sensor.cp_1_online") is not None

    # Added again, it comes back with its entities.
    form = await start_flow(hass, entry)
    await hass.config_entries.subentries.async_configure(form["flow_id"], connection(upstream.url))
    await hass.async_block_till_done()
    await wait_for(lambda: state(hass, CONNECTED) == "on")


async def test_removing_the_charger_removes_its_upstream(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    path = queue_of(hass, entry)
    assert await exists(path)
    [charger_entry] = [
        sub for sub in entry.subentries.values() if sub.subentry_type != SUBENTRY_UPSTREAM
    ]
    hass.config_entries.async_remove_subentry(entry, charger_entry.subentry_id)
    await hass.async_block_till_done()
    assert upstream_subentries(entry) == []
    assert hass.states.get(CONNECTED) is None
    assert not await exists(path)


async def test_removing_the_central_system_deletes_its_queues(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    path = queue_of(hass, entry)
    assert await exists(path)
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not any([await exists(file) for file in queue_files(path)])


async def test_removing_the_central_system_deletes_its_credentials_repairs(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(
        chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url, password="old")]
    )
    other = await setup_entry(
        chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url, password="old")]
    )
    issues = ir.async_get(hass)
    ours, theirs = (f"upstream_credentials_{e.entry_id}_CP-1" for e in (entry, other))
    await wait_for(
        lambda: all(issues.async_get_issue(DOMAIN, issue) is not None for issue in (ours, theirs))
    )
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, ours) is None
    # Another central system's repair is its own.
    assert issues.async_get_issue(DOMAIN, theirs) is not None


async def test_an_upstream_that_cannot_start_costs_only_that_chargers_forwarding(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def cannot(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk full")  # its queue's file cannot be opened, say

    monkeypatch.setattr(CentralSystem, "set_upstream", cannot)
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    assert entry.state is ConfigEntryState.LOADED
    assert "The upstream of charger CP-1 cannot start" in caplog.text
    assert hass.states.get(CONNECTED) is None
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"


def test_queue_files_are_named_safely_and_apart(hass: HomeAssistant) -> None:
    backend = UpstreamSettings("ws://127.0.0.1:9/ocpp", "UP-1", OcppVersion.V16)
    plain = queue_path(hass, "E", "CP-1", backend)
    assert plain.name.startswith("upstream-E-CP-1-")
    assert plain.parent == Path(hass.config.path(DOMAIN))
    odd = queue_path(hass, "E", "Garage 1/ä", backend)
    other = queue_path(hass, "E", "Garage 1?ä", backend)
    assert odd.name.startswith("upstream-E-Garage_1__-")
    assert odd != other
    assert odd.parent == plain.parent
    # Another backend (URL, charge point id, version) has its own queue; the password
    # and the policy do not make another backend.
    for changed in (
        replace(backend, url="ws://127.0.0.1:9/other"),
        replace(backend, charge_point_id="UP-2"),
        replace(backend, version=OcppVersion.V201),
    ):
        assert queue_path(hass, "E", "CP-1", changed) != plain
    same = replace(backend, password="secret", policy=CommandPolicy.FULL)
    assert queue_path(hass, "E", "CP-1", same) == plain


async def test_an_upstream_changed_to_another_backend_starts_a_fresh_queue(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    """What the old backend was owed (messages, last boot, its ids) is not sent to the new."""
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    old = queue_of(hass, entry)
    assert await exists(old)
    subentry = the_upstream(entry)
    hass.config_entries.async_update_subentry(
        entry, subentry, data=dict(subentry.data) | {CONF_UPSTREAM_ID: "UP-2"}
    )
    await hass.async_block_till_done()
    new = queue_of(hass, entry)
    assert new != old
    applied = entry.runtime_data.upstreams.settings("CP-1")
    assert applied is not None
    assert applied.charge_point_id == "UP-2"
    assert await exists(new)
    assert not any([await exists(file) for file in queue_files(old)])


# -- diagnostics ----------------------------------------------------------------------------


async def test_diagnostics_show_the_upstream_without_its_password(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream, hass_client: Any
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    found = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    shown = found["chargers"]["CP-1"]["upstream"]
    assert shown["url"] == upstream.url
    assert shown["password"] == "**REDACTED**"
    assert (shown["charge_point_id"], shown["version"], shown["policy"]) == (
        "UP-1",
        "ocpp1.6",
        "mirror_only",
    )
    assert shown["allowed_commands"] == sorted(default_allowed(OcppVersion.V16))
    assert shown["status"]["state"] == "connected"
    assert "right" not in str(found)


# -- coalescing -----------------------------------------------------------------------------


def test_a_new_state_is_passed_on_once_and_every_report_shown() -> None:
    shown: list[int] = []
    states: list[UpstreamState] = []
    tracker = UpstreamTracker(
        show=lambda: shown.append(tracker.status.queued if tracker.status else -1),
        state_changed=states.append,
    )
    tracker.on_status(UpstreamStatus(UpstreamState.CONNECTING))
    for queued in range(1, 4):
        tracker.on_status(UpstreamStatus(UpstreamState.UNREACHABLE, queued=queued))
    assert states == [UpstreamState.CONNECTING, UpstreamState.UNREACHABLE]
    assert shown == [0, 1, 2, 3]
    tracker.close()
    tracker.on_status(UpstreamStatus(UpstreamState.CONNECTED))
    assert (states[-1], shown) == (UpstreamState.UNREACHABLE, [0, 1, 2, 3])
