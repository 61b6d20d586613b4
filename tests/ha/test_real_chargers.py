"""Chargers that behave unlike our simulator's defaults, through Home Assistant.

Each case is a simulator mode that reproduces what a charger someone else wrote does,
and the test shows the central system handles it as a user would expect.
"""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant

from custom_components.ocpp_csms.csms.sessions import SessionStatus
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage, state_of
from tests.ha.test_sessions import journal_rows


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
@pytest.mark.parametrize("restart_counter", [False, True])
async def test_a_charger_whose_seq_no_does_not_count_up_ends_its_session(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str, restart_counter: bool
) -> None:
    """seqNo 0 on every event, or a counter that starts again after a reboot mid-session:
    every update counts and the end of the session ends it (the switch, the journal)."""
    entry = await setup_entry(chargers=[garage()])
    options = {"seq_numbers": "counting" if restart_counter else "zero"}
    async with charger(url_of(entry), "CP-1", version, charger_options=options) as client:
        assert await client.boot() == "Accepted"
        await client.send_status(1, "Occupied")
        await client.start_session(1, "TAG1")
        await client.send_meter_values(1, 600)
        if restart_counter:
            client.restart_seq_numbers()
        await client.send_meter_values(1, 600)
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_ON)
        await client.stop_session(1)
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_OFF)
    [row] = await journal_rows(entry)
    assert row.status is SessionStatus.COMPLETED
    assert row.energy_wh == pytest.approx(client.energy_wh[1], abs=1)
    assert row.energy_wh > 0
