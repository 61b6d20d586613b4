"""Where an upstream's stored password may go when its settings change (issue 24).

Reconfigure and the credentials repair treat an empty password field alike: it keeps
the stored password, but only for the same address (scheme, host and port): the
password of one backend is never sent to another, nor over ws:// after wss://.
"Connect without a password" removes it in both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_csms.const import DOMAIN, SUBENTRY_UPSTREAM
from custom_components.ocpp_csms.upstream.flow import CONF_REMOVE_PASSWORD
from custom_components.ocpp_csms.upstream.repair import UpstreamCredentialsRepairFlow
from custom_components.ocpp_csms.upstream.settings import CONF_UPSTREAM_ID, same_origin
from tests.chargers import wait_for
from tests.engine.fake_upstream import FakeUpstream
from tests.ha.conftest import SetUpEntry, charger_subentry, upstream_for
from tests.ha.upstream import CONNECTED, connection, fields, state, the_upstream, upstream_subentry


@pytest.fixture
async def other(hass: HomeAssistant) -> AsyncIterator[FakeUpstream]:
    """Another backend (another port), which wants no password."""
    async with upstream_for(hass) as server:
        yield server


# -- the rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("wss://backend.example.com/ocpp", True),
        ("wss://Backend.Example.com:443/other/path", True),  # the default port, another path
        ("ws://backend.example.com/ocpp", False),  # no longer encrypted
        ("wss://backend.example.com:8443/ocpp", False),
        ("wss://other.example.com/ocpp", False),
        ("wss://backend.example.com.evil.test/ocpp", False),
        ("wss://:443/ocpp", False),
        ("wss://backend.example.com:99999/ocpp", False),  # not a port: not the same
    ],
)
def test_the_same_address_is_the_same_scheme_host_and_port(url: str, same: bool) -> None:
    assert same_origin("wss://backend.example.com/ocpp", url) is same


def test_plain_ws_keeps_its_default_port() -> None:
    assert same_origin("ws://backend.example.com/ocpp", "ws://backend.example.com:80/x")
    assert not same_origin("ws://backend.example.com/ocpp", "wss://backend.example.com:80/x")


# -- reconfigure ---------------------------------------------------------------------------


async def _reconfigure(
    hass: HomeAssistant, entry: MockConfigEntry, answer: dict[str, Any]
) -> dict[str, Any]:
    form = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_UPSTREAM),
        context={"source": "reconfigure", "subentry_id": the_upstream(entry).subentry_id},
    )
    return dict(await hass.config_entries.subentries.async_configure(form["flow_id"], answer))


async def test_another_address_needs_the_password_again_or_none(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream, other: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")

    refused = await _reconfigure(hass, entry, connection(other.url, password=""))
    assert refused["errors"] == {CONF_PASSWORD: "password_for_new_address"}
    assert other.ended == 0  # not even tested: the test would have sent it
    assert the_upstream(entry).data[CONF_PASSWORD] == "right"

    # Without a password, on purpose.
    done = await _reconfigure(
        hass, entry, connection(other.url, password="", **{CONF_REMOVE_PASSWORD: True})
    )
    assert done["reason"] == "reconfigure_successful"
    assert the_upstream(entry).data[CONF_PASSWORD] is None

    # Given again: to be sure the rule is about the address, back to the first one.
    done = await _reconfigure(hass, entry, connection(upstream.url, password="right"))
    assert done["reason"] == "reconfigure_successful"
    assert the_upstream(entry).data[CONF_PASSWORD] == "right"


async def test_the_same_address_keeps_the_password_under_another_path(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    moved = upstream.url.removesuffix("/ocpp") + "/ocpp16"
    done = await _reconfigure(hass, entry, connection(moved, password=""))
    assert done["reason"] == "reconfigure_successful"
    assert the_upstream(entry).data[CONF_PASSWORD] == "right"


# -- the credentials repair ----------------------------------------------------------------


async def _refused(
    hass: HomeAssistant, setup_entry: SetUpEntry, url: str, **stored: Any
) -> tuple[MockConfigEntry, UpstreamCredentialsRepairFlow]:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(url, **stored)])
    issue_id = f"upstream_credentials_{entry.entry_id}_CP-1"
    issues = ir.async_get(hass)
    await wait_for(lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    flow = UpstreamCredentialsRepairFlow({"entry_id": entry.entry_id, "charger_id": "CP-1"})
    flow.hass = hass
    return entry, flow


async def test_the_repair_keeps_the_password_when_left_empty(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    """The charge point id was wrong, the password right: only the id is entered."""
    entry, flow = await _refused(
        hass, setup_entry, upstream.url, password="right", **{CONF_UPSTREAM_ID: "UP-2"}
    )
    form = await flow.async_step_init()
    assert CONF_REMOVE_PASSWORD in fields(dict(form))
    done = await flow.async_step_confirm({CONF_UPSTREAM_ID: "UP-1"})
    assert done["type"] is FlowResultType.CREATE_ENTRY, done.get("errors")
    data = the_upstream(entry).data
    assert (data[CONF_UPSTREAM_ID], data[CONF_PASSWORD]) == ("UP-1", "right")


async def test_the_repair_removes_the_password_only_when_told(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry, flow = await _refused(hass, setup_entry, upstream.url, password="old")
    upstream.password = None  # the backend no longer wants one
    done = await flow.async_step_confirm({CONF_UPSTREAM_ID: "UP-1", CONF_REMOVE_PASSWORD: True})
    assert done["type"] is FlowResultType.CREATE_ENTRY, done.get("errors")
    assert the_upstream(entry).data[CONF_PASSWORD] is None


# -- never shown ---------------------------------------------------------------------------


async def test_the_running_links_records_do_not_show_the_password(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    links = entry.runtime_data.upstreams
    settings = links.settings("CP-1")
    assert settings is not None
    assert settings.password == "right"
    # What the link was started with (its private record), and the settings it gives.
    shown = repr(links._applied) + repr(settings)
    assert "UP-1" in shown
    assert "'right'" not in shown
