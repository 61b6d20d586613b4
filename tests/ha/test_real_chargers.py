"""Chargers that behave unlike our simulator's defaults, through Home Assistant.

Each case is a simulator mode that reproduces what a charger someone else wrote does,
and the test shows the central system handles it as a user would expect.
"""

from __future__ import annotations

import asyncio

import pytest
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant, State

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


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize(
    ("answer", "shown", "applied_as"),
    [
        (None, "11.0", "read_from_charger"),  # what its profiles make it
        ("Rejected", "32.0", "configured_maximum"),  # it will not say: its maximum
    ],
)
async def test_the_current_limit_shows_what_the_charger_applies(
    hass: HomeAssistant,
    setup_entry: SetUpEntry,
    version: str,
    answer: str | None,
    shown: str,
    applied_as: str,
) -> None:
    """Not "unknown" until someone moves the slider: the charger is read back."""
    entry = await setup_entry(chargers=[garage()])
    async with charger(url_of(entry), "CP-1", version) as client:
        client.max_current_a = 11.0
        if answer:
            client.answers["GetCompositeSchedule"] = answer
        assert await client.boot() == "Accepted"
        await wait_for(lambda: state_of(hass, "number.garage_current_limit").state == shown)
        limit = state_of(hass, "number.garage_current_limit")
        assert limit.attributes["applied_as"] == applied_as


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_a_charger_that_samples_nothing_is_set_to_and_its_short_session_counts(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    """Out of the box it reports nothing during a session: once set up by us, power
    shows within the interval and a 20 s session is journaled with its energy."""
    entry = await setup_entry(chargers=[garage()])
    # Its clock runs 10x: our 10 s interval is 1 s here, the 20 s session 2 s.
    options = {"sampling": "none", "autonomous_sampling": True, "speed": 10.0}
    interval_key = (
        "MeterValueSampleInterval" if version == "ocpp1.6" else "SampledDataCtrlr/TxUpdatedInterval"
    )
    async with charger(url_of(entry), "CP-1", version, charger_options=options) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: client.configuration.get(interval_key) == "10")
        await client.send_status(1, "Occupied" if version != "ocpp1.6" else "Preparing")
        await client.start_session(1, "TAG1")
        await wait_for(lambda: _number(hass.states.get("sensor.garage_power")) > 0)
        await asyncio.sleep(2.0)  # the session itself: 20 simulated seconds
        await client.stop_session(1)
        await wait_for(lambda: state_of(hass, "switch.garage_charging").state == STATE_OFF)
    [row] = await journal_rows(entry)
    assert row.status is SessionStatus.COMPLETED
    assert row.energy_wh is not None
    # About 20 simulated seconds at 11 kW: tens of Wh, not 0 and not unknown. The
    # charger's own register may have run on a little after its end reading (on a
    # busy machine the simulated clock runs on between them), never the other way.
    assert 0 < row.energy_wh <= client.energy_wh[1] + 1


def _number(state: State | None) -> float:
    try:
        return float(state.state) if state is not None else 0.0
    except ValueError:
        return 0.0


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_with_a_site_the_failsafe_is_not_shown_as_the_chargers_limit(
    hass: HomeAssistant, setup_entry: SetUpEntry, version: str
) -> None:
    """The failsafe in our default profile is what the charger reports: not its limit."""
    site = {"site_fuse_a": 25, "site_failsafe_a": 6}
    entry = await setup_entry(chargers=[garage()], options=site)
    async with charger(url_of(entry), "CP-1", version) as client:
        assert await client.boot() == "Accepted"
        await wait_for(lambda: state_of(hass, "number.garage_current_limit").state == "32.0")
        limit = state_of(hass, "number.garage_current_limit")
        assert limit.attributes["applied_as"] == "configured_maximum"
        # The failsafe went out as the default profile.
        assert any(action == "SetChargingProfile" for action, _ in client.received)
