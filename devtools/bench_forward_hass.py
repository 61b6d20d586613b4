"""`scripts/bench forward-hass`: Home Assistant's CPU per MeterValues, forwarded or not.

What a user pays: the same chargers and upstream as `scripts/bench forward`
(`devtools.forward_peers`, each a process of its own), but the central system is the
integration in a real Home Assistant (a fresh configuration, no recorder), whose CPU
time (utime + stime from /proc, every thread) is read around each window. Its config
entry is written before the first start (`AdmittedHomeAssistant`) with two sets of
admitted OCPP 1.6 chargers, with a password: FP-000... never forwarded, and FF-000...
each with an `upstream` subentry (mirror only) to the minimal upstream. The sets take
turns: each window connects one set (each charger boots and starts a transaction), lets
Home Assistant settle (registry saves, the boot's follow-ups, the upstream catching up),
reads the CPU, says "go" (each charger sends its MeterValues one after the other, each
waiting for its answer), waits for the chargers to be done and, forwarded, for the
upstream to have answered every MeterValues, then a fixed tail for work Home Assistant
puts off (the queued-messages sensor is updated at most once a second), and reads the
CPU again. The chargers stay connected until then: their disconnection is not counted.

Figures: µs of Home Assistant's CPU per MeterValues, median over the rounds, without
and with forwarding, and their ratio (issue 24's target: at most 1.5); also "net",
less what Home Assistant used while the same chargers were connected and silent.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custom_components.ocpp_csms.const import SUBENTRY_UPSTREAM
from custom_components.ocpp_csms.csms.credentials import generate_password
from custom_components.ocpp_csms.csms.station import OcppVersion
from custom_components.ocpp_csms.csms.upstream_settings import CommandPolicy
from custom_components.ocpp_csms.upstream.settings import (
    subentry_data,
    upstream_title,
    upstream_unique_id,
)
from devtools.admitted_hass import AdmittedHomeAssistant, progress
from devtools.bench_forward import CHARGERS, MESSAGES, ROUNDS, TARGET_RATIO, read_line, start_peer
from devtools.homeassistant import HomeAssistantError
from devtools.load_window import REGISTRY_SAVE_DELAY_S, cpu_seconds, settle

PLAIN, FORWARDED = "FP-", "FF-"
# Silent, connected chargers before each window: Home Assistant's idle CPU.
IDLE_S = 3.0
# After the last answer: entity states and the queue sensor put off (coalesced to 1 s).
TAIL_S = 1.5


def upstream_subentries(charger_ids: list[str], url: str) -> list[dict[str, Any]]:
    """An upstream subentry per charger, as the subentry flow stores it (mirror only)."""
    return [
        {
            "data": subentry_data(
                charger_id,
                url=url,
                charge_point_id=charger_id,
                password=None,
                version=OcppVersion.V16,
                policy=CommandPolicy.MIRROR_ONLY,
                allowed_commands=[],
            ),
            "subentry_id": f"upstream{index:028d}",
            "subentry_type": SUBENTRY_UPSTREAM,
            "title": upstream_title(charger_id, url),
            "unique_id": upstream_unique_id(charger_id),
        }
        for index, charger_id in enumerate(charger_ids)
    ]


@dataclass(frozen=True)
class Window:
    """One window's figures: Home Assistant's CPU over it, and while idle before it."""

    meter_values: int
    cpu_s: float
    seconds: float
    idle_cpu_per_s: float

    @property
    def us_per_meter_values(self) -> float:
        """Home Assistant's CPU per MeterValues."""
        return self.cpu_s / self.meter_values * 1e6

    @property
    def net_us_per_meter_values(self) -> float:
        """Less what Home Assistant spent idle in as long a time."""
        idle = self.idle_cpu_per_s * self.seconds
        return max(self.cpu_s - idle, 0.0) / self.meter_values * 1e6


class Upstream:
    """The minimal upstream (`forward_peers upstream`): its URL and its count of answers."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        """Talk to the running `process` that serves at `url`."""
        self.process = process
        self.url = url

    @classmethod
    async def start(cls) -> Upstream:
        """Start it and read its URL."""
        process = await start_peer("upstream")
        return cls(process, await read_line(process))

    async def answered(self, at_least: int = 0, timeout_s: float = 300) -> int:
        """How many CALLs it has answered, once that is `at_least` (within `timeout_s`)."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"until {at_least}\n".encode())
        await self.process.stdin.drain()
        return int(json.loads(await read_line(self.process, timeout_s))["answered"])

    async def stop(self) -> None:
        """Close its stdin: it stops."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


@dataclass(frozen=True)
class Bench:
    """Home Assistant, the upstream, and the chargers' shape: what every window uses."""

    hass: AdmittedHomeAssistant
    upstream: Upstream
    password: str
    chargers: int
    messages: int
    delayed_work_s: float = REGISTRY_SAVE_DELAY_S

    async def window(self, prefix: str) -> Window:
        """Connect one set of chargers, settle, time their MeterValues, disconnect them."""
        pid, upstream = self.hass.pid, self.upstream
        peers = await start_peer(
            "chargers", "--url", self.hass.url, "--chargers", str(self.chargers),
            "--messages", str(self.messages), "--prefix", prefix, "--hold",
            password=self.password,
        )  # fmt: skip
        assert peers.stdin is not None
        try:
            if (line := await read_line(peers, 300)) != "ready":
                raise HomeAssistantError(f"the chargers did not get ready: {line}")
            await settle(pid, self.delayed_work_s)
            before_idle = cpu_seconds(pid)
            await asyncio.sleep(IDLE_S)
            idle = (cpu_seconds(pid) - before_idle) / IDLE_S
            answered = await upstream.answered()
            before, start = cpu_seconds(pid), time.monotonic()
            peers.stdin.write(b"go\n")
            await peers.stdin.drain()
            done = int(json.loads(await read_line(peers, 600))["done"])
            if prefix == FORWARDED:
                await upstream.answered(answered + done)
            await asyncio.sleep(TAIL_S)
            cpu, seconds = cpu_seconds(pid) - before, time.monotonic() - start
            relayed = await upstream.answered() - answered
        finally:
            peers.stdin.close()
            await asyncio.wait_for(peers.wait(), 60)
        if relayed != (done if prefix == FORWARDED else 0):  # nothing lost, nothing leaked
            raise HomeAssistantError(f"{prefix}: {done} MeterValues, {relayed} relayed")
        return Window(done, cpu, seconds, idle)


