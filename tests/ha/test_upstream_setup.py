"""Setting up forwarding to an upstream in Home Assistant (issue 24): the subentry flow.

The upstream is a minimal OCPP-J server started in the test on 127.0.0.1
(`tests/engine/fake_upstream.py`); it checks the password of charge point id UP-1.
"""

from __future__ import annotations

from typing import Any

from homeassistant.const import CONF_PASSWORD, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from websockets.asyncio.server import ServerConnection, serve

from custom_components.ocpp_csms.const import CONF_CHARGER_ID, SUBENTRY_UPSTREAM
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import (
    DANGEROUS_COMMANDS,
    CommandPolicy,
    upstream_commands,
)
from custom_components.ocpp_csms.upstream.settings import (
    CONF_ALLOWED_COMMANDS,
    CONF_POLICY,
    CONF_UPSTREAM_ID,
    CONF_VERSION,
    default_allowed,
)
from tests.chargers import charger, wait_for
from tests.engine.fake_upstream import FakeUpstream
from tests.ha.conftest import SetUpEntry, charger_subentry, free_port, url_of
from tests.ha.upstream import (
    CONNECTED,
    QUEUED,
    connection,
    detail,
    exists,
    fields,
    queue_of,
    start_flow,
    state,
    the_upstream,
    upstream_subentry,
)

# -- setting it up --------------------------------------------------------------------------


