"""An upstream subentry's data, the engine's `UpstreamSettings` from it, and its queue file.

Each forwarded charger has one subentry of type `upstream` (unique id `upstream/<charger
id>`: a slash never appears in a charger id, so it cannot clash with a charger's own
subentry). Its password is stored as given, in the subentry like the rest of the
integration's settings, because it must be sent: it is never logged and diagnostics
redact it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_PASSWORD, CONF_URL
from homeassistant.core import HomeAssistant

from ..const import CONF_CHARGER_ID, DOMAIN, SUBENTRY_UPSTREAM
from ..csms.station import OcppVersion
from ..csms.upstream_settings import (
    DEFAULT_ALLOWED_COMMANDS,
    CommandPolicy,
    UpstreamSettings,
    upstream_commands,
)

_LOGGER = logging.getLogger(__name__)

# The id the charger has at the upstream (its charge point id there).
CONF_UPSTREAM_ID = "charge_point_id"
CONF_POLICY = "policy"
CONF_VERSION = "version"
CONF_ALLOWED_COMMANDS = "allowed_commands"

# Queue files live beside the session journal.
QUEUE_FOLDER = DOMAIN
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")


def upstream_unique_id(charger_id: str) -> str:
    """The unique id of a charger's upstream subentry."""
    return f"upstream/{charger_id}"


def upstream_subentries(entry: ConfigEntry[Any]) -> list[ConfigSubentry]:
    """The entry's upstream subentries."""
    return [
        subentry
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_UPSTREAM
    ]


def default_allowed(version: OcppVersion) -> list[str]:
    """The commands allowed under the full policy unless the user says otherwise."""
    return [name for name in upstream_commands(version) if name in DEFAULT_ALLOWED_COMMANDS]


def subentry_data(
    charger_id: str,
    *,
    url: str,
    charge_point_id: str,
    password: str | None,
    version: OcppVersion,
    policy: CommandPolicy,
    allowed_commands: list[str],
) -> dict[str, Any]:
    """What an upstream subentry stores."""
    known = upstream_commands(version)
    return {
        CONF_CHARGER_ID: charger_id,
        CONF_URL: url,
        CONF_UPSTREAM_ID: charge_point_id,
        CONF_PASSWORD: password or None,
        CONF_VERSION: version.value,
        CONF_POLICY: policy.value,
        CONF_ALLOWED_COMMANDS: [name for name in known if name in set(allowed_commands)],
    }


def settings_from(data: Mapping[str, Any]) -> UpstreamSettings | None:
    """The engine's settings from a subentry's data (None: the data cannot be one)."""
    try:
        return UpstreamSettings(
            url=str(data[CONF_URL]),
            charge_point_id=str(data[CONF_UPSTREAM_ID]),
            version=OcppVersion(data[CONF_VERSION]),
            password=data.get(CONF_PASSWORD) or None,
            policy=CommandPolicy(data.get(CONF_POLICY, CommandPolicy.MIRROR_ONLY)),
            allowed_commands=frozenset(data.get(CONF_ALLOWED_COMMANDS) or ()),
        )
    except (KeyError, ValueError) as err:
        # Only a hand-edited file gets here; the message names no password.
        _LOGGER.error(
            "The upstream of charger %s is not usable: %s", data.get(CONF_CHARGER_ID), err
        )
        return None


def queue_path(
    hass: HomeAssistant, entry_id: str, charger_id: str, settings: UpstreamSettings
) -> Path:
    """Where a charger's upstream queue is: <config>/ocpp_csms/upstream-<entry>-<id>-<upstream>.db.

    Characters a file name should not have become `_`; then a short hash of the id
    keeps two ids that differ only there apart. <upstream> is a short hash of the
    upstream's URL, charge point id and version: a queue holds what one backend is owed
    (messages, the last boot, its transaction ids), so another backend starts afresh.
    The password and the policy are not in it: the backend stays the same.
    """
    safe = _UNSAFE_IN_NAME.sub("_", charger_id)
    if safe != charger_id:
        safe += "-" + hashlib.sha256(charger_id.encode()).hexdigest()[:8]
    backend = "\0".join((settings.url, settings.charge_point_id, settings.version.value))
    upstream = hashlib.sha256(backend.encode()).hexdigest()[:8]
    return Path(hass.config.path(QUEUE_FOLDER, f"upstream-{entry_id}-{safe}-{upstream}.db"))


def queue_files(path: Path) -> tuple[Path, ...]:
    """A queue's file and SQLite's companions of it (write-ahead log, shared memory)."""
    return (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


def delete_queue(path: Path) -> None:
    """Delete a queue's files (blocking: run it in the executor)."""
    for file in queue_files(path):
        file.unlink(missing_ok=True)


def delete_entry_queues(folder: Path, entry_id: str) -> None:
    """Delete every upstream queue of a central system (blocking: run it in the executor)."""
    if folder.is_dir():
        for file in folder.glob(f"upstream-{entry_id}-*"):
            file.unlink(missing_ok=True)


def upstream_title(charger_name: str, url: str) -> str:
    """How an upstream subentry is listed: "Garage → backend.example.com"."""
    return f"{charger_name} → {url_host(url)}"


def url_host(url: str) -> str:
    """The host (and port) of an upstream's URL, for names and repairs."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return url[:100]
    if not host:
        return url[:100]
    return f"{host}:{port}" if port else host


# The port a WebSocket URL means when it names none.
_DEFAULT_PORTS = {"ws": 80, "wss": 443}


def same_origin(url: str, other: str) -> bool:
    """Whether two upstream URLs reach the same server the same way: scheme, host, port.

    Only then may a stored password go on to the other URL: never to another backend,
    nor unencrypted (ws://) where it went encrypted. The path may differ.
    """
    try:
        ours, theirs = urlsplit(url), urlsplit(other)
        origins = [
            (parts.scheme.lower(), parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme))
            for parts in (ours, theirs)
        ]
    except ValueError:  # a port that is not one
        return False
    return ours.hostname is not None and origins[0] == origins[1]


def shown_url(url: str) -> str:
    """The URL without anything that could be a credential (the flows refuse those anyway)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        return url_host(url)
    return f"{parts.scheme}://{netloc}{parts.path}"