async def forward_hass(
    chargers: int = CHARGERS,
    messages: int = MESSAGES,
    rounds: int = ROUNDS,
    *,
    delayed_work_s: float = REGISTRY_SAVE_DELAY_S,
) -> dict[str, Any]:
    """Windows without and with forwarding, interleaved, in one Home Assistant."""
    password = generate_password()
    ids = {prefix: [f"{prefix}{n:03d}" for n in range(chargers)] for prefix in (PLAIN, FORWARDED)}
    passwords = {charger_id: password for group in ids.values() for charger_id in group}
    upstream = await Upstream.start()
    plain: list[Window] = []
    forwarded: list[Window] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ocpp-bench-forward-hass-") as work:
            async with AdmittedHomeAssistant(
                Path(work), passwords, "forward-hass",
                extra_subentries=upstream_subentries(ids[FORWARDED], upstream.url),
            ) as hass:  # fmt: skip
                bench = Bench(hass, upstream, password, chargers, messages, delayed_work_s)
                for number in range(rounds):
                    plain.append(await bench.window(PLAIN))
                    forwarded.append(await bench.window(FORWARDED))
                    progress(
                        f"forward-hass: round {number + 1}: "
                        f"{plain[-1].us_per_meter_values:.0f} / "
                        f"{forwarded[-1].us_per_meter_values:.0f} µs"
                    )
                await hass.stop()
    finally:
        await upstream.stop()
    return forward_hass_figures(chargers, messages, plain, forwarded)


def forward_hass_figures(
    chargers: int, messages: int, plain: list[Window], forwarded: list[Window]
) -> dict[str, Any]:
    """Medians over the rounds, their ratio, and each round's figures."""
    figures: dict[str, Any] = {
        "chargers": chargers,
        "meter_values_per_charger": messages,
        "rounds": len(plain),
    }
    for name, net in (("cpu_us_per_meter_values", False), ("net_cpu_us_per_meter_values", True)):
        without = [_per_meter_values(window, net=net) for window in plain]
        with_upstream = [_per_meter_values(window, net=net) for window in forwarded]
        figures[name] = {
            "without": round(statistics.median(without), 1),
            "forwarded": round(statistics.median(with_upstream), 1),
            "rounds_without": [round(value, 1) for value in without],
            "rounds_forwarded": [round(value, 1) for value in with_upstream],
            "ratio": _ratio(statistics.median(with_upstream), statistics.median(without)),
        }
    ratio = figures["cpu_us_per_meter_values"]["ratio"]
    figures["ratio"] = ratio
    figures["idle_cpu_percent"] = round(
        statistics.median(window.idle_cpu_per_s for window in plain + forwarded) * 100, 2
    )
    figures["window_seconds"] = {
        "without": round(statistics.median(window.seconds for window in plain), 2),
        "forwarded": round(statistics.median(window.seconds for window in forwarded), 2),
    }
    figures["target"] = {
        "ratio_at_most": TARGET_RATIO,
        "met": ratio is not None and ratio <= TARGET_RATIO,
    }
    return figures


def _ratio(forwarded: float, without: float) -> float | None:
    # /proc counts CPU in 10 ms ticks: a tiny window can show none at all.
    return round(forwarded / without, 2) if without else None


def _per_meter_values(window: Window, *, net: bool) -> float:
    return window.net_us_per_meter_values if net else window.us_per_meter_values


def forward_hass_table(figures: dict[str, Any]) -> str:
    """The figures as a short Markdown table."""
    cpu, net = figures["cpu_us_per_meter_values"], figures["net_cpu_us_per_meter_values"]
    met = "met" if figures["target"]["met"] else "MISSED"
    seconds = figures["window_seconds"]
    return "\n".join(
        [
            "| Forwarding, in Home Assistant | Figure |",
            "|---|---|",
            f"| chargers x MeterValues each, rounds | {figures['chargers']} x "
            f"{figures['meter_values_per_charger']}, {figures['rounds']} |",
            f"| CPU per MeterValues, not forwarded (median; net) | {cpu['without']} µs; "
            f"{net['without']} µs |",
            f"| CPU per MeterValues, forwarded (median; net) | {cpu['forwarded']} µs; "
            f"{net['forwarded']} µs |",
            f"| ratio (target ≤ {TARGET_RATIO}; net) | {figures['ratio']} ({met}); "
            f"{net['ratio']} |",
            f"| window (not forwarded / forwarded; idle CPU) | {seconds['without']} / "
            f"{seconds['forwarded']} s; {figures['idle_cpu_percent']} % of a core |",
        ]
    )
