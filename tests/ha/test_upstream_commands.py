"""An upstream's commands seen from Home Assistant (issue 24): the charger's "Upstream
command" event entity, the `ocpp_csms_upstream_command` bus event and its logbook line.

The upstream is the minimal OCPP-J server of `tests/engine/fake_upstream.py`, under the
full policy with the safe commands allowed (GetConfiguration yes, Reset no).
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.components.logbook import LOGBOOK_ENTRY_MESSAGE
from homeassistant.core import Event, HomeAssistant, callback

from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from custom_components.ocpp_csms.logbook_phrases import async_load_phrases
from custom_components.ocpp_csms.upstream.commands import EVENT_UPSTREAM_COMMAND
from custom_components.ocpp_csms.upstream.settings import CONF_POLICY
from tests.chargers import charger, wait_for
from tests.engine.fake_upstream import FakeUpstream
from tests.engine.forwarding import received
from tests.ha.conftest import SetUpEntry, charger_subentry, url_of
from tests.ha.test_logbook import describe_all
from tests.ha.upstream import CONNECTED, state, upstream_subentry

COMMAND = "event.cp_1_upstream_command"


def fired(hass: HomeAssistant) -> list[Event]:
    seen: list[Event] = []

    @callback
    def record(event: Event) -> None:
        seen.append(event)

    hass.bus.async_listen(EVENT_UPSTREAM_COMMAND, record)
    return seen


async def test_each_command_is_an_event_with_its_outcome(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    full = upstream_subentry(upstream.url, **{CONF_POLICY: CommandPolicy.FULL.value})
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), full])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    assert state(hass, COMMAND) == "unknown"  # no command yet
    seen = fired(hass)
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification"))

        answer = await upstream.send_call("GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert answer[0] == 3  # the charger's own answer came back
        await wait_for(lambda: len(seen) == 1)
        shown = hass.states.get(COMMAND)
        assert shown is not None
        assert shown.attributes["event_type"] == "forwarded"
        assert shown.attributes["action"] == "GetConfiguration"
        assert shown.attributes["allowed"] is True

        answer = await upstream.send_call("Reset", {"type": "Hard"})
        assert answer[2] == {"status": "Rejected"}
        await wait_for(lambda: len(seen) == 2)
        shown = hass.states.get(COMMAND)
        assert shown is not None
        assert (shown.attributes["event_type"], shown.attributes["action"]) == ("refused", "Reset")
        assert "Reset" not in received(client)

    forwarded, refused = seen
    assert forwarded.data["charger_id"] == "CP-1"
    assert forwarded.data["entity_id"] == COMMAND
    assert (forwarded.data["action"], forwarded.data["outcome"]) == (
        "GetConfiguration",
        "forwarded",
    )
    assert (refused.data["allowed"], refused.data["detail"]) == (False, "Rejected")


async def test_a_flooding_upstream_is_within_the_bus_budget(
    hass: HomeAssistant, setup_entry: SetUpEntry, upstream: FakeUpstream
) -> None:
    entry = await setup_entry(chargers=[charger_subentry("CP-1"), upstream_subentry(upstream.url)])
    await wait_for(lambda: state(hass, CONNECTED) == "on")
    seen = fired(hass)
    async with charger(url_of(entry), "CP-1") as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: upstream.of("BootNotification"))
        answers = await upstream.send_calls([("Reset", {"type": "Hard"})] * 200)
        assert all(answer[2] == {"status": "Rejected"} for answer in answers)
    await hass.async_block_till_done()
    assert 0 < len(seen) <= 20


@pytest.mark.parametrize(
    ("language", "data", "message"),
    [
        ("en", {"outcome": "forwarded", "detail": "Accepted"},
         "upstream's Reset passed to the charger: Accepted"),
        ("en", {"outcome": "forwarded", "detail": ""}, "upstream's Reset passed to the charger"),
        ("en", {"outcome": "refused", "detail": "Rejected"},
         "upstream's Reset refused: not allowed"),
        ("en", {"outcome": "offline", "detail": ""},
         "upstream's Reset not passed on: the charger is offline"),
        ("de", {"outcome": "busy", "detail": ""},
         "Reset des Upstream-Backends abgelehnt: ein anderer seiner Befehle lief noch"),
    ],
)  # fmt: skip
async def test_logbook_lines_say_what_became_of_the_command(
    hass: HomeAssistant, language: str, data: dict[str, Any], message: str
) -> None:
    hass.config.language = language
    await async_load_phrases(hass)
    describe = describe_all(hass)[EVENT_UPSTREAM_COMMAND]
    line = describe(Event(EVENT_UPSTREAM_COMMAND, {"name": "Garage", "action": "Reset", **data}))
    assert line[LOGBOOK_ENTRY_MESSAGE] == message
