"""A charger's own settings, and adding or changing a charger by hand (a subentry).

The same settings are asked when a discovered charger is added (`config_flow`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import probatio
from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_NAME, CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector

from .certificate_authority import async_profile_errors, charger_profile
from .const import (
    CHARGER_METERING_CENTRAL,
    CHARGER_METERING_LEAVE,
    CONF_CAR_BATTERY_KWH,
    CONF_CAR_SOC_SENSOR,
    CONF_CHARGER_ID,
    CONF_CHARGER_METER_INTERVAL,
    CONF_CHARGER_METERING,
    CONF_DEFAULT_TAG,
    CONF_MAX_CURRENT,
    CONF_PASSWORD_HASH,
    CONF_PHASE_SWITCHING,
    CONF_PRIORITY,
    CONF_QUIRKS,
    CONF_SECURITY_PROFILE,
    DEFAULT_MAX_CURRENT_A,
    DEFAULT_REMOTE_TAG,
    PRIORITIES,
)
from .csms.credentials import generate_password, hash_password
from .csms.host import SecurityProfile
from .csms.quirks import AUTOMATIC as AUTOMATIC_QUIRKS
from .csms.quirks import BY_KEY
from .csms.server import charger_id_from_path
from .hub import OcppCsmsConfigEntry
from .metering_options import interval_selector
from .selectors import amps_selector

CONF_REMOVE_PASSWORD = "remove_password"

# The quirk profiles a user may name for a charger, besides automatic: standard (none)
# and every known one.
QUIRK_PROFILES = list(BY_KEY)
# The security profiles a charger may be on, as the form's options (strings).
SECURITY_PROFILES = [str(profile.value) for profile in SecurityProfile]


def charger_settings_schema(current: dict[str, Any] | None = None) -> dict[Any, Any]:
    """The per-charger settings: its security profile, the tag of remote starts, limits..."""
    current = current or {}
    return {
        probatio.Required(
            CONF_SECURITY_PROFILE, default=str(charger_profile(current).value)
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=SECURITY_PROFILES,
                translation_key=CONF_SECURITY_PROFILE,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
        probatio.Required(
            CONF_DEFAULT_TAG, default=current.get(CONF_DEFAULT_TAG, DEFAULT_REMOTE_TAG)
        ): probatio.All(str, probatio.Length(min=1, max=20)),
        probatio.Required(
            CONF_MAX_CURRENT, default=current.get(CONF_MAX_CURRENT, DEFAULT_MAX_CURRENT_A)
        ): probatio.All(amps_selector(), probatio.Coerce(int)),
        probatio.Required(CONF_PRIORITY, default=current.get(CONF_PRIORITY, "normal")): (
            selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=list(PRIORITIES),
                    translation_key=CONF_PRIORITY,
                    mode=selector.SelectSelectorMode.DROPDOWN,
                )
            )
        ),
        probatio.Required(
            CONF_PHASE_SWITCHING, default=current.get(CONF_PHASE_SWITCHING, False)
        ): selector.BooleanSelector(),
        probatio.Required(
            CONF_CHARGER_METERING,
            default=current.get(CONF_CHARGER_METERING, CHARGER_METERING_CENTRAL),
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[CHARGER_METERING_CENTRAL, CHARGER_METERING_LEAVE],
                translation_key=CONF_CHARGER_METERING,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
        probatio.Optional(
            CONF_CHARGER_METER_INTERVAL,
            description={"suggested_value": current.get(CONF_CHARGER_METER_INTERVAL)},
        ): interval_selector(),
        probatio.Required(
            CONF_QUIRKS, default=_known_quirks(current.get(CONF_QUIRKS))
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[AUTOMATIC_QUIRKS, *QUIRK_PROFILES],
                translation_key=CONF_QUIRKS,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
        probatio.Optional(
            CONF_CAR_SOC_SENSOR, description={"suggested_value": current.get(CONF_CAR_SOC_SENSOR)}
        ): selector.EntitySelector(
            selector.EntitySelectorConfig(domain="sensor", device_class="battery")
        ),
        probatio.Optional(
            CONF_CAR_BATTERY_KWH,
            description={"suggested_value": current.get(CONF_CAR_BATTERY_KWH)},
        ): selector.NumberSelector(
            selector.NumberSelectorConfig(
                min=5,
                max=250,
                step=0.1,
                unit_of_measurement="kWh",
                mode=selector.NumberSelectorMode.BOX,
            )
        ),
    }


def _known_quirks(chosen: str | None) -> str:
    """A quirk profile that still exists; automatic for none (or one since removed)."""
    return chosen if chosen in QUIRK_PROFILES else AUTOMATIC_QUIRKS


def charger_settings(user_input: dict[str, Any]) -> dict[str, Any]:
    """A charger's settings from a form, with defaults for what it left out."""
    return {
        CONF_SECURITY_PROFILE: charger_profile(user_input).value,
        CONF_DEFAULT_TAG: user_input.get(CONF_DEFAULT_TAG) or DEFAULT_REMOTE_TAG,
        CONF_MAX_CURRENT: int(user_input.get(CONF_MAX_CURRENT) or DEFAULT_MAX_CURRENT_A),
        CONF_PRIORITY: user_input.get(CONF_PRIORITY) or "normal",
        CONF_PHASE_SWITCHING: bool(user_input.get(CONF_PHASE_SWITCHING)),
        CONF_CHARGER_METERING: user_input.get(CONF_CHARGER_METERING) or CHARGER_METERING_CENTRAL,
        CONF_QUIRKS: _known_quirks(user_input.get(CONF_QUIRKS)),
        CONF_CHARGER_METER_INTERVAL: (
            int(interval) if (interval := user_input.get(CONF_CHARGER_METER_INTERVAL)) else None
        ),
        CONF_CAR_SOC_SENSOR: user_input.get(CONF_CAR_SOC_SENSOR) or None,
        CONF_CAR_BATTERY_KWH: (
            float(battery) if (battery := user_input.get(CONF_CAR_BATTERY_KWH)) else None
        ),
    }


