"""The site step of the options flow: main fuse, margin, failsafe, grid and export meters."""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers import selector

from ..const import (
    CONF_EXPORT_NEGATIVE,
    CONF_EXPORT_POWER,
    CONF_GRID_CURRENT,
    CONF_GRID_POWER,
    CONF_PRICE_SENSOR,
    CONF_SITE_FAILSAFE,
    CONF_SITE_FUSE,
    CONF_SITE_MARGIN,
    CONF_SOLAR_START_DELAY,
    CONF_SOLAR_STOP_DELAY,
    DEFAULT_SITE_MARGIN_A,
    DEFAULT_SOLAR_START_DELAY_MIN,
    DEFAULT_SOLAR_STOP_DELAY_MIN,
    MIN_CURRENT_A,
)
from ..selectors import amps_selector

SITE_KEYS = (
    CONF_SITE_FUSE,
    CONF_SITE_MARGIN,
    CONF_SITE_FAILSAFE,
    *CONF_GRID_CURRENT,
    CONF_GRID_POWER,
    CONF_EXPORT_POWER,
    CONF_EXPORT_NEGATIVE,
    CONF_SOLAR_START_DELAY,
    CONF_SOLAR_STOP_DELAY,
    CONF_PRICE_SENSOR,
)


def _sensor(device_class: SensorDeviceClass) -> selector.EntitySelector:
    return selector.EntitySelector(
        selector.EntitySelectorConfig(domain="sensor", device_class=device_class)
    )


def _minutes() -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=0, max=60, step=1, unit_of_measurement="min", mode=selector.NumberSelectorMode.BOX
        )
    )


def _site_errors(user_input: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    fuse = user_input.get(CONF_SITE_FUSE)
    failsafe = user_input.get(CONF_SITE_FAILSAFE, MIN_CURRENT_A)
    if fuse and failsafe > fuse:
        errors[CONF_SITE_FAILSAFE] = "failsafe_above_fuse"
    currents = [bool(user_input.get(key)) for key in CONF_GRID_CURRENT]
    if any(currents) and not all(currents):
        errors[CONF_GRID_CURRENT[next(i for i, given in enumerate(currents) if not given)]] = (
            "three_phases_needed"
        )
    return errors


class SiteOptionsSteps(OptionsFlow):
    """The options-flow step that describes the site (mixed into the options flow)."""

    async def async_step_site(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the main fuse (empty: no balancing), margin, failsafe and grid meter."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = _site_errors(user_input)
            if not errors:
                options = {
                    key: value
                    for key, value in self.config_entry.options.items()
                    if key not in SITE_KEYS
                }
                options.update((key, user_input[key]) for key in SITE_KEYS if user_input.get(key))
                for key in (CONF_SITE_MARGIN, CONF_SOLAR_START_DELAY, CONF_SOLAR_STOP_DELAY):
                    if key in user_input:  # 0 is a value too
                        options[key] = user_input[key]
                return self.async_create_entry(data=options)
        schema = probatio.Schema(
            {
                probatio.Optional(CONF_SITE_FUSE): amps_selector(MIN_CURRENT_A, 250),
                probatio.Optional(CONF_SITE_MARGIN, default=DEFAULT_SITE_MARGIN_A): amps_selector(
                    0, 20
                ),
                probatio.Optional(CONF_SITE_FAILSAFE, default=MIN_CURRENT_A): amps_selector(
                    MIN_CURRENT_A, 63
                ),
                **{
                    probatio.Optional(key): _sensor(SensorDeviceClass.CURRENT)
                    for key in CONF_GRID_CURRENT
                },
                probatio.Optional(CONF_GRID_POWER): _sensor(SensorDeviceClass.POWER),
                probatio.Optional(CONF_EXPORT_POWER): _sensor(SensorDeviceClass.POWER),
                probatio.Optional(CONF_EXPORT_NEGATIVE, default=False): selector.BooleanSelector(),
                probatio.Optional(
                    CONF_SOLAR_START_DELAY, default=DEFAULT_SOLAR_START_DELAY_MIN
                ): _minutes(),
                probatio.Optional(
                    CONF_SOLAR_STOP_DELAY, default=DEFAULT_SOLAR_STOP_DELAY_MIN
                ): _minutes(),
                probatio.Optional(CONF_PRICE_SENSOR): selector.EntitySelector(
                    selector.EntitySelectorConfig(domain="sensor")
                ),
            }
        )
        current = {**self.config_entry.options, **(user_input or {})}
        return self.async_show_form(
            step_id="site",
            data_schema=self.add_suggested_values_to_schema(schema, current),
            errors=errors,
        )
