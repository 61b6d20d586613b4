"""The fix flow of "the upstream refuses our credentials": a new password (and id), tested.

The new credentials are tried with the connection test first; only credentials the
upstream takes are stored (in the upstream's subentry, which restarts its link). What
waited in the queue meanwhile is sent once the link is connected. As in reconfigure
(`flow.given_password`), an empty password keeps the stored one (the address does not
change here) and "connect without a password" removes it; the form says so.
"""

from __future__ import annotations

from typing import Any

import probatio
from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_URL
from homeassistant.helpers import selector

from ..const import CONF_CHARGER_ID, DOMAIN
from .flow import (
    CONF_REMOVE_PASSWORD,
    async_test,
    charger_names,
    check_charge_point_id,
    given_password,
)
from .settings import CONF_UPSTREAM_ID, settings_from, upstream_subentries, url_host


class UpstreamCredentialsRepairFlow(RepairsFlow):
    """Enter the credentials the upstream expects; they are tested, then stored."""

    def __init__(self, data: dict[str, Any]) -> None:
        """Repair the upstream of the charger the issue names."""
        self._entry_id = str(data["entry_id"])
        self._charger_id = str(data["charger_id"])

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """Start with the form (the repairs manager passes the issue id as input here)."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask for the password and the charge point id, test them, store them."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        subentry = next(
            (
                sub
                for sub in upstream_subentries(entry)
                if sub.data[CONF_CHARGER_ID] == self._charger_id
            ),
            None,
        )
        if subentry is None:
            return self.async_abort(reason="upstream_removed")
        placeholders = {
            "charger": charger_names(entry).get(self._charger_id, self._charger_id),
            "host": url_host(subentry.data["url"]),
            "detail": "",
        }
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {
                **subentry.data,
                CONF_UPSTREAM_ID: str(user_input[CONF_UPSTREAM_ID]).strip(),
                CONF_PASSWORD: given_password(user_input, subentry.data, subentry.data[CONF_URL]),
            }
            if not check_charge_point_id(data[CONF_UPSTREAM_ID]) or (
                (settings := settings_from(data)) is None
            ):
                errors[CONF_UPSTREAM_ID] = "invalid_charge_point_id"
            else:
                error, placeholders["detail"] = await async_test(settings, save_anyway=False)
                if error is not None:
                    errors["base"] = error
            if not errors:
                self.hass.config_entries.async_update_subentry(entry, subentry, data=data)
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {
                        probatio.Required(CONF_UPSTREAM_ID): str,
                        probatio.Optional(CONF_PASSWORD): selector.TextSelector(
                            selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
                        ),
                        probatio.Optional(CONF_REMOVE_PASSWORD, default=False): bool,
                    }
                ),
                {CONF_UPSTREAM_ID: subentry.data[CONF_UPSTREAM_ID], **(user_input or {})},
            ),
            errors=errors,
            description_placeholders=placeholders,
        )
