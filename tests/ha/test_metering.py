"""The metering options: what chargers are set to sample, kept with every other option."""

from __future__ import annotations

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.ocpp_csms.csms.metering_setup import (
    DEFAULT_EDGE_MEASURANDS,
    DEFAULT_INTERVAL_S,
    DEFAULT_MEASURANDS,
    MeterWish,
)
from custom_components.ocpp_csms.metering_options import measurand_option
from tests.ha.conftest import SetUpEntry
from tests.ha.test_entities import garage
from tests.ha.test_schedules import NIGHTS

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


async def metering_step(hass: HomeAssistant, entry_id: str) -> ConfigFlowResult:
    options = hass.config_entries.options
    flow = await options.async_init(entry_id)
    assert "metering" in flow["menu_options"]
    return await options.async_configure(flow["flow_id"], {"next_step_id": "metering"})


async def test_chargers_are_set_to_the_defaults_unless_told_otherwise(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()])
    system = entry.runtime_data.system
    assert system.meter_wish(system.ensure_station("CP-1")) == MeterWish(
        DEFAULT_MEASURANDS, DEFAULT_INTERVAL_S, DEFAULT_EDGE_MEASURANDS
    )
    form = await metering_step(hass, entry.entry_id)
    assert form["step_id"] == "metering"
    schema = form["data_schema"]
    assert schema is not None
    defaults = {str(key): key.default() for key in schema.schema}
    assert defaults == {
        "meter_configure": True,
        "meter_measurands": [measurand_option(m) for m in DEFAULT_MEASURANDS],
        "meter_interval_s": DEFAULT_INTERVAL_S,
    }
    # The form shows translation keys; the options keep OCPP's names.
    assert measurand_option(ENERGY) == "energy_active_import_register"


async def test_the_metering_step_changes_what_chargers_sample_without_a_reload(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    entry = await setup_entry(chargers=[garage()], options={"currency": "SEK"})
    hub = entry.runtime_data
    form = await metering_step(hass, entry.entry_id)
    refused = await hass.config_entries.options.async_configure(
        form["flow_id"], {"meter_configure": True, "meter_measurands": [], "meter_interval_s": 20}
    )
    assert refused["errors"] == {"meter_measurands": "no_measurands"}
    done = await hass.config_entries.options.async_configure(
        form["flow_id"],
        {
            "meter_configure": True,
            "meter_measurands": ["power_active_import", "energy_active_import_register"],
            "meter_interval_s": 20,
        },
    )
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is hub  # followed without a reload
    assert entry.options["currency"] == "SEK"
    station = hub.system.ensure_station("CP-1")
    # Kept in order of importance, whatever order they were ticked in.
    assert hub.system.meter_wish(station) == MeterWish((ENERGY, POWER), 20, (ENERGY,))
    assert entry.options["meter_measurands"] == [POWER, ENERGY]

    form = await metering_step(hass, entry.entry_id)
    await hass.config_entries.options.async_configure(
        form["flow_id"], {"meter_configure": False, "meter_interval_s": 20}
    )
    await hass.async_block_till_done()
    assert hub.system.meter_wish(station) == MeterWish((), None, ())


async def test_the_settings_step_keeps_what_other_steps_own(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """Saving the settings lost the weekly schedules (and would lose metering)."""
    entry = await setup_entry(
        chargers=[garage()],
        options={
            "currency": "SEK",
            "schedules": {"CP-1": NIGHTS},
            "meter_configure": False,
            "meter_measurands": [ENERGY],
            "meter_interval_s": 60,
        },
    )
    options = hass.config_entries.options
    flow = await options.async_init(entry.entry_id)
    await options.async_configure(flow["flow_id"], {"next_step_id": "settings"})
    await options.async_configure(flow["flow_id"], {"currency": "EUR"})
    await hass.async_block_till_done()
    assert entry.options["currency"] == "EUR"
    assert entry.options["schedules"] == {"CP-1": NIGHTS}
    assert entry.options["meter_configure"] is False
    assert entry.options["meter_interval_s"] == 60


async def test_a_charger_can_be_left_as_it_is(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """Its settings say: leave its metering alone (a charger on a metered connection)."""
    entry = await setup_entry(chargers=[garage(), garage("CP-2", "Street", metering="leave")])
    system = entry.runtime_data.system
    assert system.meter_wish(system.ensure_station("CP-2")) == MeterWish((), None, ())
    assert system.meter_wish(system.ensure_station("CP-1")) == MeterWish(
        DEFAULT_MEASURANDS, DEFAULT_INTERVAL_S, DEFAULT_EDGE_MEASURANDS
    )
    # Changed in its settings: followed without a reload.
    [subentry] = [s for s in entry.subentries.values() if s.unique_id == "CP-1"]
    flow = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    assert flow["step_id"] == "reconfigure"
    done = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], {"metering": "leave"}
    )
    assert done["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert system.meter_wish(system.ensure_station("CP-1")) == MeterWish((), None, ())


async def test_a_charger_can_have_its_own_interval(
    hass: HomeAssistant, setup_entry: SetUpEntry
) -> None:
    """The central system's readings, less often for this one (or more)."""
    entry = await setup_entry(chargers=[garage(), garage("CP-2", "Street", meter_interval_s=60)])
    system = entry.runtime_data.system
    assert system.meter_wish(system.ensure_station("CP-2")) == MeterWish(
        DEFAULT_MEASURANDS, 60, DEFAULT_EDGE_MEASURANDS
    )
    [subentry] = [s for s in entry.subentries.values() if s.unique_id == "CP-1"]
    flow = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    done = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], {"meter_interval_s": 30}
    )
    assert done["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert subentry.data["meter_interval_s"] == 30
    assert system.meter_wish(system.ensure_station("CP-1")).interval_s == 30
    # Cleared: the central system's interval again.
    flow = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    await hass.config_entries.subentries.async_configure(flow["flow_id"], {})
    await hass.async_block_till_done()
    assert system.meter_wish(system.ensure_station("CP-1")).interval_s == DEFAULT_INTERVAL_S
    # Left as it is wins over an interval; with metering off, no interval is set either.
    options = await metering_step(hass, entry.entry_id)
    await hass.config_entries.options.async_configure(
        options["flow_id"], {"meter_configure": False}
    )
    await hass.async_block_till_done()
    assert system.meter_wish(system.ensure_station("CP-2")) == MeterWish((), None, ())
