"""The main job: Home Assistant with the integration and two simulated chargers.

Starts Home Assistant on http://127.0.0.1:8123 with the config directory `develop/`,
onboards it with a documented local user, creates the central system (port 9000, on
127.0.0.1) with a site (a 25 A main fuse, for load balancing), starts two simulated
chargers (OCPP 1.6 and 2.0.1), admits them through the same discovery flow a user
would click through, and keeps a "Chargers" dashboard (the default one) showing them.
Runs until Ctrl-C, then stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

from .dashboard import ICON, TITLE, URL_PATH, dashboard_config
from .homeassistant import (
    ROOT,
    HomeAssistantClient,
    HomeAssistantError,
    Login,
    prepare_config,
    start_hass,
    stop_process,
)

CONFIG_DIR = ROOT / "develop"
HA_PORT = 8123
CSMS_PORT = 9000
CHARGERS = (("DEV-16", "ocpp1.6"), ("DEV-201", "ocpp2.0.1"))
# Every simulated charger uses this password (OCPP security profile 1).
CHARGER_PASSWORD = "dev-charger-password"
DOMAIN = "ocpp_csms"
# The site's main fuse per phase; without a grid meter the chargers share it (less
# the default 1 A margin).
SITE_FUSE_A = 25


def say(message: str) -> None:
    """Tell the developer what is happening."""
    print(f"[develop] {message}", flush=True)


async def ensure_central_system(client: HomeAssistantClient, csms_port: int) -> None:
    """Create the central system on `csms_port` unless it exists."""
    if await client.entries(DOMAIN):
        return
    await client.create_central_system(csms_port, unknown_chargers="ask")
    say(f"created the central system on ws://127.0.0.1:{csms_port}")


async def ensure_site(client: HomeAssistantClient) -> None:
    """Describe the site in the central system's options, as a user would, unless it is.

    A main fuse without meters is enough for load balancing, the charging mode of
    each charger and the site's available current. A site already described (by an
    earlier run, or changed by hand) is left as it is.
    """
    entry_id = (await client.entries(DOMAIN))[0]["entry_id"]
    menu = await client.start_options_flow(entry_id)
    form = await client.options_flow_step(menu["flow_id"], {"next_step_id": "site"})
    fuse = next(
        (
            field.get("description", {}).get("suggested_value")
            for field in form.get("data_schema", [])
            if field.get("name") == "site_fuse_a"
        ),
        None,
    )
    if fuse is not None:
        await client.close_options_flow(form["flow_id"])
        return
    result = await client.options_flow_step(form["flow_id"], {"site_fuse_a": SITE_FUSE_A})
    if result.get("type") != "create_entry":
        raise HomeAssistantError(f"Could not describe the site: {result.get('errors') or result}")
    say(f"described the site: a {SITE_FUSE_A} A main fuse, no grid meter")


async def create_dashboard(client: HomeAssistantClient) -> bool:
    """Create the chargers' dashboard (in the sidebar) unless it exists; True if created.

    A new one also becomes the default dashboard, for every user, as *Settings >
    Dashboards > Set as default* makes it, unless someone chose a default already.
    """
    listed: list[dict[str, Any]] = await client.command("lovelace/dashboards/list")
    if any(dashboard["url_path"] == URL_PATH for dashboard in listed):
        return False
    await client.command(
        "lovelace/dashboards/create",
        url_path=URL_PATH,
        title=TITLE,
        icon=ICON,
        show_in_sidebar=True,
        require_admin=False,
    )
    core = (await client.command("frontend/get_system_data", key="core"))["value"] or {}
    if core.get("default_panel") is None:
        await client.command(
            "frontend/set_system_data", key="core", value={**core, "default_panel": URL_PATH}
        )
    say(f"created the dashboard {client.base_url}/{URL_PATH}")
    return True


async def update_dashboard(
    client: HomeAssistantClient, shown: dict[str, Any] | None
) -> dict[str, Any]:
    """Show every charger's entities on the dashboard; returns what it shows.

    `shown` is what this run last made of the registries: while they give the same
    cards, nothing is read or written, so edits by hand stay until the chargers'
    entities change (or the job starts again). A dashboard that already shows these
    cards is not written again either.
    """
    entities = await client.command("config/entity_registry/list")
    devices = await client.command("config/device_registry/list")
    config = dashboard_config(entities, devices)
    if config == shown:
        return config
    stored: dict[str, Any] | None = None
    if not await create_dashboard(client):
        with contextlib.suppress(HomeAssistantError):  # created, but never saved
            stored = await client.command("lovelace/config", url_path=URL_PATH)
    if stored != config:
        await client.command("lovelace/config/save", url_path=URL_PATH, config=config)
    return config


async def admit_waiting_chargers(client: HomeAssistantClient) -> None:
    """Add every charger waiting for admission, as a user clicking *Add* would."""
    for flow in await client.flows_in_progress():
        if flow.get("handler") != DOMAIN or flow.get("step_id") != "admission":
            continue
        charger_id = flow["context"]["title_placeholders"]["charger_id"]
        await client.flow_step(flow["flow_id"], {"next_step_id": "add_charger"})
        await client.flow_step(flow["flow_id"], {"name": charger_id, "password": CHARGER_PASSWORD})
        say(f"admitted charger {charger_id}")


def port_taken(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def reset_state(config_dir: Path) -> None:
    """Forget everything Home Assistant stored; keep its configuration."""
    for item in config_dir.iterdir():
        if item.name == "configuration.yaml":
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


async def bring_up(
    client: HomeAssistantClient, hass: asyncio.subprocess.Process, args: argparse.Namespace
) -> asyncio.subprocess.Process:
    """Wait for Home Assistant, onboard it, create the central system, start chargers."""
    await client.wait_until_up(hass, timeout=args.start_timeout)
    login = Login()
    await client.onboard_or_login(login)
    await client.keep_http_settings()
    await ensure_central_system(client, args.csms_port)
    await ensure_site(client)
    command = [sys.executable, "-m", "simulator", "--url", f"ws://127.0.0.1:{args.csms_port}"]
    for charger_id, version in CHARGERS:
        command += ["--charger", f"{charger_id}:{version}"]
    command += ["--password", CHARGER_PASSWORD]
    # Cars charge to 80 %, a simulated minute every 5 s, then the next car comes.
    command += ["--scenario", "charge", "--interval", "5", "--speed", "12", "--idle", "30"]
    simulator = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    say(f"Home Assistant is ready: {client.base_url}")
    say(f"log in as '{login.username}' with password '{login.password}'")
    say("press Ctrl-C to stop")
    return simulator


async def run(args: argparse.Namespace) -> int:
    """Run the main job until interrupted; returns the exit code."""
    config_dir: Path = args.config
    job = asyncio.current_task()
    assert job is not None
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        # The first Ctrl-C stops the job; later ones must not cut the clean-up short.
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: say("still stopping..."))
        job.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt)

    for port in (args.port, args.csms_port):
        if port_taken(port):
            say(f"port {port} on 127.0.0.1 is in use (is another main job running?)")
            return 1
    say(f"starting Home Assistant (log: {config_dir / 'home-assistant.log'})")
    hass = await start_hass(config_dir, config_dir / "hass-output.log", args.port)
    simulator: asyncio.subprocess.Process | None = None
    try:
        async with aiohttp.ClientSession() as session:
            client = HomeAssistantClient(session, f"http://127.0.0.1:{args.port}")
            simulator = await bring_up(client, hass, args)
            shown: dict[str, Any] | None = None
            while hass.returncode is None:
                await admit_waiting_chargers(client)
                shown = await update_dashboard(client, shown)
                await asyncio.sleep(2)
            say(f"Home Assistant exited ({hass.returncode}); see its log")
            return 1
    except asyncio.CancelledError:
        return 0
    except (HomeAssistantError, TimeoutError, aiohttp.ClientError) as err:
        say(f"failed: {err or type(err).__name__}")
        return 1
    finally:
        say("stopping")
        if simulator is not None:
            await stop_process(simulator, 10)
        await stop_process(hass)


def main() -> None:
    """Parse the command line and run the main job."""
    parser = argparse.ArgumentParser(prog="develop", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reset", action="store_true", help="start from an empty Home Assistant (keeps the YAML)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=300, help="seconds to wait for Home Assistant"
    )
    parser.add_argument(
        "--config", type=Path, default=CONFIG_DIR, help="Home Assistant config directory"
    )
    parser.add_argument("--port", type=int, default=HA_PORT, help="Home Assistant's HTTP port")
    parser.add_argument(
        "--csms-port", type=int, default=CSMS_PORT, help="the central system's port"
    )
    args = parser.parse_args()
    # File work happens before the event loop starts.
    if args.reset and args.config.exists():
        reset_state(args.config)
    prepare_config(args.config)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
