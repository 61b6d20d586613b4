"""A real Home Assistant whose central system already knows its chargers, each with a password.

`scripts/bench storm` and `scripts/bench hostile` need chargers admitted with their
own passwords (security profile 1) before they start. Admitting a thousand through
config flows would cost a flow, a PBKDF2 hash on Home Assistant's executor and a save
of the config entries per charger, and the benchmark would measure that instead. So the
central system's config entry, with one charger subentry per charger (`CONF_PASSWORD_HASH`
from the integration's own `hash_password`, computed on every core because PBKDF2 is
CPU), is written into `.storage/core.config_entries` before Home Assistant first starts,
in the layout Home Assistant itself stores (read from `ConfigEntry.as_dict` of the
release in use: storage version 1.5).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Self

import aiohttp

from custom_components.ocpp_csms.const import (
    CONF_CHARGER_ID,
    CONF_DEFAULT_TAG,
    CONF_MAX_CURRENT,
    CONF_PASSWORD_HASH,
    CONF_UNKNOWN_CHARGERS,
    DEFAULT_MAX_CURRENT_A,
    DEFAULT_REMOTE_TAG,
    DOMAIN,
    SUBENTRY_CHARGER,
)
from custom_components.ocpp_csms.csms.credentials import generate_password, hash_password
from devtools.homeassistant import (
    HomeAssistantClient,
    HomeAssistantError,
    Login,
    prepare_config,
    start_hass,
    stop_process,
)
from devtools.load_profile import summarize_stacks
from devtools.load_window import free_port

VERSIONS = ("ocpp1.6", "ocpp2.0.1")
# Where the last run's Home Assistant log is kept (the work folder goes with the run).
KEPT_LOGS = Path(tempfile.gettempdir())


def progress(message: str) -> None:
    """Tell whoever watches how far the benchmark is (stderr: stdout is the JSON)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def charger_passwords(prefix: str, count: int) -> dict[str, str]:
    """`count` charger ids named `prefix`0000 on, each with a password of its own."""
    return {f"{prefix}{index:04d}": generate_password() for index in range(count)}


def version_of(index: int) -> str:
    """The OCPP version of the charger at `index`: half 1.6, half 2.0.1."""
    return VERSIONS[index % 2]


def basic_auth(charger_id: str, password: str) -> dict[str, str]:
    """The Authorization header of security profile 1 (the user name is the charger id)."""
    token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _hashes(passwords: list[str], *, generated: bool) -> list[str]:
    """The stored hashes of `passwords`, on every core.

    `generated`: kept as the flows suggest them (a fast hash); else chosen by the user
    (PBKDF2, about 40 ms each on one core). Threads are enough: hashlib's PBKDF2
    releases the GIL while it runs.
    """
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(partial(hash_password, generated=generated), passwords))


