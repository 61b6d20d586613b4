"""The chargers' dashboard that `scripts/develop` keeps (devtools/dashboard.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from homeassistant.util.yaml import parse_yaml

from custom_components.ocpp_csms.identifiers import unique_id_for
from devtools.dashboard import TITLE, dashboard_config
from devtools.homeassistant import ROOT

ENTRY = "01ENTRY"
OTHER_ENTRY = "01OTHER"


def charger_entity(
    entity_id: str,
    charger: str,
    key: str,
    evse: int | None = 1,
    *,
    entry: str = ENTRY,
    **fields: Any,
) -> dict[str, Any]:
    """A registry entry as `config/entity_registry/list` gives it."""
    return {
        "entity_id": entity_id,
        "platform": "ocpp_csms",
        "config_entry_id": entry,
        "device_id": f"device-{charger}",
        "unique_id": unique_id_for(entry, charger, evse, key),
        "translation_key": key,
        "disabled_by": None,
        "hidden_by": None,
        **fields,
    }


def site_entity(entity_id: str, key: str, entry: str = ENTRY) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "platform": "ocpp_csms",
        "config_entry_id": entry,
        "device_id": f"device-{entry}",
        "unique_id": f"{entry}-site-{key}",
        "translation_key": key,
        "disabled_by": None,
        "hidden_by": None,
    }


def device(device_id: str, name: str, name_by_user: str | None = None) -> dict[str, Any]:
    return {"id": device_id, "name": name, "name_by_user": name_by_user}


GARAGE = [
    charger_entity("sensor.garage_status", "CP-1", "status"),
    # Renamed by its owner: found by its unique id all the same.
    charger_entity("sensor.garage_power", "CP-1", "power"),
    charger_entity("sensor.my_car_power", "CP-1", "power", evse=None, disabled_by="user"),
    charger_entity("switch.garage_charging", "CP-1", "charging_control"),
    charger_entity("sensor.garage_session_energy", "CP-1", "session_energy"),
    charger_entity("sensor.garage_session_duration", "CP-1", "session_duration"),
    charger_entity("sensor.garage_energy_this_month", "CP-1", "energy_this_month", evse=None),
    charger_entity("number.garage_current_limit", "CP-1", "current_limit", evse=None),
    charger_entity("select.garage_charging_mode", "CP-1", "charging_mode", evse=None),
    charger_entity("sensor.garage_charging_plan", "CP-1", "charging_plan", evse=None),
    charger_entity("sensor.garage_voltage", "CP-1", "voltage"),  # not on the dashboard
]
DEVICES = [
    device("device-CP-1", "CP-1", name_by_user="Garage"),
    device("device-CP-2", "CP-2", name_by_user="Drive"),
    device(f"device-{ENTRY}", "OCPP Central System (port 9000)"),
    device(f"device-{OTHER_ENTRY}", "OCPP Central System (port 9001)"),
]


def sections(config: dict[str, Any]) -> list[dict[str, Any]]:
    (view,) = config["views"]
    assert view["type"] == "sections"
    found: list[dict[str, Any]] = view["sections"]
    return found


def headings(config: dict[str, Any]) -> list[str]:
    return [section["cards"][0]["heading"] for section in sections(config)]


def tiles(section: dict[str, Any]) -> list[str]:
    return [card["entity"] for card in section["cards"] if card["type"] == "tile"]


def test_a_charger_shows_its_readings_and_controls_by_unique_id() -> None:
    config = dashboard_config(
        [*GARAGE, site_entity("sensor.site_available", "site_available_current")], DEVICES
    )
    assert config["title"] == TITLE
    assert headings(config) == ["Garage", "Site"]
    garage, site = sections(config)
    assert garage["cards"][0]["tap_action"] == {
        "action": "navigate",
        "navigation_path": "/config/devices/device/device-CP-1",
    }
    assert tiles(garage) == [
        "sensor.garage_status",
        "sensor.garage_power",
        "switch.garage_charging",
        "sensor.garage_session_energy",
        "sensor.garage_session_duration",
        "sensor.garage_energy_this_month",
        "number.garage_current_limit",
        "select.garage_charging_mode",
        "sensor.garage_charging_plan",
    ]
    cards = {card.get("entity"): card for card in garage["cards"]}
    # Controls are on their tiles; each tile names only its entity (the heading says
    # which charger).
    assert cards["switch.garage_charging"]["features"] == [{"type": "toggle"}]
    assert cards["number.garage_current_limit"]["features"][0]["type"] == "numeric-input"
    assert cards["select.garage_charging_mode"]["features"] == [{"type": "select-options"}]
    assert all(card["name"] == {"type": "entity"} for card in garage["cards"][1:])
    assert tiles(site) == ["sensor.site_available"]


def test_two_plain_tiles_a_row_and_a_control_or_one_left_over_a_row_to_itself() -> None:
    (garage,) = sections(dashboard_config(GARAGE, DEVICES))
    full = [
        card["entity"]
        for card in garage["cards"][1:]
        if card.get("grid_options") == {"columns": "full"}
    ]
    assert full == [
        "switch.garage_charging",
        "sensor.garage_energy_this_month",  # the third reading after the switch
        "number.garage_current_limit",
        "select.garage_charging_mode",
        "sensor.garage_charging_plan",  # left over after the last control
    ]


def test_the_same_registries_give_the_same_dashboard_in_any_order() -> None:
    entities = [
        *GARAGE,
        charger_entity("sensor.drive_status", "CP-2", "status"),
        site_entity("number.site_limit", "site_limit"),
    ]
    config = dashboard_config(entities, DEVICES)
    assert dashboard_config(list(reversed(entities)), list(reversed(DEVICES))) == config
    assert json.loads(json.dumps(config)) == config  # what lovelace/config/save stores
    assert headings(config) == ["Drive", "Garage", "Site"]  # chargers by name


def test_a_charger_with_two_connectors_shows_both() -> None:
    entities = [
        charger_entity("sensor.twin_connector_2_status", "TWIN", "status", evse=2),
        charger_entity("sensor.twin_status", "TWIN", "status", evse=1),
        charger_entity("number.twin_current_limit", "TWIN", "current_limit", evse=None),
    ]
    (twin,) = sections(dashboard_config(entities, []))
    assert twin["cards"][0]["heading"] == "TWIN"  # a device without a name: its charger id
    assert tiles(twin) == [
        "sensor.twin_status",
        "sensor.twin_connector_2_status",
        "number.twin_current_limit",
    ]


def test_other_integrations_and_hidden_entities_stay_off() -> None:
    foreign = {**charger_entity("sensor.other", "CP-1", "power"), "platform": "other"}
    hidden = charger_entity("sensor.garage_status", "CP-1", "status", hidden_by="user")
    config = dashboard_config([foreign, hidden], DEVICES)
    (hint,) = sections(config)
    assert hint["cards"][0]["type"] == "markdown"  # no charger yet


def test_each_central_system_has_its_site() -> None:
    config = dashboard_config(
        [
            site_entity("sensor.first_available", "site_available_current"),
            site_entity("number.first_limit", "site_limit"),
            site_entity("sensor.second_available", "site_available_current", OTHER_ENTRY),
        ],
        DEVICES,
    )
    assert headings(config) == [
        "Site: OCPP Central System (port 9000)",
        "Site: OCPP Central System (port 9001)",
    ]
    first, second = sections(config)
    assert tiles(first) == ["sensor.first_available", "number.first_limit"]
    assert tiles(second) == ["sensor.second_available"]


def test_the_readme_shows_the_cards_the_main_job_makes() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Dashboard\n")
    part = readme[start : readme.index("\n## ", start)]
    shown = [parse_yaml(block) for block in re.findall(r"```yaml\n(.*?)```", part, re.S)]
    made = sections(
        dashboard_config(
            [
                *GARAGE,
                site_entity(
                    "sensor.ocpp_central_system_port_9000_available_current",
                    "site_available_current",
                ),
                site_entity(
                    "number.ocpp_central_system_port_9000_site_current_limit", "site_limit"
                ),
            ],
            DEVICES,
        )
    )
    for section in made:  # a heading made by hand does not know the device
        del section["cards"][0]["tap_action"]
    assert shown == made
