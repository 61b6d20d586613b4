"""End to end in a real browser: the main job, the frontend, the dashboard, a device page.

Starts `scripts/develop`'s job (Home Assistant, the integration, a site, two simulated
chargers, the chargers' dashboard) on free ports in a temporary config directory, logs
in through the frontend's login form in headless Chromium, checks that the dashboard
(the default one) and a charger's device page show live values, then switches to
German and checks the names and states from translations/de.json. One main job
serves every check. Screenshots land in `artifacts/`: dashboard.png, device-page.png,
device-page-de.png and dashboard-de.png.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devtools.homeassistant import ROOT, HomeAssistantClient, Login

try:
    from playwright.async_api import Locator, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the test is skipped then
    async_playwright = None  # type: ignore[assignment]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or async_playwright is None,
    reason="the browser test needs Debian's chromium (scripts/setup installs it when run as root)",
)
ARTIFACTS = ROOT / "artifacts"
# Chromium as root in a closed network: no sandbox, no calls home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def main_job(tmp_path: Path) -> AsyncIterator[str]:
    """The main job on free ports; yields Home Assistant's URL; Ctrl-C (SIGINT) ends it."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.develop",
        "--config", str(tmp_path / "ha"), "--port", str(port), "--csms-port", str(free_port()),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    output: list[str] = []
    try:
        async with asyncio.timeout(240):
            while not any("Home Assistant is ready" in line for line in output):
                line = await process.stdout.readline()
                if not line:
                    pytest.fail("the main job ended early:\n" + "".join(output))
                output.append(line.decode())
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
    assert process.returncode == 0


async def _charging(client: HomeAssistantClient, entity_id: str, name: str = "") -> bool:
    """Whether `entity_id` (a power sensor) reads more than 0, under a name ending in `name`."""
    state = await client.state(entity_id)
    if state is None or not state["attributes"].get("friendly_name", "").endswith(name):
        return False
    try:
        return float(state["state"]) > 0
    except ValueError:
        return False


async def _snapshot_with(locator: Locator, wanted: list[str], seconds: float = 120) -> str:
    """The locator's aria snapshot once every pattern in `wanted` is found in it.

    Live values as a person (or a screen reader) reads them. The bound is generous: a
    simulated car that has just finished leaves, and the next one starts after 30 s.
    """
    seen = ""
    try:
        async with asyncio.timeout(seconds):
            while True:
                seen = await locator.aria_snapshot()
                if all(re.search(pattern, seen) for pattern in wanted):
                    return seen
                await asyncio.sleep(1)
    except TimeoutError:
        missing = [pattern for pattern in wanted if not re.search(pattern, seen)]
        pytest.fail(f"not shown within {seconds} s: {missing}\n{seen}")


def _section(page: Page, heading: str) -> Locator:
    """The dashboard section under `heading`."""
    return page.locator("hui-grid-section").filter(
        has=page.get_by_role("heading", name=heading, exact=True)
    )


# A reading above zero: at least one digit other than 0 ("8,280 W", not "0 W").
ABOVE_ZERO = r"[\d.,]*[1-9][\d.,]*"
GERMAN = json.loads((ROOT / "custom_components/ocpp_csms/translations/de.json").read_text())


def _german(platform: str, key: str, state: str | None = None) -> str:
    """An entity's German name (or one of its states), as translations/de.json has it."""
    entity = GERMAN["entity"][platform][key]
    return re.escape(entity["name"] if state is None else entity["state"][state])


async def _log_in(page: Page, base_url: str) -> None:
    """Log in through the frontend's login form, as a person would."""
    await page.goto(base_url)
    login = Login()
    await page.get_by_role("textbox", name="Username").fill(login.username)
    await page.get_by_role("textbox", name="Password").fill(login.password)
    await page.get_by_role("button", name="Log in").click()
    # Logged in once the frontend has stored its tokens ("Keep me logged in").
    await page.wait_for_function(
        "() => window.localStorage.getItem('hassTokens') !== null", timeout=60_000
    )


async def _open(page: Page, url: str) -> None:
    """Open `url` and wait until the frontend's launch screen has faded out."""
    await page.goto(url)
    await page.locator("#ha-launch-screen").wait_for(state="detached", timeout=60_000)


