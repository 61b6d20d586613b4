"""The upstream subentry flow: forward a charger to a second central system, or change that.

Add: the charger (asked only when there is a choice), then the connection (URL, the
charge point id there, password, command policy, and the OCPP version when the charger
has not connected since Home Assistant started), then, for the full policy, the
commands it may send. Reconfigure asks the same; the password left empty keeps the
stored one only while the URL keeps its scheme, host and port (`same_origin`): for
another address it must be given again, or "connect without a password" ticked, so that
one backend's password never reaches another, nor goes over ws:// where it went over
wss://. The credentials repair (`repair.py`) treats the field the same way.

Every submit of the connection runs the connection test (`probe_upstream`). A backend
that is down for now, answers with another HTTP status, or does not know the charge
point yet (refused credentials: it is often registered there later) must not block the
setup: after such a failure the form offers "save anyway", and the link then connects
as soon as it can (refused credentials become a repair). A wrong URL, a certificate
that is not trusted or a backend of another OCPP version cannot be saved: they would
never work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import probatio
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_PASSWORD, CONF_URL
from homeassistant.helpers import selector

from ..const import CONF_CHARGER_ID, SUBENTRY_CHARGER
from ..csms.server import charger_id_from_path
from ..csms.station import OcppVersion
from ..csms.upstream_probe import ProbeOutcome, ProbeResult, probe_upstream, url_problem
from ..csms.upstream_settings import (
    DANGEROUS_COMMANDS,
    CommandPolicy,
    UpstreamSettings,
    upstream_commands,
)
from .settings import (
    CONF_ALLOWED_COMMANDS,
    CONF_POLICY,
    CONF_UPSTREAM_ID,
    CONF_VERSION,
    default_allowed,
    same_origin,
    subentry_data,
    upstream_subentries,
    upstream_title,
    upstream_unique_id,
)

CONF_SAVE_ANYWAY = "save_anyway"
CONF_REMOVE_PASSWORD = "remove_password"

# Failures the user may save despite (see the module's docstring).
SAVABLE = frozenset({ProbeResult.UNREACHABLE, ProbeResult.REFUSED, ProbeResult.CREDENTIALS_REFUSED})
# The form's error for each failure of the connection test.
PROBE_ERRORS = {
    ProbeResult.INVALID_URL: "invalid_url",
    ProbeResult.UNREACHABLE: "cannot_connect",
    ProbeResult.TLS_FAILED: "tls_failed",
    ProbeResult.CREDENTIALS_REFUSED: "credentials_refused",
    ProbeResult.REFUSED: "refused",
    ProbeResult.VERSION_REFUSED: "version_refused",
}
# Marks the commands that can brick, reboot or reconfigure a charger (the step says so).
DANGER_MARK = "⚠"


def charger_names(entry: ConfigEntry[Any]) -> dict[str, str]:
    """Every admitted charger's name (its subentry's title), by id."""
    return {
        subentry.data[CONF_CHARGER_ID]: subentry.title
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_CHARGER
    }


def known_version(entry: ConfigEntry[Any], charger_id: str) -> OcppVersion | None:
    """The version a charger spoke since Home Assistant started (None: not known)."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    system = entry.runtime_data.system
    station = system.stations.get(charger_id) if system is not None else None
    return station.version if station is not None and station.last_seen is not None else None


def check_charge_point_id(charge_point_id: str) -> bool:
    """Whether an id can be the last segment of an upstream's URL (as ours are)."""
    return charger_id_from_path("/" + charge_point_id) == charge_point_id


async def async_test(settings: UpstreamSettings, *, save_anyway: bool) -> tuple[str | None, str]:
    """The connection test: (the form's error or None, and what it met, for `{detail}`)."""
    outcome: ProbeOutcome = await probe_upstream(settings)
    if outcome.ok or (save_anyway and outcome.result in SAVABLE):
        return None, ""
    return PROBE_ERRORS[outcome.result], outcome.detail or "-"


def policy_selector() -> selector.SelectSelector:
    """The command policies, translated, as a list of choices."""
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[policy.value for policy in CommandPolicy],
            translation_key="upstream_policy",
            mode=selector.SelectSelectorMode.LIST,
        )
    )


def version_selector() -> selector.SelectSelector:
    """The OCPP versions (named as OCPP names them: not translated)."""
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[
                selector.SelectOptionDict(value=version.value, label=_version_label(version))
                for version in OcppVersion
            ],
            mode=selector.SelectSelectorMode.DROPDOWN,
        )
    )


