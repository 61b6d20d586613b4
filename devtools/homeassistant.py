"""Drive a real Home Assistant process: start it, onboard it, talk to its REST API."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Login:
    """The local user the development instance is onboarded with."""

    name: str = "Developer"
    username: str = "dev"
    password: str = "dev-password"


class HomeAssistantError(RuntimeError):
    """Home Assistant did not do what was asked."""


def prepare_config(config_dir: Path) -> None:
    """Link the integration in, and skip the onboarding steps that reach the internet.

    Finishing onboarding's core-config step sets up integrations that fetch weather and
    radio stations from the internet; marking that step (and the two after it) done
    before the first start leaves only the user step, which `onboard_or_login` does.

    The HTTP settings (127.0.0.1 and the port asked for) come from configuration.yaml
    on every start: Home Assistant takes them into its storage on the first start and
    ignores the YAML after that, so the stored copy is removed first; see
    `HomeAssistantClient.keep_http_settings`.
    """
    configuration = config_dir / "configuration.yaml"
    if not configuration.exists():
        config_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "develop" / "configuration.yaml", configuration)
    storage = config_dir / ".storage"
    (storage / "http").unlink(missing_ok=True)
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        storage.mkdir(parents=True, exist_ok=True)
        onboarding.write_text(
            json.dumps(
                {
                    "version": 4,
                    "minor_version": 1,
                    "key": "onboarding",
                    "data": {"done": ["core_config", "analytics", "integration"]},
                }
            )
        )
    custom = config_dir / "custom_components"
    custom.mkdir(parents=True, exist_ok=True)
    link = custom / "ocpp_csms"
    target = ROOT / "custom_components" / "ocpp_csms"
    if link.is_symlink() and link.resolve() == target:
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)


async def start_hass(
    config_dir: Path,
    log_path: Path,
    port: int = 8123,
    extra_env: dict[str, str] | None = None,
    executable: Path | None = None,
) -> asyncio.subprocess.Process:
    """Start `hass -c config_dir` on 127.0.0.1:`port`, its output going to `log_path`.

    `executable` is the `hass` to run: by default the one beside this Python.
    """
    log = log_path.open("ab")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OCPP_DEV_HA_PORT": str(port),
        **(extra_env or {}),
    }
    return await asyncio.create_subprocess_exec(
        str(executable or Path(sys.executable).with_name("hass")),
        "-c",
        str(config_dir),
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


async def stop_process(process: asyncio.subprocess.Process, timeout: float = 30) -> None:
    """Ask a process to stop (SIGTERM), killing it if it does not within `timeout` s."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()