class PasswordSuggestion:
    """The generated password a flow suggests, one per flow (the same on a form shown again).

    Kept as suggested, it is stored with the fast hash `credentials.hash_password` gives
    generated passwords; anything else the user types gets PBKDF2.
    """

    def __init__(self) -> None:
        """Generate the suggestion."""
        self.password = generate_password()

    def kept(self, password: str | None) -> bool:
        """Whether the user kept the suggestion."""
        return password == self.password


async def async_hash(hass: HomeAssistant, password: str, suggestion: PasswordSuggestion) -> str:
    """The hash to store for a password entered in a flow (off the loop)."""
    return await hass.async_add_executor_job(
        partial(hash_password, password, generated=suggestion.kept(password))
    )


def charger_schema(default_name: str, suggested_password: str | None) -> probatio.Schema:
    """The form of a new charger: its name, a password, its settings."""
    return probatio.Schema(
        {
            probatio.Optional(CONF_NAME, default=default_name): str,
            probatio.Optional(
                CONF_PASSWORD, description={"suggested_value": suggested_password}
            ): str,
            **charger_settings_schema(),
        }
    )


class ChargerSubentryFlow(ConfigSubentryFlow):
    """Add a charger by hand before it connects, or change its name or password."""

    def __init__(self) -> None:
        """Start with a password to suggest."""
        super().__init__()
        self._suggestion = PasswordSuggestion()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a charger by its id."""
        errors: dict[str, str] = {}
        if user_input is not None:
            charger_id = user_input[CONF_CHARGER_ID].strip()
            entry: OcppCsmsConfigEntry = self._get_entry()
            if charger_id_from_path("/" + charger_id) != charger_id:
                errors[CONF_CHARGER_ID] = "invalid_charger_id"
            elif any(sub.unique_id == charger_id for sub in entry.subentries.values()):
                errors[CONF_CHARGER_ID] = "charger_exists"
            else:
                errors = await async_profile_errors(self.hass, entry.data, user_input)
            if not errors:
                password = user_input.get(CONF_PASSWORD) or None
                return self.async_create_entry(
                    title=user_input.get(CONF_NAME) or charger_id,
                    data={
                        CONF_CHARGER_ID: charger_id,
                        CONF_PASSWORD_HASH: await self._hash(password),
                        **charger_settings(user_input),
                    },
                    unique_id=charger_id,
                )
        schema = probatio.Schema({probatio.Required(CONF_CHARGER_ID): str}).extend(
            charger_schema("", self._suggestion.password).schema
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Rename the charger, set a new password, or remove its password."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await async_profile_errors(self.hass, entry.data, user_input)
        if user_input is not None and not errors:
            data = {**subentry.data, **charger_settings(user_input)}
            if user_input.get(CONF_REMOVE_PASSWORD):
                data[CONF_PASSWORD_HASH] = None
            elif new_password := user_input.get(CONF_PASSWORD):
                data[CONF_PASSWORD_HASH] = await self._hash(new_password)
            return self.async_update_and_abort(
                entry,
                subentry,
                title=user_input.get(CONF_NAME) or subentry.title,
                data=data,
            )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=probatio.Schema(
                {
                    probatio.Optional(CONF_NAME, default=subentry.title): str,
                    probatio.Optional(CONF_PASSWORD): str,
                    probatio.Optional(CONF_REMOVE_PASSWORD, default=False): bool,
                    **charger_settings_schema({**subentry.data, **(user_input or {})}),
                }
            ),
            errors=errors,
            description_placeholders={
                "charger_id": subentry.data[CONF_CHARGER_ID],
                "suggested_password": self._suggestion.password,
            },
        )

    async def _hash(self, password: str | None) -> str | None:
        if not password:
            return None
        return await async_hash(self.hass, password, self._suggestion)
