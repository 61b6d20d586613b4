"""A forwarding link facing an upstream that refuses, hangs up, or a listener that fails.

Review of issue 24, items 1, 2, 4, 9 and 10: none of these may lose transaction
messages, send our 1.6 transaction ids upstream, loop, or leave the link dead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from custom_components.ocpp_csms.csms import upstream as upstream_module
from custom_components.ocpp_csms.csms import upstream_policy, upstream_refusals
from custom_components.ocpp_csms.csms.log_budget import LogBudget
from custom_components.ocpp_csms.csms.rpc import RpcConnection
from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream import UpstreamLink
from custom_components.ocpp_csms.csms.upstream_policy import UpstreamCommand
from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_settings import (
    Backoff,
    UpstreamSettings,
    UpstreamState,
    UpstreamStatus,
)
from tests.chargers import PATIENCE_S, wait_for
from tests.engine.conftest import StartSystem
from tests.engine.fake_upstream import fake_upstream

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
START = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}
STARTED = {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}
METER = {
    "connectorId": 1,
    "transactionId": 7,
    "meterValue": [{"timestamp": "2026-01-01T00:10:00Z", "sampledValue": [{"value": "100"}]}],
}
STOP = {"transactionId": 7, "meterStop": 100, "timestamp": "2026-01-01T01:00:00Z"}
HEARTBEAT_ANSWER = {"currentTime": "2026-01-01T00:00:00Z"}
# Two retries, no wait between tries: the tests wait on what the upstream receives.
NO_WAITS = (0.0, 0.0)


@pytest.fixture(autouse=True)
def fresh_log_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's lines logged, whatever the tests before it logged."""
    for module in (upstream_module, upstream_refusals, upstream_policy):
        budget = LogBudget(per_source=5, overall=60, period_s=600.0)
        monkeypatch.setattr(module, "_LOG_BUDGET", budget)


@asynccontextmanager
async def link_to(
    url: str, tmp_path: Path, version: OcppVersion = OcppVersion.V16, **kwargs: Any
) -> AsyncIterator[UpstreamLink]:
    """A started link of CP-1 as UP-1, stopped at the end."""
    schemas = (await asyncio.to_thread(load_all))[version]
    link = UpstreamLink(
        "CP-1",
        UpstreamSettings(url, "UP-1", version),
        schemas,
        UpstreamQueue(tmp_path / "q.db"),
        **kwargs,
    )
    await link.start()
    try:
        yield link
    finally:
        await link.stop()


def relay_session(link: UpstreamLink) -> None:
    """A 1.6 boot, then a whole session of ours (transaction 7), then a heartbeat."""
    link.relay("BootNotification", BOOT, {"status": "Accepted"})
    link.relay("StartTransaction", START, STARTED)
    link.relay("MeterValues", METER, {})
    link.relay("StopTransaction", STOP, {})
    link.relay("Heartbeat", {}, HEARTBEAT_ANSWER)


# -- CALLERRORs (items 1 and 2) ------------------------------------------------------


async def test_a_start_answered_with_an_error_is_sent_again_and_its_id_used(
    tmp_path: Path,
) -> None:
    async with fake_upstream() as upstream:
        upstream.errors["StartTransaction"] = ["InternalError"]
        async with link_to(upstream.url, tmp_path, retry_waits=NO_WAITS) as link:
            relay_session(link)
            await wait_for(lambda: upstream.of("Heartbeat"))
            assert link.status.set_aside == 0
            await wait_for(lambda: link.status.queued == 0)  # the last answer is in
    assert upstream.actions() == [
        "BootNotification",
        "StartTransaction",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
        "Heartbeat",
    ]
    # The first answer was the error: the id is the one of the second.
    assert upstream.of("MeterValues")[0]["transactionId"] == 9001
    assert upstream.of("StopTransaction")[0]["transactionId"] == 9001


