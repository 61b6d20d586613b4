"""Helpers of the tests of an upstream's policies: our engine forwarding CP-1 as UP-1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from custom_components.ocpp_csms.csms.authorization import (
    AuthorizationMode,
    Authorizer,
    Tag,
    TagRegistry,
)
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_policy import UpstreamCommand
from custom_components.ocpp_csms.csms.upstream_settings import (
    DEFAULT_ALLOWED_COMMANDS,
    CommandPolicy,
    UpstreamSettings,
    UpstreamStatus,
)
from tests.chargers import PATIENCE_S
from tests.engine.conftest import Running, StartSystem

VERSIONS = [OcppVersion.V16, OcppVersion.V201]


def registry(*tags: str) -> TagRegistry:
    """Known tags only, these ones."""
    found = TagRegistry(mode=AuthorizationMode.KNOWN_TAGS)
    for tag in tags:
        found.add(Tag(tag))
    return found


async def forwarding(
    start_system: StartSystem,
    url: str,
    tmp_path: Path,
    *,
    version: OcppVersion = OcppVersion.V16,
    policy: CommandPolicy = CommandPolicy.FULL,
    allowed: frozenset[str] = DEFAULT_ALLOWED_COMMANDS,
    authorizer: Authorizer | None = None,
    authorize_timeout: float = PATIENCE_S,
) -> tuple[Running, list[UpstreamCommand]]:
    """Our central system with CP-1 admitted and forwarded to `url` as UP-1; its reports.

    The upstream gets all of a test's patience to answer on a tag, unless told otherwise.
    """
    ours = await start_system(authorizer=authorizer)
    ours.directory.admit("CP-1")
    ours.system.upstreams.authorize_timeout = authorize_timeout
    reported: list[UpstreamCommand] = []
    await ours.system.set_upstream(
        "CP-1",
        UpstreamSettings(url, "UP-1", version, policy=policy, allowed_commands=allowed),
        queue_path=tmp_path / "upstream-CP-1.db",
        on_command=reported.append,
    )
    return ours, reported


async def our_engine_upstream(start_system: StartSystem, *tags: str) -> Running:
    """Our own engine as the upstream, knowing `tags`, with UP-1 admitted."""
    theirs = await start_system(authorizer=registry(*tags))
    theirs.directory.admit("UP-1")
    return theirs


def status(running: Running) -> UpstreamStatus:
    found = running.system.upstreams.status("CP-1")
    assert found is not None
    return found


def asks_upstream(running: Running) -> bool:
    """Whether CP-1's upstream would be asked about a tag now (it accepted our boot)."""
    authorization = running.system.upstreams.authorization("CP-1")
    return authorization is not None and authorization.ready


def received(client: Any) -> list[str]:
    """The commands a simulated charger received, by action."""
    return [action for action, _ in client.received]


def outcomes(reported: list[UpstreamCommand], *actions: str) -> list[tuple[str, bool, str]]:
    return [
        (command.action, command.allowed, command.outcome)
        for command in reported
        if command.action in actions
    ]
