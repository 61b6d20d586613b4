"""Local authorization lists: pushed full, then differentially, to 1.6 and 2.x chargers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import connect

from custom_components.ocpp_csms.csms.authorization import (
    AuthorizationMode,
    Tag,
    TagRegistry,
)
from custom_components.ocpp_csms.csms.commands import CommandResult, CommandStatus
from custom_components.ocpp_csms.csms.local_list import (
    LocalListStatus,
    LocalListSync,
    PushedList,
)
from custom_components.ocpp_csms.csms.station import OcppVersion, RegistrationStatus, Station
from custom_components.ocpp_csms.csms.station_facts import Capabilities
from tests.chargers import PATIENCE_S, wait_for
from tests.engine.conftest import ConnectRaw, RawCharger

# Still ahead whenever the tests run (a fixed date would expire the tag one day).
EXPIRY = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
VERSIONS = pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])


def tags(*found: Tag) -> TagRegistry:
    registry = TagRegistry()
    registry.load(found, AuthorizationMode.AUTOMATIC)
    return registry


def version_answer(charger: RawCharger, number: int) -> dict[str, Any]:
    key = "listVersion" if charger.station.version == "ocpp1.6" else "versionNumber"
    return {key: number}


def entries(charger: RawCharger, payload: dict[str, Any]) -> dict[str, Any]:
    """A pushed list as {tag: (status, parent) or None for a removal}, either version."""
    found = {}
    for item in payload["localAuthorizationList"]:
        if "idTag" in item:
            info = item.get("idTagInfo")
            found[item["idTag"]] = info and (info["status"], info.get("parentIdTag"))
        else:
            info = item.get("idTokenInfo")
            group = (info or {}).get("groupIdToken", {}).get("idToken")
            found[item["idToken"]["idToken"]] = info and (info["status"], group)
    return found


async def push(charger: RawCharger, current: int) -> dict[str, Any]:
    """Answer one GetLocalListVersion with `current` and take the SendLocalList after."""
    uid, _ = await charger.expect_call("GetLocalListVersion")
    await charger.answer(uid, version_answer(charger, current))
    uid, payload = await charger.expect_call("SendLocalList")
    await charger.answer(uid, {"status": "Accepted"})
    return payload


def list_version(payload: dict[str, Any]) -> int:
    version = payload["listVersion"] if "listVersion" in payload else payload["versionNumber"]
    assert isinstance(version, int)
    return version


async def settled(charger: RawCharger) -> None:
    """Let the central system handle the last answer."""
    await asyncio.sleep(0.01)
    await wait_for(lambda: not charger.running.system.local_lists._running)  # type: ignore[union-attr]


@VERSIONS
async def test_full_list_then_differential_updates(raw_charger: ConnectRaw, version: str) -> None:
    registry = tags(Tag("MASTER"), Tag("KID", parent_id="MASTER"), Tag("OLD", enabled=False))
    charger = await raw_charger(version, authorizer=registry)

    first = await push(charger, 0)
    assert (first["updateType"], list_version(first)) == ("Full", 1)
    assert entries(charger, first) == {
        "MASTER": ("Accepted", "MASTER"),
        "KID": ("Accepted", "MASTER"),
        "OLD": ("Blocked", None),
    }

    registry.add(Tag("GUEST", expiry=EXPIRY))
    second = await push(charger, 1)
    assert (second["updateType"], list_version(second)) == ("Differential", 2)
    assert entries(charger, second) == {"GUEST": ("Accepted", None)}

    registry.update("KID", chargers=frozenset({"elsewhere"}))
    third = await push(charger, 2)
    assert (third["updateType"], list_version(third)) == ("Differential", 3)
    assert entries(charger, third) == {"KID": None}  # not valid here: removed
    # Narrower than before: the charger's cache may still admit it.
    uid, _ = await charger.expect_call("ClearCache")
    await charger.answer(uid, {"status": "Accepted"})
    await settled(charger)

    lists = charger.running.system.local_lists
    assert lists is not None
    state = lists.states["CP-1"]
    assert (state.status, state.version, state.entries) == (LocalListStatus.IN_SYNC, 3, 3)


@VERSIONS
async def test_charger_with_another_version_gets_the_full_list(
    raw_charger: ConnectRaw, version: str
) -> None:
    registry = tags(Tag("T1"))
    charger = await raw_charger(version, authorizer=registry)
    await push(charger, 0)
    registry.add(Tag("T2"))
    # Reset, or another central system's list: ours is no longer there.
    payload = await push(charger, 7)
    assert (payload["updateType"], list_version(payload)) == ("Full", 8)
    assert set(entries(charger, payload)) == {"T1", "T2"}


async def test_version_mismatch_falls_back_to_a_full_list(raw_charger: ConnectRaw) -> None:
    registry = tags(Tag("T1"))
    charger = await raw_charger(authorizer=registry)
    await push(charger, 0)
    registry.add(Tag("T2"))
    uid, _ = await charger.expect_call("GetLocalListVersion")
    await charger.answer(uid, {"listVersion": 1})
    uid, payload = await charger.expect_call("SendLocalList")
    assert payload["updateType"] == "Differential"
    await charger.answer(uid, {"status": "VersionMismatch"})
    uid, payload = await charger.expect_call("SendLocalList")
    assert (payload["updateType"], payload["listVersion"]) == ("Full", 2)
    await charger.answer(uid, {"status": "Accepted"})
    await settled(charger)
    lists = charger.running.system.local_lists
    assert lists is not None
    assert lists.states["CP-1"].status is LocalListStatus.IN_SYNC


async def test_a_list_in_sync_is_not_sent_again(raw_charger: ConnectRaw) -> None:
    registry = tags(Tag("T1"))
    charger = await raw_charger(authorizer=registry)
    await push(charger, 0)
    await settled(charger)
    lists = charger.running.system.local_lists
    assert lists is not None
    lists.request(charger.station)
    uid, _ = await charger.expect_call("GetLocalListVersion")
    await charger.answer(uid, {"listVersion": 1})
    await settled(charger)
    assert lists.states["CP-1"].status is LocalListStatus.IN_SYNC
    assert not charger._calls


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ({"listVersion": -1}, LocalListStatus.UNSUPPORTED),
        (None, LocalListStatus.UNSUPPORTED),  # CALLERROR NotImplemented
    ],
)
async def test_charger_without_a_local_list_is_skipped(
    raw_charger: ConnectRaw, answer: dict[str, Any] | None, status: LocalListStatus
) -> None:
    charger = await raw_charger(authorizer=tags(Tag("T1")))
    uid, _ = await charger.expect_call("GetLocalListVersion")
    if answer is None:
        await charger.websocket.send(f'[4, "{uid}", "NotImplemented", "", {{}}]')
    else:
        await charger.answer(uid, answer)
    await settled(charger)
    lists = charger.running.system.local_lists
    assert lists is not None
    assert lists.states["CP-1"].status is status


async def test_refused_list_is_failed_in_diagnostics(raw_charger: ConnectRaw) -> None:
    charger = await raw_charger(authorizer=tags(Tag("T1")))
    uid, _ = await charger.expect_call("GetLocalListVersion")
    await charger.answer(uid, {"listVersion": 0})
    uid, _ = await charger.expect_call("SendLocalList")
    await charger.answer(uid, {"status": "Failed"})
    await settled(charger)
    lists = charger.running.system.local_lists
    assert lists is not None
    state = lists.states["CP-1"]
    assert (state.status, state.detail) == (LocalListStatus.FAILED, "Failed")
    assert "CP-1" not in lists.pushed


@pytest.mark.parametrize(
    ("capabilities", "status"),
    [
        (Capabilities(features=frozenset({"Core"})), LocalListStatus.UNSUPPORTED),
        (
            Capabilities(features=frozenset({"LocalAuthListManagement"}), local_list_enabled=False),
            LocalListStatus.DISABLED,
        ),
        (
            Capabilities(features=frozenset({"LocalAuthListManagement"}), local_list_max_length=1),
            LocalListStatus.TOO_MANY_TAGS,
        ),
    ],
)
async def test_capabilities_say_when_not_to_push(
    raw_charger: ConnectRaw, capabilities: Capabilities, status: LocalListStatus
) -> None:
    registry = tags()
    charger = await raw_charger(authorizer=registry)
    charger.station.capabilities = capabilities
    registry.add(Tag("T1"))
    registry.add(Tag("T2"))
    lists = charger.running.system.local_lists
    assert lists is not None
    await wait_for(lambda: "CP-1" in lists.states and lists.states["CP-1"].status is status)
    assert all(call[2] != "SendLocalList" for call in charger._calls)


async def test_offline_charger_gets_the_list_when_it_reconnects(
    raw_charger: ConnectRaw, start_system: Any
) -> None:
    registry = tags()
    running = await start_system(authorizer=registry)
    running.directory.admit("CP-2")
    # CP-2 is admitted but has never connected: its sync waits.
    running.system.ensure_station("CP-2")
    registry.add(Tag("T1"))
    lists = running.system.local_lists
    assert lists.states["CP-2"].status is LocalListStatus.PENDING
    charger = await raw_charger(charger_id="CP-2", running=running)
    payload = await push(charger, 0)
    assert set(entries(charger, payload)) == {"T1"}


async def test_a_sync_ending_offline_waits_for_the_reconnect() -> None:
    """A connection that ended but is not unregistered yet answers OFFLINE at once.

    The sync must not ask again in a loop: it would never give the connection a turn
    to finish closing (issue 24's review, finding 1). It stays due for the reconnect.
    """
    station = Station("CP-1", version=OcppVersion.V16, connected=True)
    station.registration = RegistrationStatus.ACCEPTED
    asked: list[str] = []

    async def offline(_charger_id: str, command: Any) -> CommandResult:
        asked.append(type(command).__name__)
        if len(asked) > 100:
            station.connected = False  # a loop that spins: end it, the test fails below
        return CommandResult(CommandStatus.OFFLINE)

    tasks: list[asyncio.Task[None]] = []
    lists = LocalListSync(
        tags(Tag("T1")), offline, lambda work: tasks.append(asyncio.ensure_future(work))
    )
    lists.request(station)
    await asyncio.wait_for(asyncio.gather(*tasks), PATIENCE_S)
    assert asked == ["GetLocalListVersion"]
    assert lists.states["CP-1"].status is LocalListStatus.PENDING
    assert "CP-1" in lists._due


async def _never(*_: Any) -> Any:
    raise AssertionError


def test_pushed_lists_round_trip_through_storage() -> None:
    registry = tags(Tag("T1", expiry=EXPIRY, parent_id="HOUSE"), Tag("T2", enabled=False))
    sync = LocalListSync(registry, _never, lambda work: work.close())
    wanted = sync.wanted(Station("CP-1"))
    pushed = PushedList(4, wanted)
    assert PushedList.from_dict(pushed.to_dict()) == pushed


def test_long_tags_are_left_out_of_16_lists() -> None:
    registry = tags(Tag("A" * 21), Tag("B" * 20))
    sync = LocalListSync(registry, _never, lambda work: work.close())
    assert set(sync.wanted(Station("CP-1", version=OcppVersion.V16))) == {"b" * 20}
    assert len(sync.wanted(Station("CP-1", version=OcppVersion.V201))) == 2


async def test_a_charger_waiting_for_admission_gets_no_list(start_system: Any) -> None:
    registry = tags()
    running = await start_system(authorizer=registry)
    async with connect(f"{running.url}/NEW", subprotocols=["ocpp1.6"]) as websocket:  # type: ignore[list-item]
        stranger = RawCharger(websocket, running, "NEW")
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        assert (await stranger.result("BootNotification", boot))["status"] == "Pending"
        registry.add(Tag("T1"))
        await asyncio.sleep(0.05)
        lists = running.system.local_lists
        assert "NEW" not in lists.states
        assert not stranger._calls
