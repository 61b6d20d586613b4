"""The chargers' dashboard: Lovelace cards built from Home Assistant's registries.

Pure: it takes what `config/entity_registry/list` and `config/device_registry/list`
answer and returns a dashboard configuration (what `lovelace/config/save` takes). The
integration's entities are found by their unique ids (charger, EVSE and key, as
`identifiers.unique_id_for` makes them) and the site's by translation key, never by
guessed entity ids, so a renamed entity stays on the dashboard. The same registries
give the same configuration, so saving it again changes nothing.

Only built-in cards: a sections view with, per charger, a heading and tiles, and one
section per central system with a site (load balancing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from custom_components.ocpp_csms.const import DOMAIN
from custom_components.ocpp_csms.identifiers import parse_unique_id

TITLE = "Chargers"
ICON = "mdi:ev-station"
# A storage dashboard's URL path needs a hyphen.
URL_PATH = "ev-chargers"

Feature = dict[str, Any]
_BUTTONS: Feature = {"type": "numeric-input", "style": "buttons"}
# A charger's tiles in order: the key in the entity's unique id, and the tile's features.
CHARGER_TILES: tuple[tuple[str, tuple[Feature, ...]], ...] = (
    ("status", ()),
    ("power", ()),
    ("charging_control", ({"type": "toggle"},)),
    ("session_energy", ()),
    ("session_duration", ()),
    ("energy_this_month", ()),
    ("current_limit", (_BUTTONS,)),
    ("charging_mode", ({"type": "select-options"},)),
    ("charging_plan", ()),
)
# The site's tiles, on the central system's device: translation key and features.
SITE_TILES: tuple[tuple[str, tuple[Feature, ...]], ...] = (
    ("site_available_current", ()),
    ("site_limit", (_BUTTONS,)),
)

Registry = Iterable[Mapping[str, Any]]


def dashboard_config(entities: Registry, devices: Registry) -> dict[str, Any]:
    """The dashboard: a section per charger (by name), then each site's section."""
    names = {
        device["id"]: device.get("name_by_user") or device.get("name") or device["id"]
        for device in devices
    }
    # (entry, charger id) -> key -> [(EVSE id, 0 for the charger itself; entity id)]
    chargers: dict[tuple[str, str], dict[str, list[tuple[int, str]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    charger_devices: dict[tuple[str, str], str] = {}
    # entry -> translation key -> entity id; entry -> the central system's device
    sites: dict[str, dict[str, str]] = defaultdict(dict)
    site_devices: dict[str, str] = {}
    for entity in entities:
        if entity.get("platform") != DOMAIN or entity.get("disabled_by") is not None:
            continue  # a disabled entity has no state to show
        if entity.get("hidden_by") is not None:
            continue  # someone chose not to see it
        entry_id, unique_id = entity.get("config_entry_id"), entity.get("unique_id")
        if not entry_id or not unique_id:
            continue
        device_id = entity.get("device_id")
        if entity.get("translation_key") in dict(SITE_TILES):
            sites[entry_id][entity["translation_key"]] = entity["entity_id"]
            if device_id:
                site_devices[entry_id] = device_id
        elif (parsed := parse_unique_id(entry_id, unique_id)) is not None:
            charger_id, evse_id, key = parsed
            chargers[entry_id, charger_id][key].append((evse_id or 0, entity["entity_id"]))
            if device_id:
                charger_devices[entry_id, charger_id] = device_id

    def charger_name(charger: tuple[str, str]) -> str:
        return names.get(charger_devices.get(charger, ""), charger[1])

    sections = [
        _charger_section(charger_name(charger), charger_devices.get(charger), chargers[charger])
        for charger in sorted(chargers, key=lambda charger: (charger_name(charger), charger))
    ]
    for entry_id in sorted(sites):
        device_id = site_devices.get(entry_id)
        heading = "Site"
        if len(sites) > 1:  # which central system's
            heading += f": {names.get(device_id or '', entry_id)}"
        tiles = [
            _tile(sites[entry_id][key], features)
            for key, features in SITE_TILES
            if key in sites[entry_id]
        ]
        sections.append(_section(heading, "mdi:transmission-tower", device_id, tiles))
    if not sections:
        hint = {
            "type": "markdown",
            "content": "No charger yet: add one in *Settings > Devices & services*.",
        }
        sections.append({"type": "grid", "cards": [hint]})
    view = {
        "title": TITLE,
        "path": "chargers",
        "icon": ICON,
        "type": "sections",
        "max_columns": 3,
        "sections": sections,
    }
    return {"title": TITLE, "views": [view]}


def _charger_section(
    name: str, device_id: str | None, keys: Mapping[str, list[tuple[int, str]]]
) -> dict[str, Any]:
    tiles = [
        _tile(entity_id, features)
        for key, features in CHARGER_TILES
        for _, entity_id in sorted(keys.get(key, ()))
    ]
    return _section(name, ICON, device_id, tiles)


def _section(
    heading: str, icon: str, device_id: str | None, tiles: list[dict[str, Any]]
) -> dict[str, Any]:
    title: dict[str, Any] = {"type": "heading", "heading": heading, "icon": icon}
    if device_id:  # the heading opens the device's page
        title["tap_action"] = {
            "action": "navigate",
            "navigation_path": f"/config/devices/device/{device_id}",
        }
    return {"type": "grid", "cards": [title, *_laid_out(tiles)]}


def _tile(entity_id: str, features: tuple[Feature, ...]) -> dict[str, Any]:
    # The entity's own name ("Power"): the section's heading names the charger.
    tile: dict[str, Any] = {"type": "tile", "entity": entity_id, "name": {"type": "entity"}}
    if features:
        tile["features"] = [dict(feature) for feature in features]
        tile["features_position"] = "inline"
    return tile


def _laid_out(tiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two plain tiles a row; a tile with a control, or one left over, has a row to itself."""
    run: list[dict[str, Any]] = []  # plain tiles since the last full-width one
    for tile in tiles:
        if "features" in tile:
            if len(run) % 2:
                run[-1]["grid_options"] = {"columns": "full"}
            run = []
            tile["grid_options"] = {"columns": "full"}
        else:
            run.append(tile)
    if len(run) % 2:
        run[-1]["grid_options"] = {"columns": "full"}
    return tiles
