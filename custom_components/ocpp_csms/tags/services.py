"""Actions that manage tags: add_tag, update_tag, remove_tag and list_tags.

Tags belong to a central system (a config entry). With one central system the
actions need no `config_entry_id`; with several, they must name one. Chargers a tag
is limited to are given as their devices.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import probatio
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, MAX_CURRENT_LIMIT_A, MIN_CURRENT_A
from ..csms.authorization import Tag, TagConflictError, UnknownTagError
from ..hub import CentralSystemHub
from .options import MAX_TAG_LENGTH

ATTR_TAG = "tag"
_TAG_ID = probatio.All(cv.string, probatio.Strip, probatio.Length(min=1, max=MAX_TAG_LENGTH))
# Fields a tag can be given; in update_tag, null clears expiry, group and max_current.
_TAG_FIELDS: dict[Any, Any] = {
    probatio.Optional("name"): cv.string,
    probatio.Optional("enabled"): cv.boolean,
    probatio.Optional("expiry"): probatio.Any(None, cv.datetime),
    probatio.Optional("group"): probatio.Any(None, cv.string),
    probatio.Optional("chargers"): probatio.All(cv.ensure_list, [cv.string]),
    probatio.Optional("max_current"): probatio.Any(
        None,
        probatio.All(
            probatio.Coerce(float), probatio.Range(min=MIN_CURRENT_A, max=MAX_CURRENT_LIMIT_A)
        ),
    ),
}
_ENTRY: dict[Any, Any] = {probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}
_TAG_SCHEMA = probatio.Schema({**_ENTRY, probatio.Required(ATTR_TAG): _TAG_ID, **_TAG_FIELDS})


def _hub(hass: HomeAssistant, call: ServiceCall) -> CentralSystemHub:
    """The central system an action is for."""
    entries = hass.config_entries.async_loaded_entries(DOMAIN)
    wanted = call.data.get(ATTR_CONFIG_ENTRY_ID)
    if wanted is not None:
        entries = [entry for entry in entries if entry.entry_id == wanted]
        if not entries:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_central_system",
                translation_placeholders={"entry": wanted},
            )
    if len(entries) != 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=("central_system_required" if entries else "no_central_system_loaded"),
        )
    hub: CentralSystemHub = entries[0].runtime_data
    return hub


def _charger_ids(
    hass: HomeAssistant, hub: CentralSystemHub, device_ids: list[str]
) -> frozenset[str]:
    devices = dr.async_get(hass)
    found = set()
    for device_id in device_ids:
        device = devices.async_get(device_id)
        charger_id = hub.index.charger_for_device(device.identifiers) if device else None
        if charger_id is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_charger",
                translation_placeholders={
                    "device": (device.name_by_user or device.name or device_id)
                    if device
                    else device_id
                },
            )
        found.add(charger_id)
    return frozenset(found)


def _changes(hass: HomeAssistant, hub: CentralSystemHub, data: dict[str, Any]) -> dict[str, Any]:
    """The Tag fields an action sets."""
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = data["name"].strip()
    if "enabled" in data:
        changes["enabled"] = data["enabled"]
    if "expiry" in data:
        expiry: datetime | None = data["expiry"]
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=dt_util.get_default_time_zone())
        changes["expiry"] = dt_util.as_utc(expiry) if expiry else None
    if "group" in data:
        changes["parent_id"] = (data["group"] or "").strip() or None
    if "chargers" in data:
        changes["chargers"] = _charger_ids(hass, hub, data["chargers"])
    if "max_current" in data:
        changes["max_current_a"] = data["max_current"]
    return changes


def _tag_error(key: str, tag: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders={"tag": tag}
    )


async def _add_tag(hass: HomeAssistant, call: ServiceCall) -> None:
    hub = _hub(hass, call)
    tag = replace(Tag(call.data[ATTR_TAG]), **_changes(hass, hub, dict(call.data)))
    try:
        hub.tags.registry.add(tag)
    except TagConflictError as err:
        raise _tag_error("tag_exists", tag.id_tag) from err


async def _update_tag(hass: HomeAssistant, call: ServiceCall) -> None:
    hub = _hub(hass, call)
    try:
        hub.tags.registry.update(call.data[ATTR_TAG], **_changes(hass, hub, dict(call.data)))
    except UnknownTagError as err:
        raise _tag_error("tag_not_found", call.data[ATTR_TAG]) from err


async def _remove_tag(hass: HomeAssistant, call: ServiceCall) -> None:
    hub = _hub(hass, call)
    try:
        hub.tags.registry.remove(call.data[ATTR_TAG])
    except UnknownTagError as err:
        raise _tag_error("tag_not_found", call.data[ATTR_TAG]) from err


async def _list_tags(hass: HomeAssistant, call: ServiceCall) -> dict[str, Any]:
    hub = _hub(hass, call)
    registry = hub.tags.registry
    lists = hub.system.local_lists if hub.system else None
    states = lists.states if lists else {}
    response: dict[str, Any] = {
        "mode": registry.mode.value,
        "effective_mode": registry.effective_mode.value,
        "tags": [
            {
                "tag": tag.id_tag,
                "name": tag.name,
                "enabled": tag.enabled,
                "expiry": tag.expiry.isoformat() if tag.expiry else None,
                "group": tag.parent_id,
                "chargers": sorted(hub.index.charger_name(charger) for charger in tag.chargers),
                "max_current": tag.max_current_a,
            }
            for tag in registry.tags
        ],
        "local_lists": {
            hub.index.charger_name(charger_id): {
                "status": state.status.value,
                "version": state.version,
                "entries": state.entries,
            }
            for charger_id, state in sorted(states.items())
        },
    }
    return response


type _Handler = Callable[[HomeAssistant, ServiceCall], Awaitable[ServiceResponse | None]]


def async_setup_tag_services(hass: HomeAssistant) -> None:
    """Register the tag actions; changing tags is for administrators."""
    changing: dict[str, tuple[_Handler, probatio.Schema]] = {
        "add_tag": (_add_tag, _TAG_SCHEMA),
        "update_tag": (_update_tag, _TAG_SCHEMA),
        "remove_tag": (
            _remove_tag,
            probatio.Schema({**_ENTRY, probatio.Required(ATTR_TAG): _TAG_ID}),
        ),
    }
    for name, (handler, schema) in changing.items():

        async def handle(call: ServiceCall, handler: _Handler = handler) -> None:
            await handler(hass, call)

        async_register_admin_service(hass, DOMAIN, name, handle, schema)

    async def handle_list(call: ServiceCall) -> ServiceResponse:
        response: ServiceResponse = await _list_tags(hass, call)
        return response

    hass.services.async_register(
        DOMAIN,
        "list_tags",
        handle_list,
        probatio.Schema(_ENTRY),
        supports_response=SupportsResponse.ONLY,
    )
