"""Admission of chargers: discovery, adding, rejecting, policies and devices."""

from __future__ import annotations

import pytest
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigFlowResult,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_csms.const import (
    CONF_CHARGER_ID,
    CONF_PASSWORD_HASH,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from custom_components.ocpp_csms.csms.credentials import hash_password
from custom_components.ocpp_csms.identifiers import charger_device_identifier
from tests.chargers import FIRMWARE, MODEL, SERIAL, VENDOR, charger, wait_for
from tests.ha.conftest import SetUpEntry, charger_subentry, url_of


def _discovery_flows(hass: HomeAssistant) -> list[ConfigFlowResult]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    ]


async def _pending_flow(hass: HomeAssistant) -> ConfigFlowResult:
    # Home Assistant starts discovery flows as background tasks, which a plain
    # block_till_done does not wait for.
    await hass.async_block_till_done(wait_background_tasks=True)
    flows = _discovery_flows(hass)
    assert len(flows) == 1
    return flows[0]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_unknown_charger_is_admitted_through_discovery(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    """Pending -> discovery flow showing who it is -> added with a password -> Accepted."""
    entry = await setup_entry(chargers=[charger_subentry("CP-OLD")])
    async with (
        charger(url_of(entry), "CP-OLD") as bystander,
        charger(url_of(entry), "CP-123", version) as client,
    ):
        assert await bystander.boot() == "Accepted"
        assert await client.boot() == "Pending"
        flow = await _pending_flow(hass)
        assert flow["context"]["title_placeholders"]["charger_id"] == "CP-123"
        assert flow["step_id"] == "admission"
        assert flow["context"]["unique_id"] == f"{entry.entry_id}_CP-123"

        # A charger that boots again while waiting does not spawn a second flow.
        assert await client.boot() == "Pending"
        await hass.async_block_till_done(wait_background_tasks=True)
        assert len(_discovery_flows(hass)) == 1

        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": "add_charger"}
        )
        assert result["type"] is FlowResultType.FORM
        placeholders = result["description_placeholders"]
        assert placeholders is not None
        assert (placeholders["address"], placeholders["vendor"]) == ("127.0.0.1", VENDOR)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_NAME: "Garage", CONF_PASSWORD: "garage-password-123"}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "charger_added_with_password"
        await hass.async_block_till_done()

        # Admitted without a restart: the waiting charger is asked to boot and accepted.
        await wait_for(lambda: client.boot_statuses[-1:] == ["Accepted"])
        assert bystander.websocket.close_code is None
        assert (await bystander.heartbeat()).current_time

    subentry = next(sub for sub in entry.subentries.values() if sub.unique_id == "CP-123")
    assert subentry.title == "Garage"
    assert subentry.subentry_type == SUBENTRY_CHARGER
    assert subentry.data[CONF_PASSWORD_HASH].startswith("pbkdf2_sha256$")

    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-123"), entry.entry_id
    )
    assert device is not None
    assert (device.manufacturer, device.model) == (VENDOR, MODEL)
    assert (device.serial_number, device.sw_version) == (SERIAL, FIRMWARE)
    assert device.name == "Garage"
    central = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert central is not None
    assert device.via_device_id == central.id
    assert (device.config_entry_id, device.config_subentry_id) == (
        entry.entry_id,
        subentry.subentry_id,
    )

    # From now on the password is required.
    with pytest.raises(InvalidStatus) as refused:
        async with charger(url_of(entry), "CP-123", version):
            pass
    assert refused.value.response.status_code == 401
    async with charger(url_of(entry), "CP-123", version, password="garage-password-123") as again:
        assert await again.boot() == "Accepted"


