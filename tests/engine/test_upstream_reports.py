"""What a forwarding link reports of itself, and how often (see `coalesce`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from custom_components.ocpp_csms.csms.coalesce import Coalescer
from custom_components.ocpp_csms.csms.schemas import load_all
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream import UpstreamLink
from custom_components.ocpp_csms.csms.upstream_queue import UpstreamQueue
from custom_components.ocpp_csms.csms.upstream_settings import (
    UpstreamSettings,
    UpstreamState,
    UpstreamStatus,
)

# An interval no test waits out.
LONG_S = 3600.0


async def turn() -> None:
    """Let the event loop run what was scheduled for its next turn."""
    await asyncio.sleep(0)


async def test_a_burst_in_one_turn_is_one_report() -> None:
    reports: list[int] = []
    coalescer = Coalescer(lambda: reports.append(len(reports)), interval_s=LONG_S)
    for _ in range(600):
        coalescer.changed()
    assert reports == []  # not inside the burst
    await turn()
    assert reports == [0]


async def test_changes_after_a_report_wait_for_the_interval_then_come_at_once() -> None:
    reports: list[str] = []
    coalescer = Coalescer(lambda: reports.append("report"), interval_s=LONG_S)
    coalescer.changed()
    await turn()
    coalescer.changed()
    coalescer.changed()
    await turn()
    assert reports == ["report"]
    assert coalescer.pending  # the last change is reported, at the interval's end
    coalescer.now()  # a change that must not wait takes it along
    assert reports == ["report", "report"]
    assert not coalescer.pending
    coalescer.changed()
    coalescer.cancel()
    assert not coalescer.pending


async def test_the_trailing_report_comes_when_the_interval_has_passed() -> None:
    reports: list[str] = []
    coalescer = Coalescer(lambda: reports.append("report"), interval_s=0.0)
    coalescer.changed()
    await turn()
    coalescer.changed()
    await turn()
    assert reports == ["report", "report"]


async def test_a_link_reports_a_burst_of_messages_in_a_few_calls(tmp_path: Path) -> None:
    """300 messages queued: one report with all of them, not one per message."""
    schemas = (await asyncio.to_thread(load_all))[OcppVersion.V16]
    reports: list[UpstreamStatus] = []
    link = UpstreamLink(
        "CP-1",
        UpstreamSettings("ws://127.0.0.1:9/ocpp", "UP-1", OcppVersion.V16),
        schemas,
        UpstreamQueue(tmp_path / "q.db"),
        on_status=reports.append,
    )
    await link.queue.open()
    reading = {"connectorId": 1, "transactionId": 5, "meterValue": []}
    for _ in range(300):
        link.relay("MeterValues", reading, {})
    await turn()
    assert [report.queued for report in reports] == [300]
    link._set_state(UpstreamState.UNREACHABLE)  # a state change is reported at once
    assert [report.state for report in reports][-1] is UpstreamState.UNREACHABLE
    await link.stop()
    assert reports[-1].state is UpstreamState.STOPPED
