"""The integration in a real `hass` of a given Home Assistant release, log read after.

`scripts/check-release` installs the newest Home Assistant release on PyPI in its own
virtual environment and runs this against its `hass`. It starts Home Assistant in a
temporary config directory (everything on 127.0.0.1), onboards it, creates a central
system through the config flow, runs two simulated chargers (OCPP 1.6 and 2.0.1) and
admits them through discovery, waits until both charge, uses an action with a
response, the current limit and the options flow, reconfigures the central system
(which reloads it), waits for the chargers to charge again and stops Home Assistant.

Then it reads Home Assistant's log: any warning or error the integration causes (its
own loggers, a deprecation report naming it, a traceback through its code) fails the
check. The one warning Home Assistant writes for every custom integration is expected.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .homeassistant import (
    ROOT,
    HomeAssistantClient,
    HomeAssistantError,
    Login,
    prepare_config,
    start_hass,
    stop_process,
)

DOMAIN = "ocpp_csms"
CHARGERS = (("REL-16", "ocpp1.6"), ("REL-201", "ocpp2.0.1"))
PASSWORD = "release-check-password"
# A log record's first line, "2026-12-03 21:00:00.123+00:00 WARNING (MainThread) [logger]
# text" (older releases write no UTC offset).
RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+(?:[+-]\d\d:\d\d)? (?P<level>[A-Z]+) "
    r"\((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] (?P<message>.*)$"
)
REPORTED_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})
# Home Assistant's own note for any custom integration: not something the integration causes.
EXPECTED = re.compile(r"We found a custom integration ocpp_csms which has not been tested")


def say(message: str) -> None:
    """Tell the person running the check what is happening."""
    print(f"[check-release] {message}", flush=True)


@dataclass(frozen=True)
class LogRecord:
    """One record of Home Assistant's log, with the lines that follow it (a traceback)."""

    level: str
    logger: str
    text: str

    @property
    def caused_by_integration(self) -> bool:
        """Whether the integration wrote it, is named in it, or its code is in the trace."""
        return (
            self.logger.startswith(("custom_components.ocpp_csms", "websockets"))
            or DOMAIN in self.text
        )


def log_records(log: str) -> Iterator[LogRecord]:
    """The records of a Home Assistant log, continuation lines joined to their record."""
    current: dict[str, Any] | None = None
    for line in log.splitlines():
        match = RECORD.match(line)
        if match is None:
            if current is not None:
                current["text"] += "\n" + line
            continue
        if current is not None:
            yield LogRecord(**current)
        current = {
            "level": match["level"],
            "logger": match["logger"],
            "text": match["message"],
        }
    if current is not None:
        yield LogRecord(**current)


class UnreadableLogError(HomeAssistantError):
    """The log does not look as expected: reading it could miss problems."""


def problems_in(log: str) -> list[LogRecord]:
    """Warnings and errors the integration caused, except the expected one.

    Raises UnreadableLogError unless the expected warning was read: a log in a format this
    does not understand must fail the check, not pass it.
    """
    records = list(log_records(log))
    if not any(EXPECTED.search(record.text) for record in records):
        raise UnreadableLogError("Home Assistant's log has no record this check can read")
    return [
        record
        for record in records
        if record.level in REPORTED_LEVELS
        and record.caused_by_integration
        and not EXPECTED.search(record.text)
    ]


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Check:
    """One run against a started Home Assistant."""

    def __init__(self, client: HomeAssistantClient, csms_port: int) -> None:
        """Drive Home Assistant at `client`; the central system listens on `csms_port`."""
        self.client = client
        self.csms_port = csms_port

    async def admit_waiting(self) -> set[str]:
        """Add every charger waiting for admission; the ids admitted."""
        admitted: set[str] = set()
        for flow in await self.client.flows_in_progress():
            if flow.get("handler") != DOMAIN or flow.get("step_id") != "admission":
                continue
            charger_id = flow["context"]["title_placeholders"]["charger_id"]
            await self.client.flow_step(flow["flow_id"], {"next_step_id": "add_charger"})
            await self.client.flow_step(flow["flow_id"], {"name": charger_id, "password": PASSWORD})
            admitted.add(charger_id)
        return admitted

    async def admit_all(self, timeout: float) -> None:
        """Admit both chargers as they ask."""
        waiting = {charger_id for charger_id, _ in CHARGERS}
        async with asyncio.timeout(timeout):
            while waiting:
                waiting -= await self.admit_waiting()
                await asyncio.sleep(1)
        say("both chargers admitted")

    async def charging(self, charger_id: str) -> bool:
        """Whether the charger's power sensor shows power."""
        state = await self.client.state(f"sensor.{charger_id.lower().replace('-', '_')}_power")
        try:
            return state is not None and float(state["state"]) > 0
        except ValueError:
            return False

    async def until_both_charge(self, timeout: float) -> None:
        """Wait until both chargers report power."""
        async with asyncio.timeout(timeout):
            while True:
                if all([await self.charging(charger_id) for charger_id, _ in CHARGERS]):
                    break
                await asyncio.sleep(1)
        say("both chargers charge")

    async def device_of(self, charger_id: str) -> str:
        """The device id of a charger (named after it when admitted)."""
        devices = await self.client.command("config/device_registry/list")
        for device in devices:
            if device.get("name") == charger_id:
                return str(device["id"])
        raise HomeAssistantError(f"no device for {charger_id}")

    async def use_actions(self) -> None:
        """An action with response data, and the current-limit number."""
        device_id = await self.device_of("REL-16")
        response = await self.client.command(
            "execute_script",
            sequence=[
                {
                    "action": f"{DOMAIN}.get_configuration",
                    "data": {"device_id": device_id},
                    "response_variable": "answer",
                },
                {"stop": "done", "response_variable": "answer"},
            ],
        )
        if not response.get("response"):
            raise HomeAssistantError(f"get_configuration answered nothing: {response}")
        await self.client.command(
            "call_service",
            domain="number",
            service="set_value",
            service_data={"entity_id": "number.rel_16_current_limit", "value": 10},
        )
        say("get_configuration answered; current limit set")

    async def open_options(self, entry_id: str) -> None:
        """Open the options flow and close it again, as a user looking would."""
        flow = await self.client.json(
            "POST", "/api/config/config_entries/options/flow", json={"handler": entry_id}
        )
        await self.client.json(
            "DELETE", f"/api/config/config_entries/options/flow/{flow['flow_id']}"
        )

    async def reconfigure(self, entry_id: str) -> None:
        """Reconfigure with another admission policy: the entry reloads."""
        flow = await self.client.json(
            "POST",
            "/api/config/config_entries/flow",
            json={"handler": DOMAIN, "entry_id": entry_id, "source": "reconfigure"},
        )
        result = await self.client.flow_step(
            flow["flow_id"],
            {
                "host": "127.0.0.1",
                "port": self.csms_port,
                "unknown_chargers": "reject",
                "tls": False,
            },
        )
        if result.get("reason") != "reconfigure_successful":
            raise HomeAssistantError(f"reconfigure failed: {result}")
        say("reconfigured (the central system reloads)")

    async def run(self, timeout: float) -> None:
        """The whole scenario."""
        await self.client.create_central_system(self.csms_port, unknown_chargers="ask")
        [entry] = await self.client.entries(DOMAIN)
        await self.admit_all(timeout)
        await self.until_both_charge(timeout)
        await self.use_actions()
        await self.open_options(entry["entry_id"])
        await self.reconfigure(entry["entry_id"])
        await self.until_both_charge(timeout)


