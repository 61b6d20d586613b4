"""What the main job sets up in Home Assistant, against a stand-in for its API."""

from __future__ import annotations

from typing import Any

from devtools import develop
from devtools.dashboard import URL_PATH
from devtools.homeassistant import HomeAssistantClient, HomeAssistantError
from tests.test_dashboard import DEVICES, GARAGE


class FakeHomeAssistant:
    """The WebSocket commands the dashboard needs, with lovelace's and frontend's state."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = list(GARAGE)
        self.dashboards: list[dict[str, Any]] = []
        self.configs: dict[str, dict[str, Any]] = {}
        self.system: dict[str, Any] = {}
        self.writes: list[str] = []

    async def command(self, command_type: str, **fields: Any) -> Any:
        match command_type:
            case "config/entity_registry/list":
                return [dict(entity) for entity in self.entities]
            case "config/device_registry/list":
                return DEVICES
            case "lovelace/dashboards/list":
                return self.dashboards
            case "lovelace/dashboards/create":
                self.dashboards.append(fields)
            case "lovelace/config":
                if fields["url_path"] not in self.configs:
                    raise HomeAssistantError("lovelace/config: config_not_found")
                return self.configs[fields["url_path"]]
            case "lovelace/config/save":
                self.configs[fields["url_path"]] = fields["config"]
            case "frontend/get_system_data":
                return {"value": self.system.get(fields["key"])}
            case "frontend/set_system_data":
                self.system[fields["key"]] = fields["value"]
            case _:
                raise AssertionError(command_type)
        self.writes.append(command_type)
        return None

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:8123"


def client(fake: FakeHomeAssistant) -> HomeAssistantClient:
    return fake  # type: ignore[return-value]  # only what the job calls


async def test_the_dashboard_is_made_once_and_written_only_when_entities_change() -> None:
    fake = FakeHomeAssistant()
    shown = await develop.update_dashboard(client(fake), None)
    assert fake.writes == [
        "lovelace/dashboards/create",
        "frontend/set_system_data",
        "lovelace/config/save",
    ]
    assert [dashboard["url_path"] for dashboard in fake.dashboards] == [URL_PATH]
    assert fake.dashboards[0]["show_in_sidebar"] is True
    assert fake.system["core"] == {"default_panel": URL_PATH}
    assert fake.configs[URL_PATH] == shown

    fake.writes.clear()
    assert await develop.update_dashboard(client(fake), shown) == shown
    # The next run of the job: the dashboard is there and shows the same.
    assert await develop.update_dashboard(client(fake), None) == shown
    assert fake.writes == []

    fake.entities[1] = {**fake.entities[1], "entity_id": "sensor.garage_watts"}  # renamed
    shown = await develop.update_dashboard(client(fake), shown)
    assert fake.writes == ["lovelace/config/save"]
    assert "sensor.garage_watts" in str(fake.configs[URL_PATH])
    assert len(fake.dashboards) == 1


async def test_a_default_someone_chose_stays() -> None:
    fake = FakeHomeAssistant()
    fake.system["core"] = {"default_panel": "energy", "other": 1}
    await develop.update_dashboard(client(fake), None)
    assert fake.system["core"] == {"default_panel": "energy", "other": 1}
    assert "frontend/set_system_data" not in fake.writes


class FakeOptions:
    """A central system's options flow as REST answers it, up to the site step."""

    def __init__(self, fuse: int | None) -> None:
        self.fuse = fuse
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    async def entries(self, domain: str) -> list[dict[str, Any]]:
        return [{"entry_id": "01ENTRY", "domain": domain}]

    async def start_options_flow(self, entry_id: str) -> dict[str, Any]:
        return {"flow_id": "flow", "type": "menu", "step_id": "init"}

    async def options_flow_step(self, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(data)
        if data == {"next_step_id": "site"}:
            fuse = {"name": "site_fuse_a", "required": False}
            if self.fuse is not None:
                fuse["description"] = {"suggested_value": self.fuse}
            return {"flow_id": flow_id, "type": "form", "step_id": "site", "data_schema": [fuse]}
        return {"flow_id": flow_id, "type": "create_entry"}

    async def close_options_flow(self, flow_id: str) -> None:
        self.closed = True


async def test_the_site_is_described_once_and_a_changed_one_is_kept() -> None:
    new = FakeOptions(fuse=None)
    await develop.ensure_site(new)  # type: ignore[arg-type]
    assert new.sent[-1] == {"site_fuse_a": develop.SITE_FUSE_A}
    assert not new.closed

    changed = FakeOptions(fuse=40)  # an earlier run's site, changed by hand
    await develop.ensure_site(changed)  # type: ignore[arg-type]
    assert changed.sent == [{"next_step_id": "site"}]
    assert changed.closed