async def test_add_without_password(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """An empty password admits the charger without one."""
    entry = await setup_entry()
    async with charger(url_of(entry), "CP-1") as client:
        await client.boot()
        flow = await _pending_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": "add_charger"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_NAME: "", CONF_PASSWORD: ""}
        )
        assert result["reason"] == "charger_added"
        await wait_for(lambda: client.boot_statuses[-1:] == ["Accepted"])
    subentry = next(iter(entry.subentries.values()))
    assert subentry.title == "CP-1"
    assert subentry.data[CONF_PASSWORD_HASH] is None
    # Sensible per-charger defaults.
    assert (subentry.data["default_tag"], subentry.data["max_current"]) == ("HomeAssistant", 32)
    assert subentry.data["priority"] == "normal"
    assert entry.runtime_data.index.priority("CP-1") == 0


async def test_rejected_charger_is_ignored_and_rejected(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Rejecting records an ignored entry; the charger's next boot is Rejected."""
    entry = await setup_entry()
    async with charger(url_of(entry), "CP-BAD") as client:
        assert await client.boot() == "Pending"
        flow = await _pending_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": "reject_charger"}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "charger_rejected"
        await hass.async_block_till_done()
        ignored = hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, f"{entry.entry_id}_CP-BAD"
        )
        assert ignored is not None
        assert ignored.source == SOURCE_IGNORE
        assert await client.boot() == "Rejected"
        await hass.async_block_till_done(wait_background_tasks=True)
        assert not _discovery_flows(hass)

    # Removing the central system takes its rejected chargers along.
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.config_entries.async_entries(DOMAIN, include_ignore=True) == []


async def test_ignoring_the_discovery_rejects(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """Home Assistant's own Ignore on the discovered card has the same effect."""
    entry = await setup_entry()
    async with charger(url_of(entry), "CP-IGN") as client:
        await client.boot()
        flow = await _pending_flow(hass)
        await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_IGNORE},
            data={"unique_id": flow["context"]["unique_id"], "title": "CP-IGN"},
        )
        await hass.async_block_till_done()
        assert await client.boot() == "Rejected"


async def test_accept_all_admits_and_keeps(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """Accept-all admits at once and stores the charger, so it has a device."""
    entry = await setup_entry(unknown_chargers="accept_all")
    async with charger(url_of(entry), "CP-AUTO", "ocpp2.0.1") as client:
        assert await client.boot() == "Accepted"
        await hass.async_block_till_done(wait_background_tasks=True)
    assert [sub.unique_id for sub in entry.subentries.values()] == ["CP-AUTO"]
    assert not _discovery_flows(hass)
    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-AUTO"), entry.entry_id
    )
    assert device is not None
    assert device.model == MODEL


async def test_reject_policy_refuses(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """Reject: an unknown charger never gets in; an added one does."""
    entry = await setup_entry(unknown_chargers="reject", chargers=[charger_subentry("CP-OK")])
    with pytest.raises(InvalidStatus) as refused:
        async with charger(url_of(entry), "CP-NO"):
            pass
    assert refused.value.response.status_code == 403
    async with charger(url_of(entry), "CP-OK") as client:
        assert await client.boot() == "Accepted"


async def test_add_charger_by_hand_then_change_and_remove(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """The charger subentry flow adds, re-passwords and (removed) forgets a charger."""
    entry = await setup_entry(unknown_chargers="reject")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHARGER), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "a/b", CONF_NAME: "", CONF_PASSWORD: ""}
    )
    assert result["errors"] == {CONF_CHARGER_ID: "invalid_charger_id"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_CHARGER_ID: " CP-HAND ", CONF_NAME: "Driveway", CONF_PASSWORD: "first-pass-1234"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    subentry = next(iter(entry.subentries.values()))
    assert (subentry.unique_id, subentry.title) == ("CP-HAND", "Driveway")

    async with charger(url_of(entry), "CP-HAND", password="first-pass-1234") as client:
        assert await client.boot() == "Accepted"

    # A second charger with the same id is refused by the form.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_CHARGER), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_CHARGER_ID: "CP-HAND"}
    )
    assert result["errors"] == {CONF_CHARGER_ID: "charger_exists"}

    # New password: the old one stops working, the new one works.
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Driveway", CONF_PASSWORD: "second-pass-1234"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    with pytest.raises(InvalidStatus):
        async with charger(url_of(entry), "CP-HAND", password="first-pass-1234"):
            pass
    async with charger(url_of(entry), "CP-HAND", password="second-pass-1234") as client:
        assert await client.boot() == "Accepted"

    # Removing the password lets it in without one; a new name reaches the device.
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Carport", "remove_password": True}
    )
    await hass.async_block_till_done()
    renamed = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-HAND"), entry.entry_id
    )
    assert renamed is not None
    assert renamed.name == "Carport"
    async with charger(url_of(entry), "CP-HAND") as client:
        assert await client.boot() == "Accepted"

        # Removing the charger disconnects it and removes its device.
        assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
        await hass.async_block_till_done()
        await wait_for(lambda: client.websocket.close_code is not None)
    device = dr.async_get(hass).async_get_device_by_identifier(
        charger_device_identifier(entry.entry_id, "CP-HAND"), entry.entry_id
    )
    assert device is None
    with pytest.raises(InvalidStatus) as refused:
        async with charger(url_of(entry), "CP-HAND"):
            pass
    assert refused.value.response.status_code == 403