class HomeAssistantClient:
    """The REST calls the tools need, authenticated as the development user."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        """Talk to the instance at `base_url` (e.g. http://127.0.0.1:8123)."""
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.client_id = f"{self.base_url}/"
        self.token: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_id = 0

    async def wait_until_up(self, process: asyncio.subprocess.Process, timeout: float) -> None:
        """Wait until the HTTP API answers; fail early if the process dies."""
        async with asyncio.timeout(timeout):
            while True:
                if process.returncode is not None:
                    raise HomeAssistantError(f"Home Assistant exited with {process.returncode}")
                try:
                    # The login page's list of providers needs no token (asking the API
                    # without one would be logged, and notified, as a failed login);
                    # it answers 400 until onboarding is done.
                    async with self._session.get(f"{self.base_url}/auth/providers") as response:
                        if response.status in (200, 400):
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A REST call as the logged-in user; its JSON answer (an HTTP error raises)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self._session.request(
            method, f"{self.base_url}{path}", headers=headers, **kwargs
        ) as response:
            if response.status >= 400:
                raise HomeAssistantError(
                    f"{method} {path}: HTTP {response.status}: {await response.text()}"
                )
            return await response.json()

    async def _token_for(self, code: str) -> None:
        data = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id}
        self.token = None
        tokens = await self.json("POST", "/auth/token", data=data)
        self.token = tokens["access_token"]

    async def onboard_or_login(self, login: Login) -> None:
        """Finish onboarding with `login` on a new instance; log in on an onboarded one."""
        async with self._session.get(f"{self.base_url}/api/onboarding") as response:
            # Once onboarding is complete its views are gone (404).
            progress = await response.json() if response.status == 200 else []
        steps = {step["step"]: step["done"] for step in progress}
        if not steps.get("user", True):
            created = await self.json(
                "POST",
                "/api/onboarding/users",
                json={
                    "client_id": self.client_id,
                    "name": login.name,
                    "username": login.username,
                    "password": login.password,
                    "language": "en",
                },
            )
            await self._token_for(created["auth_code"])
        else:
            await self._login(login)
        for step, path, body in (
            ("core_config", "/api/onboarding/core_config", {}),
            ("analytics", "/api/onboarding/analytics", {}),
            (
                "integration",
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": f"{self.client_id}?auth_callback=1"},
            ),
        ):
            if not steps.get(step, True):
                await self.json("POST", path, json=body)

    async def _login(self, login: Login) -> None:
        flow = await self.json(
            "POST",
            "/auth/login_flow",
            json={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.client_id}?auth_callback=1",
            },
        )
        result = await self.json(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json={
                "client_id": self.client_id,
                "username": login.username,
                "password": login.password,
            },
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"Could not log in as {login.username}: {result}")
        await self._token_for(result["result"])

    async def keep_http_settings(self) -> bool:
        """Confirm the HTTP settings taken from the YAML (the frontend's *Confirm*).

        Home Assistant (since 2026.10) tries HTTP settings it took from the YAML for
        five minutes, asks in the frontend to confirm them, and unless someone does,
        goes back to its defaults (port 8123 on every address) and restarts. Returns
        whether there was anything to confirm.
        """
        settings = await self.command("http/config")
        pending = settings.get("pending")
        if pending is None or pending.get("error") is not None:
            return False
        await self.command("http/config/promote")
        return True

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """An entity's state as the REST API gives it, or None when it has none."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self._session.get(
            f"{self.base_url}/api/states/{entity_id}", headers=headers
        ) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            found: dict[str, Any] = await response.json()
            return found

    async def entries(self, domain: str) -> list[dict[str, Any]]:
        """The config entries of `domain`."""
        found: list[dict[str, Any]] = await self.json(
            "GET", f"/api/config/config_entries/entry?domain={domain}"
        )
        return found

    async def start_flow(self, domain: str) -> dict[str, Any]:
        """Start a user config flow."""
        result: dict[str, Any] = await self.json(
            "POST", "/api/config/config_entries/flow", json={"handler": domain}
        )
        return result

    async def flow_step(self, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Submit a step of a config flow."""
        result: dict[str, Any] = await self.json(
            "POST", f"/api/config/config_entries/flow/{flow_id}", json=data
        )
        return result

    async def create_central_system(self, csms_port: int, unknown_chargers: str) -> None:
        """Create a central system on 127.0.0.1:`csms_port` through the user's config flow."""
        flow = await self.start_flow("ocpp_csms")
        result = await self.flow_step(
            flow["flow_id"],
            {
                "host": "127.0.0.1",
                "port": csms_port,
                "unknown_chargers": unknown_chargers,
                "tls": False,
            },
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(
                f"Could not create the central system: {result.get('errors') or result}"
            )

    async def start_options_flow(self, entry_id: str) -> dict[str, Any]:
        """Open a config entry's options (*Configure*)."""
        result: dict[str, Any] = await self.json(
            "POST", "/api/config/config_entries/options/flow", json={"handler": entry_id}
        )
        return result

    async def options_flow_step(self, flow_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """Submit a step of an options flow."""
        result: dict[str, Any] = await self.json(
            "POST", f"/api/config/config_entries/options/flow/{flow_id}", json=data
        )
        return result

    async def close_options_flow(self, flow_id: str) -> None:
        """Close an options flow without saving (the dialog's X)."""
        await self.json("DELETE", f"/api/config/config_entries/options/flow/{flow_id}")

    async def flows_in_progress(self) -> list[dict[str, Any]]:
        """Config flows in progress, discovered ones included."""
        found: list[dict[str, Any]] = await self.command("config_entries/flow/progress")
        return found

    async def connect_websocket(self) -> aiohttp.ClientWebSocketResponse:
        """A new WebSocket API connection, authenticated."""
        # No size limit: get_states of a large installation is many megabytes.
        ws = await self._session.ws_connect(f"{self.base_url}/api/websocket", max_msg_size=0)
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": self.token})
        answer = await ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise HomeAssistantError(f"WebSocket API refused the token: {answer}")
        return ws

    async def command(self, command_type: str, **fields: Any) -> Any:
        """Run one WebSocket API command and return its result."""
        if self._ws is None or self._ws.closed:
            self._ws = await self.connect_websocket()
        self._ws_id += 1
        request = {"id": self._ws_id, "type": command_type, **fields}
        try:
            await self._ws.send_json(request)
        except aiohttp.ClientConnectionResetError:
            # Nobody read the connection while it sat idle, so its pings went unanswered
            # and Home Assistant closed it: open another.
            self._ws = await self.connect_websocket()
            await self._ws.send_json(request)
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == self._ws_id and message.get("type") == "result":
                if not message.get("success"):
                    raise HomeAssistantError(f"{command_type}: {message.get('error')}")
                return message.get("result")

    async def close(self) -> None:
        """Close the WebSocket API connection, if one is open."""
        if self._ws is not None:
            await self._ws.close()