async def check(args: argparse.Namespace) -> int:
    """Run the check; the exit code says whether it passed."""
    with tempfile.TemporaryDirectory(prefix="ocpp-release-check-") as work:
        config_dir = Path(work) / "config"
        prepare_config(config_dir)
        port, csms_port = free_port(), free_port()
        say(f"starting {args.hass} (Home Assistant {args.label})")
        hass = await start_hass(config_dir, Path(work) / "output.log", port, executable=args.hass)
        simulator: asyncio.subprocess.Process | None = None
        failure: str | None = None
        try:
            async with aiohttp.ClientSession() as session:
                client = HomeAssistantClient(session, f"http://127.0.0.1:{port}")
                await client.wait_until_up(hass, timeout=args.timeout)
                await client.onboard_or_login(Login())
                command = [
                    sys.executable,
                    "-m",
                    "simulator",
                    "--url",
                    f"ws://127.0.0.1:{csms_port}",
                ]
                for charger_id, version in CHARGERS:
                    command += ["--charger", f"{charger_id}:{version}"]
                command += ["--password", PASSWORD, "--scenario", "charge", "--interval", "2"]
                command += ["--speed", "60", "--idle", "5"]
                simulator = await asyncio.create_subprocess_exec(
                    *command, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                await Check(client, csms_port).run(args.timeout)
                await client.close()
        except (HomeAssistantError, TimeoutError, aiohttp.ClientError) as err:
            failure = f"{type(err).__name__}: {err}"
        finally:
            if simulator is not None:
                await stop_process(simulator, 10)
            await stop_process(hass, 60)
        log = (config_dir / "home-assistant.log").read_text(errors="replace")
        if args.keep_log is not None:
            args.keep_log.parent.mkdir(parents=True, exist_ok=True)
            args.keep_log.write_text(log)
        if hass.returncode not in (0, 100):  # 100: Home Assistant asked to restart
            failure = failure or f"Home Assistant exited with {hass.returncode}"
        try:
            problems = problems_in(log)
        except UnreadableLogError as err:
            failure, problems = failure or str(err), []
        for record in problems:
            say(f"{record.level} [{record.logger}] {record.text}")
        if failure is not None:
            say(f"failed: {failure}")
            say("Home Assistant's log:\n" + log[-20000:])
            return 1
        if problems:
            say(f"failed: the integration caused {len(problems)} warnings or errors")
            return 1
        say(f"passed: no warning or error from the integration on Home Assistant {args.label}")
        return 0


def main() -> None:
    """Parse the command line and run the check."""
    parser = argparse.ArgumentParser(prog="check-release", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hass", type=Path, required=True, help="the hass executable to run")
    parser.add_argument("--label", default="", help="the release, for messages")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds each stage may take at most"
    )
    parser.add_argument(
        "--keep-log",
        type=Path,
        default=ROOT / "artifacts" / "release-check.log",
        help="where to keep Home Assistant's log",
    )
    sys.exit(asyncio.run(check(parser.parse_args())))


if __name__ == "__main__":
    main()