async def test_a_start_always_refused_is_set_aside_and_our_id_never_goes_upstream(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused for its payload: three tries, then set aside; its readings go without an id,
    its stop not (an error not about the payload is waited out: `test_upstream_refusals`).
    """
    async with fake_upstream() as upstream:
        upstream.errors["StartTransaction"] = ["FormationViolation"] * 10
        statuses: list[UpstreamStatus] = []
        async with link_to(
            upstream.url, tmp_path, retry_waits=NO_WAITS, on_status=statuses.append
        ) as link:
            relay_session(link)
            await wait_for(lambda: upstream.of("Heartbeat"))
            assert link.status.set_aside == 2  # the start and the stop
            await wait_for(lambda: link.status.queued == 0)  # the last answer is in
            await wait_for(lambda: statuses[-1].set_aside == 2)
    assert upstream.actions() == [
        "BootNotification",
        "StartTransaction",
        "StartTransaction",
        "StartTransaction",
        "MeterValues",
        "Heartbeat",
    ]
    [meter] = upstream.of("MeterValues")
    assert "transactionId" not in meter
    assert meter["meterValue"] == METER["meterValue"]
    aside = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert [("StartTransaction" in line, "StopTransaction" in line) for line in aside] == [
        (True, False),
        (False, True),
    ]


async def test_a_transaction_event_answered_with_an_error_is_sent_again(
    tmp_path: Path,
) -> None:
    event = {
        "eventType": "Started",
        "timestamp": "2026-01-01T00:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1"},
    }
    async with fake_upstream() as upstream:
        upstream.errors["TransactionEvent"] = ["InternalError", "GenericError"]
        async with link_to(upstream.url, tmp_path, OcppVersion.V201, retry_waits=NO_WAITS) as link:
            link.relay("BootNotification", BOOT_201, {"status": "Accepted"})
            link.relay("TransactionEvent", event, {})
            link.relay("Heartbeat", {}, HEARTBEAT_ANSWER)
            await wait_for(lambda: upstream.of("Heartbeat"))
            assert link.status.set_aside == 0
    assert upstream.of("TransactionEvent") == [event] * 3


async def test_an_error_on_a_droppable_message_is_taken_as_its_answer(tmp_path: Path) -> None:
    async with fake_upstream() as upstream:
        upstream.errors["Heartbeat"] = ["InternalError"]
        async with link_to(upstream.url, tmp_path, retry_waits=NO_WAITS) as link:
            link.relay("BootNotification", BOOT, {"status": "Accepted"})
            link.relay("Heartbeat", {}, HEARTBEAT_ANSWER)
            link.relay("Authorize", {"idTag": "T"}, {"idTagInfo": {"status": "Accepted"}})
            await wait_for(lambda: upstream.of("Authorize"))
            assert link.status.set_aside == 0
    assert upstream.actions() == ["BootNotification", "Heartbeat", "Authorize"]


async def test_a_security_error_after_an_accepted_boot_does_not_boot_again(
    tmp_path: Path,
) -> None:
    """An upstream refusing a message with SecurityError a while: no boot loop, none lost."""
    async with fake_upstream() as upstream:
        upstream.errors["StartTransaction"] = ["SecurityError"] * 4
        async with link_to(upstream.url, tmp_path, retry_waits=NO_WAITS) as link:
            relay_session(link)
            await wait_for(lambda: upstream.of("Heartbeat"))
            assert link.status.set_aside == 0
    assert upstream.actions("BootNotification", "StartTransaction") == [
        "BootNotification",
        *["StartTransaction"] * 5,
    ]


async def test_a_security_error_before_any_boot_waits_for_the_chargers_boot(
    tmp_path: Path,
) -> None:
    async with fake_upstream() as upstream:
        upstream.errors["Heartbeat"] = ["SecurityError"]
        async with link_to(upstream.url, tmp_path, retry_waits=NO_WAITS) as link:
            await wait_for(lambda: link.status.connected)
            link.relay("Heartbeat", {}, HEARTBEAT_ANSWER)
            await wait_for(lambda: upstream.of("Heartbeat"))
            link.relay("BootNotification", BOOT, {"status": "Accepted"})
            await wait_for(lambda: len(upstream.of("Heartbeat")) == 2)
    assert upstream.actions() == ["Heartbeat", "BootNotification", "Heartbeat"]


# -- listeners and unexpected failures (item 4) ----------------------------------------


async def test_a_listener_that_raises_does_not_end_the_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def on_status(status: UpstreamStatus) -> None:
        raise RuntimeError("a listener's bug")

    async with fake_upstream() as upstream:
        async with link_to(upstream.url, tmp_path, on_status=on_status) as link:
            await wait_for(lambda: link.status.connected)
            relay_session(link)
            await wait_for(lambda: upstream.of("Heartbeat"))
        assert link.status.state is UpstreamState.STOPPED
    assert "on_status listener raised" in caplog.text


async def test_a_command_listener_that_raises_does_not_cost_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def on_command(command: UpstreamCommand) -> None:
        raise RuntimeError("a listener's bug")

    async with (
        fake_upstream() as upstream,
        link_to(upstream.url, tmp_path, on_command=on_command) as link,
    ):
        await wait_for(lambda: link.status.connected)
        for _ in range(2):
            answer = await upstream.send_call("Reset", {"type": "Hard"})
            assert answer[2] == {"status": "Rejected"}  # mirror only
        assert link.status.connected
    assert "reporting its Reset failed" in caplog.text  # the gate's guard


async def test_a_url_websockets_refuses_is_an_outage_not_the_links_end(tmp_path: Path) -> None:
    async with link_to("ws://127.0.0.1:notaport", tmp_path, backoff=Backoff(first=3600.0)) as link:
        await wait_for(lambda: link.status.state is UpstreamState.UNREACHABLE)
        assert "notaport" in link.status.last_error
        assert link._task is not None
        assert not link._task.done()


async def test_a_link_that_fails_to_stop_does_not_stop_the_central_systems_stop(
    start_system: StartSystem, tmp_path: Path
) -> None:
    ours = await start_system()
    async with fake_upstream() as upstream:
        settings = UpstreamSettings(upstream.url, "UP-1", OcppVersion.V16)
        for charger in ("CP-1", "CP-2"):
            await ours.system.set_upstream(charger, settings, queue_path=tmp_path / f"{charger}.db")
        links = ours.system.upstreams._links
        first, second = links["CP-1"], links["CP-2"]
        stop_first = first.stop

        async def broken_stop() -> None:
            await stop_first()
            raise RuntimeError("a bug in stop")

        first.stop = broken_stop
        await ours.system.stop()
        # The other link stopped, and its queue closed, all the same.
        assert second.status.state is UpstreamState.STOPPED
        assert second._task is None


# -- a stop during a connection's cleanup (item 9) -------------------------------------


async def test_a_stop_during_the_cleanup_of_a_lost_connection_ends_the_link(
    tmp_path: Path,
) -> None:
    async with (
        fake_upstream() as upstream,
        link_to(upstream.url, tmp_path, backoff=Backoff(first=0.01, cap=0.01)) as link,
    ):
        winding_down, release = asyncio.Event(), asyncio.Event()
        send_all = link._send_all

        async def slow_to_cancel(rpc: RpcConnection) -> None:
            try:
                await send_all(rpc)
            except asyncio.CancelledError:
                winding_down.set()  # a sender that takes a moment to end
                await release.wait()
                raise

        link._send_all = slow_to_cancel  # type: ignore[method-assign]
        await wait_for(lambda: link.status.connected)
        await upstream.go_down()  # the cleanup now waits for the sender
        async with asyncio.timeout(PATIENCE_S):
            await winding_down.wait()
        stop = asyncio.create_task(link.stop())
        await asyncio.sleep(0)
        release.set()
        # Not under a timeout, whose cancellation would end a stop that hangs.
        await asyncio.wait({stop}, timeout=PATIENCE_S)
        if not stop.done():
            stop.cancel()
            pytest.fail("the stop was taken for the sender's and the link went on")
        assert link.status.state is UpstreamState.STOPPED
        assert upstream.ended == 1  # no connection since


# -- reconnect waits (item 10) -------------------------------------------------------


class CountingBackoff(Backoff):
    """Waits too short to matter, counting resets."""

    def __init__(self) -> None:
        super().__init__(first=0.001, cap=0.004)
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1
        super().reset()


@asynccontextmanager
async def hanging_up_after_the_boot() -> AsyncIterator[tuple[str, list[str]]]:
    """An upstream that accepts our boot, then closes the connection: its URL and frames."""
    frames: list[str] = []

    async def handle(socket: ServerConnection) -> None:
        async for frame in socket:
            message = json.loads(frame)
            frames.append(message[2])
            answer = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 9}
            await socket.send(json.dumps([3, message[1], answer]))
            await socket.close(1011, "bye")

    server = await serve(handle, "127.0.0.1", 0, select_subprotocol=lambda _c, o: o[0])
    try:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}", frames
    finally:
        server.close()
        await server.wait_closed()


async def test_an_upstream_that_hangs_up_after_the_boot_is_redialled_ever_later(
    tmp_path: Path,
) -> None:
    backoff = CountingBackoff()
    async with (
        hanging_up_after_the_boot() as (url, frames),
        link_to(url, tmp_path, backoff=backoff) as link,
    ):
        link.relay("BootNotification", BOOT, {"status": "Accepted"})
        await wait_for(lambda: len(frames) >= 4)
    assert backoff.resets == 0  # each wait longer than the one before (up to the cap)


async def test_reconnect_waits_start_over_after_a_stable_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_module, "STABLE_CONNECTION_S", 0.0)
    backoff = CountingBackoff()
    async with (
        hanging_up_after_the_boot() as (url, frames),
        link_to(url, tmp_path, backoff=backoff) as link,
    ):
        link.relay("BootNotification", BOOT, {"status": "Accepted"})
        await wait_for(lambda: len(frames) >= 2 and backoff.resets >= 2)


def test_the_retries_are_bounded() -> None:
    """A refused message holds up the queue for minutes, not for ever."""
    assert 3 <= len(upstream_refusals.RETRY_WAITS_S) + 1 <= 5
    assert sum(upstream_refusals.RETRY_WAITS_S) <= 300
