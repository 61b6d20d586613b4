"""End to end in a real browser: the main job, the frontend, a charger's device page.

Starts `scripts/develop`'s job (Home Assistant, the integration, two simulated
chargers) on free ports in a temporary config directory, logs in through the
frontend's login form in headless Chromium, opens a charger's device page and checks
that its entities show live values. A screenshot lands in `artifacts/`.
"""

from __future__ import annotations

import asyncio
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
    from playwright.async_api import async_playwright, expect
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


async def _charging(client: HomeAssistantClient, entity_id: str) -> bool:
    state = await client.state(entity_id)
    try:
        return state is not None and float(state["state"]) > 0
    except ValueError:
        return False


@pytest.mark.timeout(300)  # a whole Home Assistant starts and onboards
async def test_device_page_shows_live_values(main_job: str) -> None:
    base_url = main_job
    async with aiohttp.ClientSession() as session:
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
        await client.close()

    assert async_playwright is not None
    assert CHROMIUM is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(base_url)
            login = Login()
            await page.get_by_role("textbox", name="Username").fill(login.username)
            await page.get_by_role("textbox", name="Password").fill(login.password)
            await page.get_by_role("button", name="Log in").click()
            # Logged in once the frontend has stored its tokens ("Keep me logged in").
            await page.wait_for_function(
                "() => window.localStorage.getItem('hassTokens') !== null", timeout=60_000
            )

            await page.goto(f"{base_url}/config/devices/device/{device_id}")
            await expect(page.get_by_text("OCPP CSMS Simulator").first).to_be_visible(
                timeout=60_000
            )
            # Live values as a person (or a screen reader) reads them: power in watts,
            # current per phase, energy in kWh and the charging status.
            wanted = [
                r"Power [\d.,]+ W",
                r"Current L1 [\d.,]+ A",
                r"Energy [\d.,]+ kWh",
                r"Status Charging",
                r"State of charge [\d.,]+ ?%",
            ]
            async with asyncio.timeout(60):
                while True:
                    seen = await page.locator("body").aria_snapshot()
                    missing = [pattern for pattern in wanted if not re.search(pattern, seen)]
                    if not missing:
                        break
                    await asyncio.sleep(1)
            await page.screenshot(path=str(ARTIFACTS / "device-page.png"), full_page=True)
        finally:
            await browser.close()
