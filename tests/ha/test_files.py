"""Firmware served and diagnostics received by Home Assistant itself, behind tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from custom_components.ocpp_csms import http as files
from custom_components.ocpp_csms.const import DOMAIN
from tests.chargers import charger, wait_for
from tests.ha.conftest import SetUpEntry, url_of
from tests.ha.test_entities import garage
from tests.ha.test_services import call


@pytest.fixture
async def served(
    hass: HomeAssistant, setup_entry: SetUpEntry, hass_client_no_auth: Any, tmp_path: Path
) -> tuple[Any, Any]:
    """A central system whose chargers reach Home Assistant's HTTP server on loopback."""
    hass.config.config_dir = str(tmp_path)
    entry = await setup_entry(chargers=[garage()])
    client = await hass_client_no_auth()
    base = str(client.make_url("")).rstrip("/")
    hass.config_entries.async_update_entry(entry, options={"base_url": base})
    await hass.async_block_till_done()
    return entry, client


def firmware_file(hass: HomeAssistant, name: str = "fw-2.bin", size: int = 2048) -> Path:
    path = Path(hass.config.path(files.FIRMWARE_FOLDER)) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x01" * size)
    return path


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_firmware_file_is_served_once(
    hass: HomeAssistant, served: tuple[Any, Any], version: str
) -> None:
    entry, http_client = served
    firmware_file(hass)
    statuses: list[str] = []
    # A callback runs in the loop, in order; a plain function would run in the
    # executor, where the statuses can be appended out of order.
    hass.bus.async_listen(
        f"{DOMAIN}_firmware_status", callback(lambda event: statuses.append(event.data["status"]))
    )
    station = entry.runtime_data.system.ensure_station("CP-1")
    async with charger(url_of(entry), "CP-1", version) as client:
        await client.boot()
        await call(hass, entry, "update_firmware", {"file": "fw-2.bin"})
        await wait_for(lambda: station.firmware_status == "Installed")
        await hass.async_block_till_done()
        assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
        assert client.firmware_version_installed.endswith("+2048b")
        # The URL the charger got: a token and the file name, nothing guessable.
        _, payload = next(item for item in client.received if item[0] == "UpdateFirmware")
        location = payload.get("location") or payload["firmware"]["location"]
        path = location.removeprefix(str(http_client.make_url("")).rstrip("/"))
        assert path.startswith("/api/ocpp_csms/firmware/")
        assert path.endswith("/fw-2.bin")
        # Used up: the update is over, the URL no longer works.
        assert (await http_client.get(path)).status == 404
        assert (await http_client.get("/api/ocpp_csms/firmware/guess/fw-2.bin")).status == 404


async def test_expired_firmware_url_fails_the_update_with_a_repair(
    hass: HomeAssistant, served: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    entry, _ = served
    firmware_file(hass)
    monkeypatch.setattr(files, "TOKEN_LIFETIME", timedelta(seconds=-1))
    station = entry.runtime_data.system.ensure_station("CP-1")
    async with charger(url_of(entry), "CP-1") as client:
        await client.boot()
        await call(hass, entry, "update_firmware", {"file": "fw-2.bin"})
        await wait_for(lambda: station.firmware_status == "DownloadFailed")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"firmware_failed_{entry.entry_id}_CP-1")
    assert issue is not None
    assert issue.translation_placeholders == {"charger": "Garage", "status": "DownloadFailed"}


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_diagnostics_land_in_the_config_directory(
    hass: HomeAssistant, served: tuple[Any, Any], version: str
) -> None:
    entry, http_client = served
    received: list[Any] = []
    hass.bus.async_listen(
        f"{DOMAIN}_diagnostics_received", callback(lambda e: received.append(e.data))
    )
    station = entry.runtime_data.system.ensure_station("CP-1")
    async with charger(url_of(entry), "CP-1", version) as client:
        await client.boot()
        answer = await call(hass, entry, "upload_diagnostics", {})
        assert answer["file_name"] == "CP-1-diagnostics.txt"
        await wait_for(lambda: station.diagnostics_status == "Uploaded")
        await hass.async_block_till_done()
        [stored] = received
        path = Path(stored["path"])
        assert path.parent == Path(hass.config.path(files.DIAGNOSTICS_FOLDER)) / "CP-1"
        assert path.name.endswith("-CP-1-diagnostics.txt")
        text = await hass.async_add_executor_job(path.read_text)
        assert text.startswith("Simulated diagnostics of CP-1")
        # The token is spent.
        url = client.uploads[0].removeprefix(str(http_client.make_url("")).rstrip("/"))
        assert (await http_client.post(url, data=b"again")).status == 404


async def test_upload_limits_and_tokens(
    hass: HomeAssistant, served: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, http_client = served
    monkeypatch.setattr(files, "MAX_UPLOAD_BYTES", 1000)
    exchange = hass.data[files.EXCHANGE]
    assert (await http_client.put("/api/ocpp_csms/diagnostics/nothing", data=b"x")).status == 404
    token = exchange.grant("diagnostics", "CP-1")
    assert (
        await http_client.put(f"/api/ocpp_csms/diagnostics/{token}", data=b"x" * 2000)
    ).status == 413
    assert (
        await http_client.put(f"/api/ocpp_csms/diagnostics/{token}", data=b"small")
    ).status == 200
    assert (
        await http_client.put(f"/api/ocpp_csms/diagnostics/{token}", data=b"small")
    ).status == 404
    firmware = exchange.grant("firmware", "CP-1", firmware_file(hass))
    # A firmware token does not open the upload door.
    assert (
        await http_client.put(f"/api/ocpp_csms/diagnostics/{firmware}", data=b"x")
    ).status == 404


async def test_firmware_input_is_checked(hass: HomeAssistant, served: tuple[Any, Any]) -> None:
    entry, _ = served
    async with charger(url_of(entry), "CP-1") as client:
        await client.boot()
        for data, key in (
            ({}, "url_or_file"),
            ({"file": "missing.bin"}, "firmware_not_found"),
            ({"file": "../secrets.yaml"}, "firmware_not_found"),
        ):
            with pytest.raises(ServiceValidationError) as error:
                await call(hass, entry, "update_firmware", data)
            assert error.value.translation_key == key


async def test_no_base_url_is_explained(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    """Without an option and without a known URL, the action says what to set."""
    from homeassistant.helpers.network import NoURLAvailableError

    entry = await setup_entry(chargers=[garage()])
    async with charger(url_of(entry), "CP-1") as client:
        await client.boot()
        with (
            patch("custom_components.ocpp_csms.services.get_url", side_effect=NoURLAvailableError),
            pytest.raises(ServiceValidationError) as error,
        ):
            await call(hass, entry, "upload_diagnostics", {})
        assert error.value.translation_key == "no_base_url"


async def test_options_flow_sets_the_base_url(hass: HomeAssistant, setup_entry: SetUpEntry) -> None:
    entry = await setup_entry()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"base_url": "ftp://nope"}
    )
    assert result["errors"] == {"base_url": "invalid_url"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"base_url": "http://192.168.1.10:8123/"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"base_url": "http://192.168.1.10:8123"}
