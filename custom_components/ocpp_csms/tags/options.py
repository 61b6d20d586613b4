"""The tag menu of the options flow: list, add, edit and remove tags, and the mode.

Tags live in the central system's tag store, not in the entry's options: each step
changes the registry (which saves itself and pushes local lists) and then ends the
flow leaving the options as they were.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import probatio
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers import selector
from homeassistant.util import dt as dt_util

from ..csms.authorization import (
    AuthorizationMode,
    Tag,
    TagConflictError,
    TagRegistry,
    UnknownTagError,
    tag_key,
)
from ..hub import CentralSystemHub
from ..selectors import amps_selector

CONF_ID_TAG = "id_tag"
CONF_TAG_NAME = "name"
CONF_ENABLED = "enabled"
CONF_VALID_UNTIL = "valid_until"
CONF_GROUP = "parent_id"
CONF_TAG_CHARGERS = "chargers"
CONF_TAG_MAX_CURRENT = "max_current"
CONF_TAGS = "tags"
CONF_MODE = "mode"
# The longest idToken any OCPP version carries (2.x: 36; 1.6 takes 20).
MAX_TAG_LENGTH = 36


def expiry_from_valid_until(valid_until: str | date | None) -> datetime | None:
    """A tag valid until a day (inclusive) expires at the next local midnight."""
    if not valid_until:
        return None
    day = valid_until if isinstance(valid_until, date) else date.fromisoformat(valid_until)
    midnight = datetime.combine(day + timedelta(days=1), time(), dt_util.get_default_time_zone())
    return dt_util.as_utc(midnight)


def valid_until_from_expiry(expiry: datetime | None) -> str | None:
    """The last local day a tag is valid on (the date shown in the form)."""
    if expiry is None:
        return None
    return (dt_util.as_local(expiry) - timedelta(microseconds=1)).date().isoformat()


def describe_tags(hub: CentralSystemHub) -> str:
    """The tags as a Markdown list for the options flow."""
    registry = hub.tags.registry
    if not registry.tags:
        return "-"
    lines = []
    for tag in registry.tags:
        details = []
        if not tag.enabled:
            details.append("⛔")
        if tag.expiry is not None:
            details.append(f"≤ {valid_until_from_expiry(tag.expiry)}")
        if tag.parent_id:
            details.append(f"⟶ {tag.parent_id}")
        if tag.chargers:
            details.append(", ".join(sorted(hub.index.charger_name(c) for c in tag.chargers)))
        if tag.max_current_a is not None:
            details.append(f"{tag.max_current_a:g} A")
        name = f" {tag.name}" if tag.name else ""
        suffix = f" ({'; '.join(details)})" if details else ""
        lines.append(f"- `{tag.id_tag}`{name}{suffix}")
    return "\n".join(lines)


def _tag_schema(hub: CentralSystemHub, *, with_id: bool) -> probatio.Schema:
    chargers = [
        selector.SelectOptionDict(value=charger_id, label=hub.index.charger_name(charger_id))
        for charger_id in sorted(hub.index.admitted)
    ]
    fields: dict[Any, Any] = {}
    if with_id:
        fields[probatio.Required(CONF_ID_TAG)] = probatio.All(
            str, probatio.Strip, probatio.Length(1, MAX_TAG_LENGTH)
        )
    fields.update(
        {
            probatio.Optional(CONF_TAG_NAME): str,
            probatio.Required(CONF_ENABLED, default=True): bool,
            probatio.Optional(CONF_VALID_UNTIL): selector.DateSelector(),
            probatio.Optional(CONF_GROUP): str,
            probatio.Optional(CONF_TAG_CHARGERS): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=chargers, multiple=True, mode=selector.SelectSelectorMode.LIST
                )
            ),
            probatio.Optional(CONF_TAG_MAX_CURRENT): amps_selector(),
        }
    )
    return probatio.Schema(fields)


def _tag_fields(user_input: dict[str, Any]) -> dict[str, Any]:
    """The Tag fields a form sets (an empty field clears the value)."""
    limit = user_input.get(CONF_TAG_MAX_CURRENT)
    return {
        "name": (user_input.get(CONF_TAG_NAME) or "").strip(),
        "enabled": bool(user_input.get(CONF_ENABLED, True)),
        "expiry": expiry_from_valid_until(user_input.get(CONF_VALID_UNTIL)),
        "parent_id": (user_input.get(CONF_GROUP) or "").strip() or None,
        "chargers": frozenset(user_input.get(CONF_TAG_CHARGERS) or ()),
        "max_current_a": float(limit) if limit else None,
    }


def _form_values(tag: Tag) -> dict[str, Any]:
    values: dict[str, Any] = {
        CONF_TAG_NAME: tag.name,
        CONF_ENABLED: tag.enabled,
        CONF_VALID_UNTIL: valid_until_from_expiry(tag.expiry),
        CONF_GROUP: tag.parent_id,
        CONF_TAG_CHARGERS: sorted(tag.chargers),
        CONF_TAG_MAX_CURRENT: tag.max_current_a,
    }
    return {key: value for key, value in values.items() if value not in (None, "", [])}


def _tag_choice(registry: TagRegistry, *, multiple: bool) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[
                selector.SelectOptionDict(value=tag.key, label=f"{tag.id_tag} {tag.name}".strip())
                for tag in registry.tags
            ],
            multiple=multiple,
            mode=selector.SelectSelectorMode.DROPDOWN,
        )
    )


class TagOptionsSteps(OptionsFlow):
    """The options-flow steps that manage tags (mixed into the options flow)."""

    _editing: str | None = None

    @property
    def _hub(self) -> CentralSystemHub | None:
        return getattr(self.config_entry, "runtime_data", None)

    def _unchanged(self) -> ConfigFlowResult:
        """End the flow: tags are stored apart, the options stay as they were."""
        return self.async_create_entry(data=dict(self.config_entry.options))

    async def async_step_tags(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The tag menu."""
        if (hub := self._hub) is None:
            return self.async_abort(reason="not_loaded")
        options = ["list_tags", "add_tag", "authorization"]
        if hub.tags.registry.tags:
            options[2:2] = ["edit_tag", "remove_tag"]
        return self.async_show_menu(
            step_id="tags",
            menu_options=options,
            description_placeholders={"count": str(len(hub.tags.registry.tags))},
        )

    async def async_step_list_tags(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show every tag; submitting goes back to the menu."""
        if (hub := self._hub) is None:
            return self.async_abort(reason="not_loaded")
        if user_input is not None:
            return await self.async_step_tags()
        return self.async_show_form(
            step_id="list_tags",
            data_schema=probatio.Schema({}),
            description_placeholders={"tags": describe_tags(hub)},
        )

    async def async_step_add_tag(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a tag by its id."""
        if (hub := self._hub) is None:
            return self.async_abort(reason="not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                hub.tags.registry.add(Tag(user_input[CONF_ID_TAG], **_tag_fields(user_input)))
            except TagConflictError:
                errors[CONF_ID_TAG] = "tag_exists"
            else:
                return self._unchanged()
        schema = _tag_schema(hub, with_id=True)
        return self.async_show_form(
            step_id="add_tag",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
        )

    async def async_step_edit_tag(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the tag to edit."""
        if (hub := self._hub) is None:
            return self.async_abort(reason="not_loaded")
        if user_input is not None:
            self._editing = tag_key(user_input[CONF_ID_TAG])
            return await self.async_step_edit_tag_details()
        return self.async_show_form(
            step_id="edit_tag",
            data_schema=probatio.Schema(
                {probatio.Required(CONF_ID_TAG): _tag_choice(hub.tags.registry, multiple=False)}
            ),
        )

    async def async_step_edit_tag_details(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change a tag's name, validity, group, chargers or limit."""
        hub = self._hub
        tag = hub.tags.registry.get(self._editing or "") if hub else None
        if hub is None or tag is None:
            return self.async_abort(reason="tag_not_found")
        if user_input is not None:
            try:
                hub.tags.registry.update(tag.id_tag, **_tag_fields(user_input))
            except UnknownTagError:
                return self.async_abort(reason="tag_not_found")
            return self._unchanged()
        schema = _tag_schema(hub, with_id=False)
        return self.async_show_form(
            step_id="edit_tag_details",
            data_schema=self.add_suggested_values_to_schema(schema, _form_values(tag)),
            description_placeholders={"tag": tag.id_tag},
        )

    async def async_step_remove_tag(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Remove one or more tags."""
        if (hub := self._hub) is None:
            return self.async_abort(reason="not_loaded")
        if user_input is not None:
            for key in user_input.get(CONF_TAGS) or ():
                if hub.tags.registry.get(key) is not None:
                    hub.tags.registry.remove(key)
            return self._unchanged()
        return self.async_show_form(
            step_id="remove_tag",
            data_schema=probatio.Schema(
                {probatio.Required(CONF_TAGS): _tag_choice(hub.tags.registry, multiple=True)}
            ),
        )

    async def async_step_authorization(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose which tags may charge: known tags only, or every tag."""
        if (hub := self._hub) is None:
            return self.async_abort(reason="not_loaded")
        registry = hub.tags.registry
        if user_input is not None:
            registry.set_mode(AuthorizationMode(user_input[CONF_MODE]))
            return self._unchanged()
        return self.async_show_form(
            step_id="authorization",
            data_schema=probatio.Schema(
                {
                    probatio.Required(
                        CONF_MODE, default=registry.mode.value
                    ): selector.SelectSelector(
                        selector.SelectSelectorConfig(
                            options=[mode.value for mode in AuthorizationMode],
                            translation_key="authorization_mode",
                            mode=selector.SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
        )
