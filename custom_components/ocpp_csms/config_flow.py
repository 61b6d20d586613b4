"""Config flow for the central system: its server, its options, discovered chargers.

Chargers added or changed by hand (config subentries) and a charger's own settings are
in `charger_flow`; a charger's upstream (a subentry of its own) in `upstream.flow`.
"""

from __future__ import annotations

import errno
import socket
import ssl
from typing import Any

import probatio
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PASSWORD, CONF_PORT
from homeassistant.core import callback
from homeassistant.helpers import selector

from .certificate_authority import async_profile_errors, ca_file_error
from .charger_flow import (
    ChargerSubentryFlow,
    PasswordSuggestion,
    async_hash,
    charger_schema,
    charger_settings,
)
from .const import (
    CONF_ADDRESS,
    CONF_BASE_URL,
    CONF_CA_CERTFILE,
    CONF_CA_KEYFILE,
    CONF_CERTFILE,
    CONF_CHARGER_ID,
    CONF_CITY,
    CONF_CURRENCY,
    CONF_KEYFILE,
    CONF_POSTAL_CODE,
    CONF_PRICE_PER_KWH,
    CONF_TLS,
    CONF_UNKNOWN_CHARGERS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DOMAIN,
    SUBENTRY_CHARGER,
    SUBENTRY_UPSTREAM,
)
from .csms.host import AdmissionPolicy
from .csms.tls import build_ssl_context
from .hub import OcppCsmsConfigEntry
from .identifiers import charger_unique_id
from .metering_options import MeteringOptionsSteps
from .schedules.options import ScheduleOptionsSteps
from .site.options import SiteOptionsSteps
from .tags.options import TagOptionsSteps
from .upstream.flow import UpstreamSubentryFlow


def _server_schema(defaults: dict[str, Any]) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_HOST, default=defaults.get(CONF_HOST, DEFAULT_HOST)): str,
            probatio.Required(
                CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)
            ): probatio.All(
                selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX
                    )
                ),
                probatio.Coerce(int),
            ),
            probatio.Required(
                CONF_UNKNOWN_CHARGERS,
                default=defaults.get(CONF_UNKNOWN_CHARGERS, AdmissionPolicy.ASK.value),
            ): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=[policy.value for policy in AdmissionPolicy],
                    translation_key=CONF_UNKNOWN_CHARGERS,
                    mode=selector.SelectSelectorMode.LIST,
                )
            ),
            probatio.Required(CONF_TLS, default=defaults.get(CONF_TLS, False)): bool,
            probatio.Optional(
                CONF_CERTFILE, description={"suggested_value": defaults.get(CONF_CERTFILE)}
            ): str,
            probatio.Optional(
                CONF_KEYFILE, description={"suggested_value": defaults.get(CONF_KEYFILE)}
            ): str,
            probatio.Optional(
                CONF_CA_CERTFILE, description={"suggested_value": defaults.get(CONF_CA_CERTFILE)}
            ): str,
            probatio.Optional(
                CONF_CA_KEYFILE, description={"suggested_value": defaults.get(CONF_CA_KEYFILE)}
            ): str,
        }
    )