async def test_discovery_for_an_unloaded_central_system_aborts(hass: HomeAssistant) -> None:
    """A discovery whose central system has gone away ends cleanly."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={"entry_id": "gone", CONF_CHARGER_ID: "CP-1"},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "central_system_not_loaded"


@pytest.mark.parametrize("generated", [False, True])
async def test_password_hash_is_not_the_password(generated: bool) -> None:
    """Only a salted hash is stored; the same password hashes differently each time."""
    first = hash_password("same-password", generated=generated)
    second = hash_password("same-password", generated=generated)
    assert first != second
    assert "same-password" not in first


def _suggested_password(result: ConfigFlowResult | SubentryFlowResult) -> str:
    schema = result["data_schema"]
    assert schema is not None
    return next(
        str(key.description["suggested_value"])
        for key in schema.schema
        if str(key) == CONF_PASSWORD and key.description
    )


async def test_a_kept_suggestion_is_stored_with_the_fast_hash(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """The generated password verifies in microseconds; one the user typed gets PBKDF2."""
    entry = await setup_entry(unknown_chargers="reject")
    for charger_id, keep in (("CP-KEPT", True), ("CP-OWN", False)):
        result = await hass.config_entries.subentries.async_init(
            (entry.entry_id, SUBENTRY_CHARGER), context={"source": "user"}
        )
        suggested = _suggested_password(result)
        # Shown again after an error, the form suggests the same password.
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_CHARGER_ID: "a/b"}
        )
        assert _suggested_password(result) == suggested
        password = suggested if keep else suggested + "x"
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {CONF_CHARGER_ID: charger_id, CONF_PASSWORD: password}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        subentry = next(sub for sub in entry.subentries.values() if sub.unique_id == charger_id)
        scheme = "hmac_sha256$" if keep else "pbkdf2_sha256$"
        assert subentry.data[CONF_PASSWORD_HASH].startswith(scheme)
        async with charger(url_of(entry), charger_id, password=password) as client:
            assert await client.boot() == "Accepted"


async def test_admission_keeping_the_suggestion_stores_the_fast_hash(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry()
    async with charger(url_of(entry), "CP-NEW") as client:
        assert await client.boot() == "Pending"
        flow = await _pending_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": "add_charger"}
        )
        password = _suggested_password(result)
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_NAME: "Garage", CONF_PASSWORD: password}
        )
        await hass.async_block_till_done()
    subentry = next(sub for sub in entry.subentries.values() if sub.unique_id == "CP-NEW")
    assert subentry.data[CONF_PASSWORD_HASH].startswith("hmac_sha256$")
    async with charger(url_of(entry), "CP-NEW", password=password) as again:
        assert await again.boot() == "Accepted"