async def _speak_german(client: HomeAssistantClient, entry_id: str) -> None:
    """Switch the user, and Home Assistant itself, to German, as a German home has them.

    The frontend translates its own texts and entity states in the user's language
    (the profile page stores it as user data); entity names come from Home Assistant
    in its own language (Settings > System > General), given when the integration's
    entities are set up: the central system is reloaded for that, as after a restart.
    """
    locale = {
        "language": "de",
        "number_format": "language",
        "time_format": "language",
        "date_format": "language",
        "time_zone": "local",
        "first_weekday": "language",
    }
    await client.command("frontend/set_user_data", key="language", value=locale)
    await client.command("config/core/update", language="de")
    await client.json("POST", f"/api/config/config_entries/entry/{entry_id}/reload")


@pytest.mark.timeout(600)  # a whole Home Assistant starts and onboards
async def test_dashboard_and_device_page_show_live_values_also_in_german(main_job: str) -> None:
    base_url = main_job
    assert async_playwright is not None
    assert CHROMIUM is not None
    async with aiohttp.ClientSession() as session, async_playwright() as playwright:
        client = HomeAssistantClient(session, base_url)
        await client.onboard_or_login(Login())
        # Both chargers are admitted through discovery and start charging.
        async with asyncio.timeout(120):
            while not (
                await _charging(client, "sensor.dev_16_power")
                and await _charging(client, "sensor.dev_201_power")
            ):
                await asyncio.sleep(1)
        devices: list[dict[str, Any]] = await client.command("config/device_registry/list")
        device_id = next(device["id"] for device in devices if device["name"] == "DEV-16")
        (entry,) = await client.entries("ocpp_csms")

        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await _log_in(page, base_url)

            # The chargers' dashboard is what a user sees first.
            await _open(page, base_url)
            await page.wait_for_url(re.compile(r"/ev-chargers\b"), timeout=60_000)
            for charger in ("DEV-16", "DEV-201"):
                await _snapshot_with(
                    _section(page, charger),
                    [
                        r"Status Charging",
                        rf"Power {ABOVE_ZERO} W",
                        r"Charging On",
                        r"Current limit \d+ A",
                        r"Session energy [\d.,]+ kWh",
                        r"Session duration \d+ ?[hms]",
                        r"Energy this month [\d.,]+ kWh",
                        r"Charging mode Fast",
                    ],
                )
            await _snapshot_with(
                _section(page, "Site"),
                [r"Available current [\d.,]+ A", r"Site current limit 25 A"],
            )
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"))

            await _open(page, f"{base_url}/config/devices/device/{device_id}")
            await expect(page.get_by_text("OCPP CSMS Simulator").first).to_be_visible(
                timeout=60_000
            )
            await _snapshot_with(
                page.locator("body"),
                [
                    rf"Power {ABOVE_ZERO} W",
                    r"Current L1 [\d.,]+ A",
                    r"Energy [\d.,]+ kWh",
                    r"Status Charging",
                    r"State of charge [\d.,]+ ?%",
                ],
            )
            await page.screenshot(path=str(ARTIFACTS / "device-page.png"), full_page=True)

            await _speak_german(client, entry["entry_id"])
            async with asyncio.timeout(120):  # the chargers are back and charging
                while not await _charging(
                    client, "sensor.dev_16_power", GERMAN["entity"]["sensor"]["power"]["name"]
                ):
                    await asyncio.sleep(1)
            fast = (
                f"{_german('select', 'charging_mode')} {_german('select', 'charging_mode', 'fast')}"
            )
            await _open(page, f"{base_url}/config/devices/device/{device_id}")
            await _snapshot_with(
                page.locator("body"),
                [
                    rf"{_german('sensor', 'power')} {ABOVE_ZERO} W",
                    rf"{_german('sensor', 'status')} {_german('sensor', 'status', 'charging')}",
                    rf"{_german('sensor', 'energy_this_month')} [\d.,]+ kWh",
                    fast,
                    _german("number", "current_limit"),
                ],
            )
            await page.screenshot(path=str(ARTIFACTS / "device-page-de.png"), full_page=True)
            await _open(page, base_url)
            await _snapshot_with(
                _section(page, "DEV-16"),
                [
                    rf"{_german('sensor', 'power')} {ABOVE_ZERO} W",
                    # The switch ("Laden"), not a word that begins alike.
                    rf"\b{_german('switch', 'charging_control')}\b",
                    rf"{_german('sensor', 'session_energy')} [\d.,]+ kWh",
                    fast,
                ],
            )
            await _snapshot_with(
                _section(page, "Site"),
                [
                    rf"{_german('sensor', 'site_available_current')} [\d.,]+ A",
                    rf"{_german('number', 'site_limit')} 25 A",
                ],
            )
            await page.screenshot(path=str(ARTIFACTS / "dashboard-de.png"))
        finally:
            await browser.close()
            await client.close()