def write_central_system(
    config_dir: Path,
    csms_port: int,
    passwords: Mapping[str, str],
    entry_id: str,
    *,
    generated: bool = True,
    extra_subentries: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Write the central system's config entry and its chargers before the first start.

    Unknown chargers are refused (403): every charger of the benchmark is admitted, so a
    refusal can only mean something is wrong. `extra_subentries` (an upstream's, say)
    are stored after the chargers' as given. Blocking (CPU, files): run in a thread.
    """
    now = datetime.now(UTC).isoformat()
    hashes = _hashes(list(passwords.values()), generated=generated)
    subentries = [
        {
            "data": {
                CONF_CHARGER_ID: charger_id,
                CONF_PASSWORD_HASH: password_hash,
                CONF_DEFAULT_TAG: DEFAULT_REMOTE_TAG,
                CONF_MAX_CURRENT: DEFAULT_MAX_CURRENT_A,
            },
            "subentry_id": uuid.uuid4().hex,
            "subentry_type": SUBENTRY_CHARGER,
            "title": charger_id,
            "unique_id": charger_id,
        }
        for charger_id, password_hash in zip(passwords, hashes, strict=True)
    ]
    subentries += [dict(subentry) for subentry in extra_subentries]
    entry = {
        "created_at": now,
        "data": {
            "host": "127.0.0.1",
            "port": csms_port,
            "tls": False,
            CONF_UNKNOWN_CHARGERS: "reject",
        },
        "disabled_by": None,
        "discovery_keys": {},
        "domain": DOMAIN,
        "entry_id": entry_id,
        "minor_version": 1,
        "modified_at": now,
        "options": {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": subentries,
        "title": f"OCPP Central System (port {csms_port})",
        "unique_id": str(csms_port),
        "version": 1,
    }
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (storage / "core.config_entries").write_text(
        json.dumps(
            {
                "version": 1,
                "minor_version": 5,
                "key": "core.config_entries",
                "data": {"entries": [entry]},
            }
        )
    )


class AdmittedHomeAssistant:
    """Home Assistant started on a fresh config whose central system admits `passwords`.

    `async with AdmittedHomeAssistant(work, passwords, "storm") as hass:` returns once
    the entry is loaded and Home Assistant is running (before that SIGTERM kills it
    without a clean stop, and the journal's last batch would be lost).
    """

    def __init__(
        self,
        work: Path,
        passwords: Mapping[str, str],
        name: str,
        *,
        generated: bool = True,
        extra_subentries: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Prepare in `work`; `name` names the log kept after the run.

        `generated`: the passwords are stored as kept suggestions (fast hashes), else as
        passwords the user chose (PBKDF2). `extra_subentries`: see `write_central_system`.
        """
        self.work = work
        self.passwords = dict(passwords)
        self.generated = generated
        self.extra_subentries = list(extra_subentries)
        self.name = name
        self.config = work / "config"
        self.entry_id = uuid.uuid4().hex
        self.ha_port, self.csms_port = free_port(), free_port()
        self.url = f"ws://127.0.0.1:{self.csms_port}"
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._client: HomeAssistantClient | None = None

    @property
    def pid(self) -> int:
        """Home Assistant's process id."""
        assert self._process is not None
        return self._process.pid

    @property
    def client(self) -> HomeAssistantClient:
        """REST and WebSocket API client, logged in."""
        assert self._client is not None
        return self._client

    @property
    def log(self) -> Path:
        """Home Assistant's own log file in its config directory."""
        return self.config / "home-assistant.log"

    @property
    def journal(self) -> Path:
        """The central system's session journal (see `session_book.SessionBook`)."""
        return self.config / DOMAIN / f"sessions-{self.entry_id}.db"

    async def __aenter__(self) -> Self:
        """Write the config, start Home Assistant, log in, wait for the entry."""
        prepare_config(self.config)
        progress(f"{self.name}: hashing {len(self.passwords)} passwords")
        await asyncio.to_thread(
            partial(
                write_central_system,
                generated=self.generated,
                extra_subentries=self.extra_subentries,
            ),
            self.config, self.csms_port, self.passwords, self.entry_id,
        )  # fmt: skip
        self._process = await start_hass(self.config, self.work / "hass-output.log", self.ha_port)
        self._session = aiohttp.ClientSession()
        try:
            self._client = HomeAssistantClient(self._session, f"http://127.0.0.1:{self.ha_port}")
            await self._client.wait_until_up(self._process, timeout=900)
            await self._client.onboard_or_login(Login())
            await self._until_ready(timeout=900)
        except BaseException:
            await self._shut(keep_log=True)
            raise
        progress(f"{self.name}: Home Assistant running, {len(self.passwords)} chargers admitted")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop Home Assistant (if still running) and keep its log."""
        await self._shut(keep_log=True)

    async def _until_ready(self, timeout: float) -> None:
        """Wait until the central system's entry is loaded and Home Assistant RUNNING."""
        async with asyncio.timeout(timeout):
            while True:
                entries = await self.client.entries(DOMAIN)
                config = await self.client.command("get_config")
                if entries and entries[0]["state"] == "loaded" and config["state"] == "RUNNING":
                    return
                if entries and entries[0]["state"] in ("setup_error", "migration_error"):
                    raise HomeAssistantError(f"the central system did not load: {entries[0]}")
                await asyncio.sleep(0.5)

    async def long_lived_token(self) -> str:
        """A long-lived access token, as a dashboard or script would poll with."""
        token: str = await self.client.command(
            "auth/long_lived_access_token", client_name="bench", lifespan=1
        )
        return token

    async def entity_ids(self, *, enabled_only: bool = False) -> list[str]:
        """The integration's entities in the entity registry (or only the enabled), sorted."""
        entries = await self.client.command("config/entity_registry/list")
        return sorted(
            entry["entity_id"]
            for entry in entries
            if entry["platform"] == DOMAIN and not (enabled_only and entry["disabled_by"])
        )

    async def entry_state(self) -> str:
        """The central system's config entry state (loaded, setup_retry...)."""
        entries = await self.client.entries(DOMAIN)
        return str(entries[0]["state"]) if entries else "missing"

    async def stop(self) -> int | None:
        """Stop Home Assistant cleanly (its stop writes the journal's last batch)."""
        await self._shut(keep_log=False)
        return None if self._process is None else self._process.returncode

    async def _shut(self, *, keep_log: bool) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._process is not None and self._process.returncode is None:
            await stop_process(self._process, 60)
        if keep_log and self.log.exists():
            kept = KEPT_LOGS / f"ocpp-csms-bench-{self.name}.log"
            await asyncio.to_thread(kept.write_bytes, self.log.read_bytes())


def read_journal(path: Path, charger_id: str) -> list[dict[str, Any]]:
    """A charger's sessions in the journal, read-only, with their sample timestamps."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        connection.row_factory = sqlite3.Row
        rows = connection.execute(
            "SELECT id, transaction_id, status, meter_start_wh, meter_stop_wh, energy_wh "
            "FROM sessions WHERE charger_id = ? ORDER BY id",
            (charger_id,),
        ).fetchall()
        sessions = []
        for row in rows:
            timestamps = [
                sample[0]
                for sample in connection.execute(
                    "SELECT timestamp FROM samples WHERE session_id = ? ORDER BY timestamp",
                    (row["id"],),
                )
            ]
            sessions.append({**dict(row), "sample_timestamps": timestamps})
        return sessions
    finally:
        connection.close()


def py_spy() -> str:
    """The py-spy to run: $PY_SPY, else the one beside this Python.

    py-spy before 0.4.3 cannot read a Python 3.14 process ("Failed to find python version
    from target process"); requirements_dev.txt pins 0.4.3.
    """
    return os.environ.get("PY_SPY") or str(Path(sys.executable).with_name("py-spy"))


def _fresh(output: Path) -> BinaryIO:
    """No stacks of an earlier run left in `output`; its message file, opened."""
    output.unlink(missing_ok=True)
    return output.with_suffix(".log").open("wb")


async def start_py_spy(pid: int, seconds: float, output: Path) -> asyncio.subprocess.Process:
    """py-spy sampling `pid` at 200 Hz into `output` (collapsed stacks) for `seconds` at most.

    Its messages go to `output` with ".log" added: what `profile_of` reports if it failed.
    """
    with await asyncio.to_thread(_fresh, output) as messages:
        return await asyncio.create_subprocess_exec(
            py_spy(), "record", "--pid", str(pid), "--duration", str(round(seconds)),
            "--rate", "200", "--nonblocking", "--format", "raw", "--output", str(output),
            stdout=messages, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip


async def stop_py_spy(spy: asyncio.subprocess.Process) -> None:
    """Stop sampling now: on SIGINT py-spy writes what it has and ends."""
    if spy.returncode is None:
        spy.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(spy.wait(), 30)
    except TimeoutError:
        spy.kill()
        await spy.wait()


def profile_of(output: Path) -> dict[str, Any]:
    """py-spy's samples summed by area and function, or why there are none."""
    if not output.exists():
        log = output.with_suffix(".log")
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return {"samples": 0, "error": lines[-1] if lines else "py-spy wrote nothing"}
    # Frames may quote bytes that are not UTF-8 (py-spy prints what memory holds).
    return summarize_stacks(output.read_text(errors="replace"))
