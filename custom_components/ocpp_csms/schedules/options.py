"""The schedule steps of the options flow: choose a charger, then edit its week.

The form has `FORM_RULES` rule slots (weekdays, from, to, limit) and a limit for the
rest of the week. A slot without weekdays is unused; clearing every slot and the
rest-of-week limit removes the schedule. Longer schedules can be set with the
`set_schedule` action (up to `schedules.MAX_RULES` rules).
"""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers import selector

from ..const import MAX_CURRENT_LIMIT_A
from ..hub import CentralSystemHub
from ..selectors import amps_selector
from .link import CONF_SCHEDULES, DAYS, RULE_SCHEMA, stored_schedule

CONF_CHARGER = "charger"
CONF_DEFAULT_LIMIT = "default_limit"
FORM_RULES = 3
_PARTS = ("days", "start", "end", "limit")


def _field(slot: int, part: str) -> str:
    return f"rule_{slot}_{part}"


def _schedule_schema() -> probatio.Schema:
    fields: dict[Any, Any] = {}
    for slot in range(1, FORM_RULES + 1):
        fields[probatio.Optional(_field(slot, "days"))] = selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=list(DAYS), multiple=True, translation_key="weekday"
            )
        )
        fields[probatio.Optional(_field(slot, "start"))] = selector.TimeSelector()
        fields[probatio.Optional(_field(slot, "end"))] = selector.TimeSelector()
        fields[probatio.Optional(_field(slot, "limit"))] = amps_selector(0, MAX_CURRENT_LIMIT_A)
    fields[probatio.Optional(CONF_DEFAULT_LIMIT)] = amps_selector(0, MAX_CURRENT_LIMIT_A)
    return probatio.Schema(fields)


def _form_values(stored: dict[str, Any] | None) -> dict[str, Any]:
    """A stored schedule as the form's suggested values."""
    values: dict[str, Any] = {}
    if not stored:
        return values
    for slot, rule in enumerate(stored.get("rules", [])[:FORM_RULES], 1):
        for part in _PARTS:
            values[_field(slot, part)] = rule[part]
    if stored.get(CONF_DEFAULT_LIMIT) is not None:
        values[CONF_DEFAULT_LIMIT] = stored[CONF_DEFAULT_LIMIT]
    return values


def _rules_from_form(user_input: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rules the form describes, and an error per incomplete slot."""
    rules, errors = [], {}
    for slot in range(1, FORM_RULES + 1):
        given = {part: user_input.get(_field(slot, part)) for part in _PARTS}
        if not given["days"]:
            continue
        try:
            rules.append(RULE_SCHEMA(given))
        except probatio.Invalid:
            errors[_field(slot, "days")] = "rule_incomplete"
    return rules, errors


class ScheduleOptionsSteps(OptionsFlow):
    """The options-flow steps of weekly schedules (mixed into the options flow)."""

    _schedule_charger: str | None = None

    @property
    def _schedule_hub(self) -> CentralSystemHub | None:
        return getattr(self.config_entry, "runtime_data", None)

    async def async_step_schedules(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the charger whose schedule to edit."""
        hub = self._schedule_hub
        if hub is None:
            return self.async_abort(reason="not_loaded")
        if not hub.index.admitted:
            return self.async_abort(reason="no_chargers")
        if user_input is not None:
            self._schedule_charger = user_input[CONF_CHARGER]
            return await self.async_step_schedule()
        chargers = [
            selector.SelectOptionDict(value=charger_id, label=hub.index.charger_name(charger_id))
            for charger_id in sorted(hub.index.admitted)
        ]
        return self.async_show_form(
            step_id="schedules",
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_CHARGER): selector.SelectSelector(
                        selector.SelectSelectorConfig(options=chargers)
                    )
                }
            ),
        )

    async def async_step_schedule(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the chosen charger's rules and its limit for the rest of the week."""
        hub = self._schedule_hub
        charger_id = self._schedule_charger
        if hub is None or charger_id is None:
            return self.async_abort(reason="not_loaded")
        schedules = dict(self.config_entry.options.get(CONF_SCHEDULES) or {})
        errors: dict[str, str] = {}
        if user_input is not None:
            rules, errors = _rules_from_form(user_input)
            if not errors:
                stored = stored_schedule(rules, user_input.get(CONF_DEFAULT_LIMIT))
                if stored is None:
                    schedules.pop(charger_id, None)
                else:
                    schedules[charger_id] = stored
                return self.async_create_entry(
                    data={**self.config_entry.options, CONF_SCHEDULES: schedules}
                )
        current = _form_values(schedules.get(charger_id))
        if user_input is not None:
            current = user_input
        return self.async_show_form(
            step_id="schedule",
            data_schema=self.add_suggested_values_to_schema(_schedule_schema(), current),
            errors=errors,
            description_placeholders={"charger": hub.index.charger_name(charger_id)},
        )
