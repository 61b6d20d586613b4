"""The metering step of the options flow: what chargers sample, and how often.

Chargers' own defaults differ (some sample nothing during a session, some once a
minute), so by default the central system sets them to sample every 10 s (see
`csms.metering_setup`). The user may choose other measurands or another interval, or
leave chargers as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import probatio
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers import selector

from .const import (
    CHARGER_METERING_LEAVE,
    CONF_CHARGER_ID,
    CONF_CHARGER_METER_INTERVAL,
    CONF_CHARGER_METERING,
    CONF_METER_CONFIGURE,
    CONF_METER_INTERVAL,
    CONF_METER_MEASURANDS,
)
from .csms.metering_setup import (
    DEFAULT_EDGE_MEASURANDS,
    DEFAULT_INTERVAL_S,
    DEFAULT_MEASURANDS,
    MeterWish,
)
from .csms.station import Measurand

METERING_KEYS = (CONF_METER_CONFIGURE, CONF_METER_INTERVAL, CONF_METER_MEASURANDS)
# What a user may choose to have sampled, in the order of importance the planner keeps
# (a charger refusing the whole list is asked for the first ones).
CHOOSABLE_MEASURANDS: tuple[str, ...] = (
    *DEFAULT_MEASURANDS,
    Measurand.CURRENT_OFFERED,
    Measurand.POWER_OFFERED,
    Measurand.TEMPERATURE,
)
MIN_INTERVAL_S, MAX_INTERVAL_S = 5, 3600


def interval_selector() -> selector.NumberSelector:
    """A sampling interval in seconds, within what chargers take."""
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=MIN_INTERVAL_S,
            max=MAX_INTERVAL_S,
            step=1,
            unit_of_measurement="s",
            mode=selector.NumberSelectorMode.BOX,
        )
    )


def measurand_option(measurand: str) -> str:
    """The select option (and translation key) for an OCPP measurand.

    Translation keys are lowercase `[a-z0-9_-]` (hassfest refuses
    `Energy.Active.Import.Register`), so the form shows `energy_active_import_register`;
    the options keep the OCPP name.
    """
    return measurand.lower().replace(".", "_")


MEASURAND_BY_OPTION: dict[str, str] = {measurand_option(m): m for m in CHOOSABLE_MEASURANDS}


def meter_overrides_from(
    chargers: Iterable[Mapping[str, Any]], wish: MeterWish
) -> dict[str, MeterWish]:
    """Per charger id, what it samples instead of `wish`, where its settings say so.

    Left as it is: nothing set. Its own interval (a charger on a metered connection,
    say): the central system's measurands at that interval.
    """
    overrides = {}
    for data in chargers:
        interval = data.get(CONF_CHARGER_METER_INTERVAL)
        if data.get(CONF_CHARGER_METERING) == CHARGER_METERING_LEAVE:
            overrides[data[CONF_CHARGER_ID]] = MeterWish((), None, ())
        elif interval and not wish.empty:
            overrides[data[CONF_CHARGER_ID]] = dataclasses.replace(wish, interval_s=int(interval))
    return overrides


def meter_wish_from(options: Mapping[str, Any]) -> MeterWish:
    """What chargers should sample, from the entry's options (defaults where unset)."""
    if not options.get(CONF_METER_CONFIGURE, True):
        return MeterWish((), None, ())
    chosen = options.get(CONF_METER_MEASURANDS) or DEFAULT_MEASURANDS
    measurands = tuple(m for m in CHOOSABLE_MEASURANDS if m in chosen)
    interval = int(options.get(CONF_METER_INTERVAL) or DEFAULT_INTERVAL_S)
    return MeterWish(measurands, interval, DEFAULT_EDGE_MEASURANDS)


class MeteringOptionsSteps(OptionsFlow):
    """The options-flow step about metering (mixed into the options flow)."""

    async def async_step_metering(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask whether to set what chargers sample, which measurands and how often."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input.get(CONF_METER_CONFIGURE, True) and not user_input.get(
                CONF_METER_MEASURANDS
            ):
                errors[CONF_METER_MEASURANDS] = "no_measurands"
            else:
                options = {
                    key: value
                    for key, value in self.config_entry.options.items()
                    if key not in METERING_KEYS
                }
                options[CONF_METER_CONFIGURE] = bool(user_input.get(CONF_METER_CONFIGURE, True))
                options[CONF_METER_MEASURANDS] = [
                    MEASURAND_BY_OPTION[option]
                    for option in user_input.get(CONF_METER_MEASURANDS, ())
                    if option in MEASURAND_BY_OPTION
                ]
                options[CONF_METER_INTERVAL] = int(
                    user_input.get(CONF_METER_INTERVAL, DEFAULT_INTERVAL_S)
                )
                return self.async_create_entry(data=options)
        wish = meter_wish_from(self.config_entry.options)
        current = {
            CONF_METER_CONFIGURE: self.config_entry.options.get(CONF_METER_CONFIGURE, True),
            CONF_METER_MEASURANDS: [
                measurand_option(m) for m in wish.measurands or DEFAULT_MEASURANDS
            ],
            CONF_METER_INTERVAL: wish.interval_s or DEFAULT_INTERVAL_S,
            **(user_input or {}),
        }
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_METER_CONFIGURE, default=current[CONF_METER_CONFIGURE]
                ): selector.BooleanSelector(),
                probatio.Optional(
                    CONF_METER_MEASURANDS, default=current[CONF_METER_MEASURANDS]
                ): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=list(MEASURAND_BY_OPTION),
                        multiple=True,
                        translation_key="measurand",
                    )
                ),
                probatio.Required(
                    CONF_METER_INTERVAL, default=current[CONF_METER_INTERVAL]
                ): interval_selector(),
            }
        )
        return self.async_show_form(step_id="metering", data_schema=schema, errors=errors)