async def test_an_upstream_is_added_tested_and_forwarded_to(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1")])
    # The only charger without an upstream is chosen; it never connected: its version is asked.
    form = await start_flow(hass, entry)
    assert (form["type"], form["step_id"]) == (FlowResultType.FORM, "connection")
    assert form["description_placeholders"]["charger"] == "CP-1"
    assert CONF_VERSION in fields(form)
    assert "save_anyway" not in fields(form)

    done = await hass.config_entries.subentries.async_configure(
        form["flow_id"], connection(upstream.url)
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    # The connection test sent nothing: the backend saw no made-up boot.
    assert upstream.calls == []
    await hass.async_block_till_done()
    subentry = the_upstream(entry)
    assert subentry.title == "CP-1 → " + upstream.url.removeprefix("ws://").removesuffix("/ocpp")
    assert subentry.unique_id == "upstream/CP-1"
    assert subentry.data[CONF_PASSWORD] == "right"
    assert subentry.data[CONF_VERSION] == "ocpp1.6"

    await wait_for(lambda: state(hass, CONNECTED) == "on")
    assert state(hass, QUEUED) == "0"
    registry = er.async_get(hass)
    for entity_id in (CONNECTED, QUEUED):
        registered = registry.async_get(entity_id)
        assert registered is not None
        # On the charger's device, so in its subentry (a device belongs to one).
        assert registered.config_subentry_id == entry.runtime_data.index.subentry_id("CP-1")
        assert registered.entity_category is er.EntityCategory.DIAGNOSTIC
    assert hass.states.get(QUEUED).attributes["unit_of_measurement"] == "messages"  # type: ignore[union-attr]

    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await client.heartbeat()
        await wait_for(lambda: upstream.actions() == ["BootNotification", "Heartbeat"])
    assert {charge_point for charge_point, _, _ in upstream.calls} == {"UP-1"}
    assert await exists(queue_of(hass, entry))


async def test_the_charger_is_chosen_when_there_is_a_choice_and_its_version_is_known(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(
        chargers=[charger_subentry("CP-1"), charger_subentry("CP-2")],
    )
    async with charger(url_of(entry), "CP-2", "ocpp2.0.1") as client:
        assert await client.boot() == "Accepted"
        form = await start_flow(hass, entry)
        assert form["step_id"] == "user"
        form = dict(
            await hass.config_entries.subentries.async_configure(
                form["flow_id"], {CONF_CHARGER_ID: "CP-2"}
            )
        )
        assert form["step_id"] == "connection"
        # CP-2 spoke 2.0.1: the version is its, not asked.
        assert CONF_VERSION not in fields(form)
        answer = connection(upstream.url)
        del answer[CONF_VERSION]
        done = await hass.config_entries.subentries.async_configure(form["flow_id"], answer)
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert the_upstream(entry).data[CONF_VERSION] == "ocpp2.0.1"
    assert the_upstream(entry).data[CONF_CHARGER_ID] == "CP-2"
    # CP-1 is the only one left: asked no more.
    assert (await start_flow(hass, entry))["step_id"] == "connection"


async def test_no_charger_left_to_forward_aborts(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    result = await start_flow(hass, entry)
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "no_chargers")


async def test_connection_test_errors_are_shown_and_a_backend_down_may_be_saved_anyway(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1")])
    form = await start_flow(hass, entry)
    flow_id = form["flow_id"]
    configure = hass.config_entries.subentries.async_configure

    result = await configure(flow_id, connection("http://127.0.0.1/ocpp"))
    assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await configure(flow_id, connection("ws://me:secret@127.0.0.1/ocpp"))
    assert result["errors"] == {CONF_URL: "invalid_url"}
    result = await configure(flow_id, connection(upstream.url, charge_point_id="a/b"))
    assert result["errors"] == {CONF_UPSTREAM_ID: "invalid_charge_point_id"}

    result = await configure(flow_id, connection(upstream.url, password="wrong"))
    assert result["errors"] == {"base": "credentials_refused"}
    assert detail(result) == "HTTP 401"
    assert "save_anyway" in fields(dict(result))

    nowhere = f"ws://127.0.0.1:{free_port()}/ocpp"
    result = await configure(flow_id, connection(nowhere))
    assert result["errors"] == {"base": "cannot_connect"}
    assert "ConnectionRefused" in detail(result)

    done = await configure(flow_id, connection(nowhere, save_anyway=True))
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await wait_for(lambda: state(hass, CONNECTED) == "off")


async def _no_subprotocol(socket: ServerConnection) -> None:
    await socket.wait_closed()


async def test_a_backend_of_another_version_cannot_be_saved(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1")])
    async with serve(_no_subprotocol, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        form = await start_flow(hass, entry)
        answer = connection(f"ws://127.0.0.1:{port}/ocpp", version="ocpp2.0.1")
        result = await hass.config_entries.subentries.async_configure(form["flow_id"], answer)
    assert result["errors"] == {"base": "version_refused"}
    assert "save_anyway" not in fields(dict(result))


async def test_full_policy_asks_which_commands_with_the_safe_ones_preselected(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1")])
    form = await start_flow(hass, entry)
    step: dict[str, Any] = dict(
        await hass.config_entries.subentries.async_configure(
            form["flow_id"], connection(upstream.url, policy="full")
        )
    )
    assert step["step_id"] == "commands"
    [key] = step["data_schema"].schema
    assert key.default() == default_allowed(OcppVersion.V16)
    options = step["data_schema"].schema[key].config["options"]
    assert [option["value"] for option in options] == list(upstream_commands(OcppVersion.V16))
    labels = {option["value"]: option["label"] for option in options}
    assert labels["Reset"] == "Reset ⚠"
    assert labels["TriggerMessage"] == "TriggerMessage"
    assert all(labels[name].endswith("⚠") for name in labels if name in DANGEROUS_COMMANDS)

    done = await hass.config_entries.subentries.async_configure(
        step["flow_id"], {CONF_ALLOWED_COMMANDS: ["TriggerMessage", "Reset"]}
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    data = the_upstream(entry).data
    assert (data[CONF_POLICY], data[CONF_ALLOWED_COMMANDS]) == ("full", ["Reset", "TriggerMessage"])
    await hass.async_block_till_done()
    settings = entry.runtime_data.upstreams.settings("CP-1")
    assert settings is not None
    assert settings.policy is CommandPolicy.FULL
    assert settings.allowed_commands == {"Reset", "TriggerMessage"}


async def test_reconfigure_keeps_the_password_unless_told_and_restarts_the_link(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    subentry = the_upstream(entry)
    form = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_UPSTREAM),
        context={"source": "reconfigure", "subentry_id": subentry.subentry_id},
    )
    assert form["step_id"] == "reconfigure"
    assert "remove_password" in fields(dict(form))
    answer = connection(upstream.url, policy="sessions_and_auth", password="")
    done = await hass.config_entries.subentries.async_configure(form["flow_id"], answer)
    assert (done["type"], done["reason"]) == (FlowResultType.ABORT, "reconfigure_successful")
    await hass.async_block_till_done()
    data = the_upstream(entry).data
    assert (data[CONF_PASSWORD], data[CONF_POLICY]) == ("right", "sessions_and_auth")
    settings = entry.runtime_data.upstreams.settings("CP-1")
    assert settings is not None
    assert settings.policy is CommandPolicy.SESSIONS_AND_AUTH
    await wait_for(lambda: state(hass, CONNECTED) == "on")

    # Renaming the charger renames its upstream.
    [charger_entry] = [sub for sub in entry.subentries.values() if sub.subentry_type == "charger"]
    hass.config_entries.async_update_subentry(entry, charger_entry, title="Garage")
    await hass.async_block_till_done()
    host = upstream.url.removeprefix("ws://").removesuffix("/ocpp")
    assert the_upstream(entry).title == f"Garage → {host}"

    # Removing the password is tested too: this backend wants one.
    form = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_UPSTREAM),
        context={"source": "reconfigure", "subentry_id": subentry.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        form["flow_id"], connection(upstream.url, password="", remove_password=True)
    )
    assert result["errors"] == {"base": "credentials_refused"}