def _version_label(version: OcppVersion) -> str:
    return "OCPP " + version.value.removeprefix("ocpp")


class UpstreamSubentryFlow(ConfigSubentryFlow):
    """Forward a charger to an upstream central system, or change its upstream."""

    def __init__(self) -> None:
        """Nothing chosen yet."""
        super().__init__()
        self._charger_id = ""
        self._version: OcppVersion | None = None  # the charger's, when known
        self._data: dict[str, Any] = {}  # the connection, once tested
        self._offer_save = False  # the last test failed in a way that may be saved

    # -- add ------------------------------------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Choose the charger (asked only when more than one has no upstream yet)."""
        entry = self._get_entry()
        forwarded = {sub.data[CONF_CHARGER_ID] for sub in upstream_subentries(entry)}
        candidates = {
            charger_id: name
            for charger_id, name in charger_names(entry).items()
            if charger_id not in forwarded
        }
        if not candidates:
            return self.async_abort(reason="no_chargers")
        if user_input is None and len(candidates) > 1:
            options = [
                selector.SelectOptionDict(value=charger_id, label=name)
                for charger_id, name in sorted(candidates.items(), key=lambda item: item[1])
            ]
            return self.async_show_form(
                step_id="user",
                data_schema=probatio.Schema(
                    {
                        probatio.Required(CONF_CHARGER_ID): selector.SelectSelector(
                            selector.SelectSelectorConfig(
                                options=options, mode=selector.SelectSelectorMode.DROPDOWN
                            )
                        )
                    }
                ),
            )
        self._charger_id = user_input[CONF_CHARGER_ID] if user_input else next(iter(candidates))
        self._version = known_version(entry, self._charger_id)
        return await self.async_step_connection()

    async def async_step_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Where the upstream is, who the charger is there, and what it may do."""
        current = {CONF_UPSTREAM_ID: self._charger_id, CONF_POLICY: CommandPolicy.MIRROR_ONLY}
        return await self._connection_step("connection", user_input, current)

    # -- reconfigure ----------------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the upstream's connection or policy."""
        subentry = self._get_reconfigure_subentry()
        self._charger_id = subentry.data[CONF_CHARGER_ID]
        self._version = known_version(self._get_entry(), self._charger_id)
        return await self._connection_step("reconfigure", user_input, dict(subentry.data))

    # -- shared ---------------------------------------------------------------------------

    async def _connection_step(
        self, step_id: str, user_input: dict[str, Any] | None, current: dict[str, Any]
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            data = self._gathered(user_input, current)
            if problem := url_problem(data[CONF_URL]):
                errors[CONF_URL], detail = "invalid_url", problem
            elif password_left_behind(user_input, current, data):
                # Before the test: the test would send the old password there.
                errors[CONF_PASSWORD] = "password_for_new_address"
            elif not check_charge_point_id(data[CONF_UPSTREAM_ID]):
                errors[CONF_UPSTREAM_ID] = "invalid_charge_point_id"
            else:
                error, detail = await async_test(
                    _settings(data), save_anyway=bool(user_input.get(CONF_SAVE_ANYWAY))
                )
                if error is not None:
                    errors["base"] = error
                # Offered after a failure that may be saved despite (the last one).
                self._offer_save = error in _SAVABLE_ERRORS
            if not errors:
                self._data = data
                if data[CONF_POLICY] == CommandPolicy.FULL:
                    return await self.async_step_commands()
                return self._finish(data[CONF_ALLOWED_COMMANDS])
        shown = {key: value for key, value in current.items() if key != CONF_PASSWORD}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                self._connection_schema(reconfigure=step_id == "reconfigure"),
                {**shown, **(user_input or {})},
            ),
            errors=errors,
            description_placeholders={"charger": self._charger_name(), "detail": detail},
        )

    def _connection_schema(self, *, reconfigure: bool) -> probatio.Schema:
        fields: dict[Any, Any] = {
            probatio.Required(CONF_URL): selector.TextSelector(
                selector.TextSelectorConfig(type=selector.TextSelectorType.URL)
            ),
            probatio.Required(CONF_UPSTREAM_ID): str,
            probatio.Optional(CONF_PASSWORD): selector.TextSelector(
                selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
            ),
        }
        if reconfigure:
            fields[probatio.Optional(CONF_REMOVE_PASSWORD, default=False)] = bool
        fields[probatio.Required(CONF_POLICY)] = policy_selector()
        if self._version is None:
            fields[probatio.Required(CONF_VERSION, default=OcppVersion.V16.value)] = (
                version_selector()
            )
        if self._offer_save:
            fields[probatio.Optional(CONF_SAVE_ANYWAY, default=False)] = bool
        return probatio.Schema(fields)

    def _gathered(self, user_input: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        """The connection the form describes (see `given_password`)."""
        url = str(user_input[CONF_URL]).strip()
        version = self._version or OcppVersion(
            user_input.get(CONF_VERSION) or current.get(CONF_VERSION) or OcppVersion.V16
        )
        return {
            CONF_URL: url,
            CONF_UPSTREAM_ID: str(user_input[CONF_UPSTREAM_ID]).strip(),
            CONF_PASSWORD: given_password(user_input, current, url),
            CONF_VERSION: version.value,
            CONF_POLICY: user_input[CONF_POLICY],
            CONF_ALLOWED_COMMANDS: current.get(CONF_ALLOWED_COMMANDS) or default_allowed(version),
        }

    async def async_step_commands(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Under the full policy: the commands the upstream may send (dangerous ones marked)."""
        if user_input is not None:
            return self._finish(list(user_input.get(CONF_ALLOWED_COMMANDS) or []))
        version = OcppVersion(self._data[CONF_VERSION])
        options = [
            selector.SelectOptionDict(
                value=name, label=f"{name} {DANGER_MARK}" if name in DANGEROUS_COMMANDS else name
            )
            for name in upstream_commands(version)
        ]
        return self.async_show_form(
            step_id="commands",
            data_schema=probatio.Schema(
                {
                    probatio.Optional(
                        CONF_ALLOWED_COMMANDS, default=list(self._data[CONF_ALLOWED_COMMANDS])
                    ): selector.SelectSelector(
                        selector.SelectSelectorConfig(
                            options=options,
                            multiple=True,
                            mode=selector.SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
            description_placeholders={"charger": self._charger_name(), "mark": DANGER_MARK},
        )

    def _finish(self, allowed: list[str]) -> SubentryFlowResult:
        data = self._data
        stored = subentry_data(
            self._charger_id,
            url=data[CONF_URL],
            charge_point_id=data[CONF_UPSTREAM_ID],
            password=data[CONF_PASSWORD],
            version=OcppVersion(data[CONF_VERSION]),
            policy=CommandPolicy(data[CONF_POLICY]),
            allowed_commands=allowed,
        )
        title = upstream_title(self._charger_name(), data[CONF_URL])
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_and_abort(
                self._get_entry(), self._get_reconfigure_subentry(), title=title, data=stored
            )
        return self.async_create_entry(
            title=title, data=stored, unique_id=upstream_unique_id(self._charger_id)
        )

    def _charger_name(self) -> str:
        return charger_names(self._get_entry()).get(self._charger_id, self._charger_id)


_SAVABLE_ERRORS = frozenset(PROBE_ERRORS[result] for result in SAVABLE)


def given_password(
    user_input: Mapping[str, Any], stored: Mapping[str, Any], url: str
) -> str | None:
    """The password a form asks for.

    The one typed; none when told to connect without one; else the stored one, for the
    same address only (`same_origin`).
    """
    if user_input.get(CONF_REMOVE_PASSWORD):
        return None
    if typed := user_input.get(CONF_PASSWORD):
        return str(typed)
    if stored.get(CONF_URL) and same_origin(stored[CONF_URL], url):
        return stored.get(CONF_PASSWORD) or None
    return None


def password_left_behind(
    user_input: Mapping[str, Any], stored: Mapping[str, Any], data: Mapping[str, Any]
) -> bool:
    """Whether a stored password was dropped without being told (the address changed)."""
    return bool(
        stored.get(CONF_PASSWORD)
        and data[CONF_PASSWORD] is None
        and not user_input.get(CONF_REMOVE_PASSWORD)
    )


def _settings(data: dict[str, Any]) -> UpstreamSettings:
    return UpstreamSettings(
        url=data[CONF_URL],
        charge_point_id=data[CONF_UPSTREAM_ID],
        version=OcppVersion(data[CONF_VERSION]),
        password=data[CONF_PASSWORD],
    )