def _bind_error(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port, or None. Blocking: executor."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return "invalid_host"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # Like the real server: a port in TIME_WAIT is free to take.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return "port_in_use"
            if err.errno == errno.EACCES:
                return "port_forbidden"
            return "invalid_host"
    return None


def _certificate_error(certfile: str, keyfile: str | None) -> str | None:
    """Why the TLS files do not load, or None. Blocking: executor."""
    try:
        build_ssl_context(certfile, keyfile)
    except ssl.SSLError:
        return "invalid_certificate"
    except OSError:
        return "certificate_not_found"
    return None


class OcppCsmsConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a central system, and admit chargers it discovers."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing discovered."""
        self._discovered: dict[str, Any] = {}
        self._suggestion = PasswordSuggestion()

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: OcppCsmsConfigEntry) -> OcppCsmsOptionsFlow:
        """Options of a central system."""
        return OcppCsmsOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Chargers are subentries of their central system, and so are their upstreams."""
        return {SUBENTRY_CHARGER: ChargerSubentryFlow, SUBENTRY_UPSTREAM: UpstreamSubentryFlow}

    # -- the server -----------------------------------------------------------------------

    async def _validate_server(
        self, user_input: dict[str, Any], *, check_port: bool
    ) -> dict[str, str]:
        errors: dict[str, str] = {}
        if check_port and (
            error := await self.hass.async_add_executor_job(
                _bind_error, user_input[CONF_HOST], user_input[CONF_PORT]
            )
        ):
            errors[CONF_PORT if error != "invalid_host" else CONF_HOST] = error
        if user_input[CONF_TLS]:
            if not user_input.get(CONF_CERTFILE):
                errors[CONF_CERTFILE] = "certificate_required"
            elif error := await self.hass.async_add_executor_job(
                _certificate_error, user_input[CONF_CERTFILE], user_input.get(CONF_KEYFILE)
            ):
                errors[CONF_CERTFILE] = error
        if error := await self.hass.async_add_executor_job(
            ca_file_error, user_input.get(CONF_CA_CERTFILE), user_input.get(CONF_CA_KEYFILE)
        ):
            errors[CONF_CA_CERTFILE] = error
        return errors

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask where the server listens and what to do with unknown chargers."""
        errors: dict[str, str] = {}
        if user_input is not None:
            await self.async_set_unique_id(str(user_input[CONF_PORT]))
            self._abort_if_unique_id_configured()
            errors = await self._validate_server(user_input, check_port=True)
            if not errors:
                return self.async_create_entry(
                    title=f"OCPP Central System (port {user_input[CONF_PORT]})",
                    data=user_input,
                )
        return self.async_show_form(
            step_id="user",
            data_schema=_server_schema(user_input or {}),
            errors=errors,
            description_placeholders=_port_placeholders(user_input),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change where the server listens, its TLS files or the admission policy."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            moved = (user_input[CONF_HOST], user_input[CONF_PORT]) != (
                entry.data[CONF_HOST],
                entry.data[CONF_PORT],
            )
            if user_input[CONF_PORT] != entry.data[CONF_PORT] and any(
                other.unique_id == str(user_input[CONF_PORT])
                for other in self._async_current_entries(include_ignore=False)
            ):
                errors[CONF_PORT] = "port_configured"
            else:
                # The entry's own server holds its current port: only a move is checked.
                errors = await self._validate_server(user_input, check_port=moved)
            if not errors:
                # The entry's update listener reloads it when the settings changed.
                return self.async_update_and_abort(
                    entry,
                    unique_id=str(user_input[CONF_PORT]),
                    title=f"OCPP Central System (port {user_input[CONF_PORT]})",
                    data=user_input,
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_server_schema(user_input or dict(entry.data)),
            errors=errors,
            description_placeholders=_port_placeholders(user_input or dict(entry.data)),
        )

    # -- admission of a discovered charger ------------------------------------------------

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """An unknown charger booted and waits, Pending, for the user's decision."""
        entry = self.hass.config_entries.async_get_entry(discovery_info["entry_id"])
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="central_system_not_loaded")
        charger_id = discovery_info[CONF_CHARGER_ID]
        await self.async_set_unique_id(charger_unique_id(entry.entry_id, charger_id))
        self._abort_if_unique_id_configured()
        if any(subentry.unique_id == charger_id for subentry in entry.subentries.values()):
            return self.async_abort(reason="charger_already_added")
        self._discovered = discovery_info
        self.context["title_placeholders"] = self._charger_placeholders()
        return await self.async_step_admission()

    def _charger_placeholders(self) -> dict[str, str]:
        info = self._discovered
        return {
            "charger_id": info[CONF_CHARGER_ID],
            "vendor": info.get("vendor") or "?",
            "model": info.get("model") or "?",
            "serial_number": info.get("serial_number") or "?",
            "address": info.get("address") or "?",
        }

    async def async_step_admission(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show who the charger is and let the user add or reject it."""
        return self.async_show_menu(
            step_id="admission",
            menu_options=["add_charger", "reject_charger"],
            description_placeholders=self._charger_placeholders(),
        )

    async def async_step_add_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Name the charger and give it a password (empty: none)."""
        placeholders = self._charger_placeholders()
        entry = self.hass.config_entries.async_get_entry(self._discovered["entry_id"])
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="central_system_not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await async_profile_errors(self.hass, entry.data, user_input)
        if user_input is None or errors:
            schema = charger_schema(placeholders["charger_id"], self._suggestion.password)
            return self.async_show_form(
                step_id="add_charger",
                data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
                errors=errors,
                description_placeholders=placeholders,
            )
        hub = entry.runtime_data
        password = user_input.get(CONF_PASSWORD) or None
        hub.index.add(
            placeholders["charger_id"],
            user_input.get(CONF_NAME) or placeholders["charger_id"],
            password and await async_hash(self.hass, password, self._suggestion),
            charger_settings(user_input),
        )
        return self.async_abort(
            reason="charger_added_with_password" if password else "charger_added",
            description_placeholders=placeholders,
        )

    async def async_step_reject_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Reject the charger: recorded the way Home Assistant records an ignored discovery."""
        placeholders = self._charger_placeholders()
        assert self.unique_id is not None
        # Ignoring aborts every flow with this unique id, this one included, so it runs
        # after this flow has finished.
        self.hass.async_create_task(
            self.hass.config_entries.flow.async_init(
                DOMAIN,
                context={"source": SOURCE_IGNORE},
                data={"unique_id": self.unique_id, "title": placeholders["charger_id"]},
            )
        )
        return self.async_abort(reason="charger_rejected", description_placeholders=placeholders)


def _port_placeholders(user_input: dict[str, Any] | None) -> dict[str, str]:
    return {"port": str((user_input or {}).get(CONF_PORT, DEFAULT_PORT))}


class OcppCsmsOptionsFlow(
    TagOptionsSteps, SiteOptionsSteps, ScheduleOptionsSteps, MeteringOptionsSteps
):
    """The central system's settings, tags, site and schedules (each in its module)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Settings, tags, the site, schedules or metering."""
        return self.async_show_menu(
            step_id="init", menu_options=["settings", "tags", "site", "schedules", "metering"]
        )

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the base URL, the price per kWh and the site's address.

        Everything is optional: no base URL means Home Assistant's own network
        settings; no price means no cost sensors and no prices in exports.
        """
        errors: dict[str, str] = {}
        if user_input is not None:
            url = (user_input.get(CONF_BASE_URL) or "").strip().rstrip("/")
            currency = (user_input.get(CONF_CURRENCY) or "").strip().upper()
            if url and not url.startswith(("http://", "https://")):
                errors[CONF_BASE_URL] = "invalid_url"
            elif currency and not (len(currency) == 3 and currency.isalpha()):
                errors[CONF_CURRENCY] = "invalid_currency"
            else:
                options: dict[str, Any] = {CONF_BASE_URL: url, CONF_CURRENCY: currency}
                options.update(
                    (key, (user_input.get(key) or "").strip())
                    for key in (CONF_ADDRESS, CONF_CITY, CONF_POSTAL_CODE)
                )
                options[CONF_PRICE_PER_KWH] = user_input.get(CONF_PRICE_PER_KWH)
                # What other steps own (the site, schedules, metering...): keep it.
                others = {k: v for k, v in self.config_entry.options.items() if k not in options}
                kept = {key: value for key, value in options.items() if value not in ("", None)}
                return self.async_create_entry(data={**others, **kept})
        current = {**self.config_entry.options, **(user_input or {})}

        def suggested(key: str) -> dict[str, Any]:
            return {"suggested_value": current.get(key)}

        return self.async_show_form(
            step_id="settings",
            data_schema=probatio.Schema(
                {
                    probatio.Optional(CONF_BASE_URL, description=suggested(CONF_BASE_URL)): str,
                    probatio.Optional(
                        CONF_PRICE_PER_KWH, description=suggested(CONF_PRICE_PER_KWH)
                    ): selector.NumberSelector(
                        selector.NumberSelectorConfig(
                            min=0, max=100, step="any", mode=selector.NumberSelectorMode.BOX
                        )
                    ),
                    probatio.Optional(
                        CONF_CURRENCY,
                        description={
                            "suggested_value": current.get(CONF_CURRENCY)
                            or self.hass.config.currency
                        },
                    ): str,
                    probatio.Optional(CONF_ADDRESS, description=suggested(CONF_ADDRESS)): str,
                    probatio.Optional(
                        CONF_POSTAL_CODE, description=suggested(CONF_POSTAL_CODE)
                    ): str,
                    probatio.Optional(CONF_CITY, description=suggested(CONF_CITY)): str,
                }
            ),
            errors=errors,
        )
