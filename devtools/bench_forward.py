"""`scripts/bench forward`: the central system's CPU per MeterValues, forwarded or not.

The central system (the engine, without Home Assistant) runs in this process; the
chargers and the upstream each run in a process of their own (`devtools.forward_peers`),
so this process's CPU time (`time.process_time`) is the central system's alone. Each
round starts a fresh central system, connects the chargers (1.6; each boots and starts
a transaction), then times them sending their MeterValues one after another, each
waiting for its answer. With forwarding, every charger has an upstream (mirror only)
with its durable queue in a temporary folder, and the round ends once the upstream has
answered every relayed message, so what forwarding costs after our answer is counted.

Figures: µs of CPU per MeterValues, median over the rounds, without and with
forwarding, and their ratio (issue 24's target: at most 1.5).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from custom_components.ocpp_csms.csms.central_system import CentralSystem
from custom_components.ocpp_csms.csms.events import Event
from custom_components.ocpp_csms.csms.host import AdmissionPolicy, CentralSystemSettings
from custom_components.ocpp_csms.csms.server import ServerSettings
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import UpstreamSettings
from devtools.admitted_hass import progress

CHARGERS = 10
MESSAGES = 300
ROUNDS = 5
TARGET_RATIO = 1.5


class _Nobody:
    def find(self, charger_id: str) -> None:
        return None

    def is_rejected(self, charger_id: str) -> bool:
        return False

    def handle(self, event: Event) -> None:
        pass


async def start_peer(*args: str, password: str | None = None) -> asyncio.subprocess.Process:
    """A `devtools.forward_peers` process; `password`: the chargers present it."""
    env = None if password is None else {**os.environ, "FORWARD_PEERS_PASSWORD": password}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.forward_peers", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def read_line(process: asyncio.subprocess.Process, timeout_s: float = 120) -> str:
    """The peer's next line (it must write one within `timeout_s`)."""
    assert process.stdout is not None
    async with asyncio.timeout(timeout_s):
        line = await process.stdout.readline()
    if not line:
        raise RuntimeError("a benchmark peer ended early")
    return line.decode().strip()


async def _round(upstream_url: str | None, chargers: int, messages: int) -> float:
    """One round: µs of this process's CPU per MeterValues."""
    nobody = _Nobody()
    settings = CentralSystemSettings(
        server=ServerSettings(host="127.0.0.1", port=0),
        admission=AdmissionPolicy.ACCEPT_ALL,
        learn_capabilities=False,
    )
    system = CentralSystem(settings, nobody, nobody)
    ids = [f"FW-{n:03d}" for n in range(chargers)]
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-forward-") as folder:
        await system.start()
        try:
            if upstream_url is not None:
                for charger_id in ids:
                    await system.set_upstream(
                        charger_id,
                        UpstreamSettings(upstream_url, charger_id, OcppVersion.V16),
                        queue_path=Path(folder) / f"{charger_id}.db",
                    )
            peers = await start_peer(
                "chargers", "--url", f"ws://127.0.0.1:{system.port}",
                "--chargers", str(chargers), "--messages", str(messages),
            )  # fmt: skip
            assert await read_line(peers) == "ready"
            if upstream_url is not None:
                # The boot goes first of its own; the StartTransaction counts as relayed.
                await _relayed(system, ids, 1)
            assert peers.stdin is not None
            start = time.process_time()
            peers.stdin.write(b"go\n")
            await peers.stdin.drain()
            done = json.loads(await read_line(peers, 600))
            if upstream_url is not None:
                await _relayed(system, ids, 1 + messages)
            used = time.process_time() - start
            await peers.wait()
        finally:
            await system.stop()
    return used / done["done"] * 1e6


async def _relayed(system: CentralSystem, ids: list[str], count: int) -> None:
    """Until the upstream has answered `count` messages of every charger."""
    async with asyncio.timeout(600):
        while True:
            statuses = [system.upstreams.status(charger_id) for charger_id in ids]
            if all(s is not None and s.relayed >= count and s.queued == 0 for s in statuses):
                return
            await asyncio.sleep(0.05)


async def forward(
    chargers: int = CHARGERS, messages: int = MESSAGES, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Rounds without and with forwarding, interleaved; medians and their ratio."""
    logging.getLogger("custom_components.ocpp_csms").setLevel(logging.WARNING)
    upstream = await start_peer("upstream")
    try:
        url = await read_line(upstream)
        plain: list[float] = []
        forwarded: list[float] = []
        for number in range(rounds):
            plain.append(await _round(None, chargers, messages))
            forwarded.append(await _round(url, chargers, messages))
            progress(f"forward: round {number + 1}: {plain[-1]:.0f} / {forwarded[-1]:.0f} µs")
    finally:
        assert upstream.stdin is not None
        upstream.stdin.close()
        await upstream.wait()
    without, with_upstream = statistics.median(plain), statistics.median(forwarded)
    ratio = with_upstream / without
    return {
        "chargers": chargers,
        "meter_values_per_charger": messages,
        "rounds": rounds,
        "cpu_us_per_meter_values": {
            "without": round(without, 1),
            "forwarded": round(with_upstream, 1),
            "rounds_without": [round(value, 1) for value in plain],
            "rounds_forwarded": [round(value, 1) for value in forwarded],
        },
        "ratio": round(ratio, 2),
        "target": {"ratio_at_most": TARGET_RATIO, "met": ratio <= TARGET_RATIO},
    }


def forward_table(figures: dict[str, Any]) -> str:
    """The figures as a short Markdown table."""
    cpu = figures["cpu_us_per_meter_values"]
    met = "met" if figures["target"]["met"] else "MISSED"
    return "\n".join(
        [
            "| Forwarding | Figure |",
            "|---|---|",
            f"| chargers x MeterValues each, rounds | {figures['chargers']} x "
            f"{figures['meter_values_per_charger']}, {figures['rounds']} |",
            f"| CPU per MeterValues, not forwarded (median) | {cpu['without']} µs |",
            f"| CPU per MeterValues, forwarded (median) | {cpu['forwarded']} µs |",
            f"| ratio (target ≤ {TARGET_RATIO}) | {figures['ratio']} ({met}) |",
        ]
    )
