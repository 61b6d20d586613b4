"""`scripts/bench load`: the integration in a real Home Assistant, under chargers' load.

Starts a real Home Assistant (a fresh configuration, no recorder, the main job's
settings) with a central system that accepts every new charger, and drives it with
`devtools.loadgen` from a separate process. The same generator first drives
`devtools.floor`, a bare WebSocket server that answers each CALL, so that our CPU per
message can be stated as a multiple of that floor. Scenarios:

- *fleet*: N new chargers connect at once (admission time, no reload, none dropped),
  and once Home Assistant is quiet again (the registries saved), send MeterValues (6
  measurands) at one aggregate rate, so that the CPU per message can be compared
  between fleet sizes; Home Assistant's RSS per charger;
- *saturate*: K chargers send back to back: messages per second;
- *rate*: 100 chargers at one MeterValues per 5 s: CALL to CALLRESULT latency, and the
  latency until the power sensor's new state reaches a WebSocket API subscriber;
- *idle*: the same 100 chargers connected, sending nothing: CPU share of one core.

CPU is Home Assistant's own utime + stime from /proc over each window.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from devtools.homeassistant import (
    HomeAssistantClient,
    HomeAssistantError,
    Login,
    prepare_config,
    start_hass,
    stop_process,
)
from devtools.load_memory import memory_breakdown
from devtools.load_profile import profile_saturated
from devtools.load_window import (
    IDLE_BASELINE_S,
    Generator,
    cpu_seconds,
    free_port,
    measure,
    progress,
    rss_mb,
    settle,
)

DOMAIN = "ocpp_csms"
AGGREGATE_RATE = 100.0  # MeterValues/s of the fleet windows, whatever the fleet's size


async def floor_cost(
    saturating: int, seconds: float, idle_s: float = IDLE_BASELINE_S, connections: int = 100
) -> dict[str, Any]:
    """The bare server's CPU per message, throughput and memory per connection.

    `connections` chargers send at the fleets' aggregate rate.
    """
    port = free_port()
    floor = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.floor", "--port", str(port), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert floor.stdout is not None
        await floor.stdout.readline()
        url = f"ws://127.0.0.1:{port}"
        empty_mb = rss_mb(floor.pid)
        rated, generator = await measure(
            url,
            floor.pid,
            connections,
            "F",
            "--interval",
            str(connections / AGGREGATE_RATE),
            "--seconds",
            str(seconds),
            idle_s=idle_s,
            delayed_work_s=0,  # a bare server saves nothing
        )
        await generator.finish()
        saturated, generator = await measure(
            url,
            floor.pid,
            saturating,
            "FS",
            "--saturate",
            str(saturating),
            "--seconds",
            str(seconds),
            idle_s=idle_s,
            delayed_work_s=0,  # a bare server saves nothing
        )
        await generator.finish()
    finally:
        await stop_process(floor, 5)
    return {
        "cpu_per_message_us": rated.cpu_per_message_us,
        "net_cpu_per_message_us": rated.net_cpu_per_message_us,
        "saturated_messages_per_s": saturated.figures["messages_per_s"],
        "saturated_cpu_per_message_us": saturated.cpu_per_message_us,
        "connections": connections,
        "rss_per_connection_kb": round((rated.rss_mb - empty_mb) * 1024 / connections, 1),
    }


class StateWatcher:
    """Power sensors' new states as a WebSocket API subscriber sees them, timed."""

    def __init__(self, client: HomeAssistantClient) -> None:
        """Subscribe through `client`'s login."""
        self._client = client
        self.seen: list[tuple[str, str, float]] = []  # entity, state, monotonic arrival
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, entity_ids: list[str]) -> None:
        """Subscribe to `entity_ids` (`subscribe_entities`: filtered in Home Assistant)."""
        self._ws = ws = await self._client.connect_websocket()
        await ws.send_json({"id": 1, "type": "subscribe_entities", "entity_ids": entity_ids})
        self._task = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            arrived = time.monotonic()
            data = json.loads(message.data)
            changes = (data.get("event") or {}).get("c") or {}
            for entity_id, change in changes.items():
                state = (change.get("+") or {}).get("s")
                if state is not None:
                    self.seen.append((entity_id, state, arrived))

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
        if self._ws is not None:
            await self._ws.close()


async def power_sensors(client: HomeAssistantClient, prefix: str) -> dict[str, str]:
    """Power sensor entity id -> charger id, for the chargers whose ids start `prefix`."""
    states = await client.command("get_states")
    found = {}
    for state in states:
        name = str(state["attributes"].get("friendly_name", ""))
        is_sensor = state["entity_id"].startswith("sensor.")
        if is_sensor and name.startswith(prefix) and name.endswith(" Power"):
            found[state["entity_id"]] = name.removesuffix(" Power")
    return found


def entity_latencies(
    trace: Sequence[Sequence[Any]], seen: Sequence[tuple[str, str, float]], sensors: dict[str, str]
) -> list[float]:
    """From each MeterValues sent to its power sensor's new state (W or kW)."""
    sent = {(charger, round(power)): at for charger, power, at in trace}
    latencies = []
    for entity_id, state, arrived in seen:
        charger = sensors.get(entity_id)
        try:
            value = float(state)
        except ValueError:
            continue
        for watts in (value, value * 1000):
            at = sent.get((charger, round(watts)))
            if at is not None:
                latencies.append(arrived - at)
                break
    return latencies


def _percentiles_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p99_ms": round(p99 * 1000, 1)}


async def home_assistant_load(
    fleets: Sequence[int], saturating: int, seconds: float, work: Path, *, profile: bool = False
) -> dict[str, Any]:
    """Every Home Assistant scenario, on one fresh instance."""
    config = work / "config"
    prepare_config(config)
    ha_port, csms_port = free_port(), free_port()
    hass = await start_hass(config, work / "hass-output.log", ha_port)
    url = f"ws://127.0.0.1:{csms_port}"
    results: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as session:
            client = HomeAssistantClient(session, f"http://127.0.0.1:{ha_port}")
            await client.wait_until_up(hass, timeout=300)
            await client.onboard_or_login(Login())
            await client.create_central_system(csms_port, unknown_chargers="accept_all")
            await asyncio.sleep(5)  # the schemas load once, in an executor
            results["rss_empty_mb"] = round(rss_mb(hass.pid), 1)
            results["fleets"] = {}
            for size in fleets:
                rss_before = rss_mb(hass.pid)
                window, generator = await measure(
                    url, hass.pid, size, f"N{size}-", "--interval", str(size / AGGREGATE_RATE),
                    "--seconds", str(seconds), "--prime",
                )  # fmt: skip
                entries = await client.entries(DOMAIN)
                await generator.finish()
                progress(f"fleet {size}: {window.figures}")
                results["fleets"][size] = {
                    "admission_s": window.admission_s,
                    "settled_after_s": window.settle_s,
                    "cpu_per_message_us": window.cpu_per_message_us,
                    "net_cpu_per_message_us": window.net_cpu_per_message_us,
                    "idle_cpu_percent": round(window.idle_cpu_per_s * 100, 2),
                    "rss_per_charger_kb": round((window.rss_mb - rss_before) * 1024 / size, 1),
                    "entry_state": entries[0]["state"],
                    **window.figures,
                }
            saturated, generator = await measure(
                url, hass.pid, saturating, "S-", "--saturate", str(saturating),
                "--seconds", str(seconds),
            )  # fmt: skip
            await generator.finish()
            progress(f"saturate: {saturated.figures}")
            results["saturate"] = {
                "chargers": saturating,
                "cpu_per_message_us": saturated.cpu_per_message_us,
                **saturated.figures,
            }
            results["rate"], results["idle"] = await rate_and_idle(
                client, url, hass.pid, seconds=seconds, work=work
            )
            if profile:  # last, in a window of its own: sampling disturbs what it measures
                results["profile"] = await profile_saturated(url, hass.pid, saturating)
            await client.close()
    finally:
        await stop_process(hass)
    return results


async def rate_and_idle(
    client: HomeAssistantClient,
    url: str,
    pid: int,
    *,
    seconds: float,
    work: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """100 chargers at one MeterValues per 5 s (latencies), then idle (CPU share)."""
    trace_file = work / "trace.json"
    generator = await Generator.start(
        url, 100, "R-", "--interval", "5", "--seconds", str(max(seconds, 30)),
        "--prime", "--trace", str(trace_file),
    )  # fmt: skip
    await generator.expect("connected")
    sensors = await power_sensors(client, "R-")
    watcher = StateWatcher(client)
    await watcher.start(list(sensors))
    await settle(pid)
    before = cpu_seconds(pid)
    generator.go()
    await generator.expect("window_start")
    end = await generator.expect("window_end")
    rate_cpu = cpu_seconds(pid) - before
    await asyncio.sleep(1)
    await watcher.stop()
    trace = json.loads(trace_file.read_text())
    to_state = entity_latencies(trace, watcher.seen, sensors)
    rate = {
        "chargers": 100,
        "interval_s": 5,
        "call_p50_ms": end["p50_ms"],
        "call_p99_ms": end["p99_ms"],
        "state": {"matched": len(to_state), **_percentiles_ms(to_state)},
        "cpu_per_message_us": round(rate_cpu / end["answered"] * 1e6, 1)
        if end["answered"]
        else None,
        "errors": end["errors"],
        "disconnected": end["disconnected"],
    }
    idle_seconds = max(seconds, 20)
    before = cpu_seconds(pid)
    await asyncio.sleep(idle_seconds)
    idle = {
        "chargers": 100,
        "seconds": idle_seconds,
        "cpu_percent_of_a_core": round((cpu_seconds(pid) - before) / idle_seconds * 100, 2),
    }
    await generator.finish()
    return rate, idle


async def load(
    fleets: Sequence[int],
    saturating: int,
    seconds: float,
    *,
    profile: bool = False,
    memory: int = 0,
) -> dict[str, Any]:
    """The floor, then Home Assistant; our costs as multiples of the floor's.

    With `memory`, a traced Home Assistant of its own then admits that many chargers
    and says which areas hold their memory.
    """
    floor = await floor_cost(saturating, seconds, connections=max(fleets))
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-") as work:
        ours = await home_assistant_load(fleets, saturating, seconds, Path(work), profile=profile)
        if memory:
            try:
                ours["memory"] = await memory_breakdown(memory, Path(work))
            except (HomeAssistantError, aiohttp.ClientError, OSError, TimeoutError) as error:
                # The other figures took ten minutes: keep them.
                progress(f"memory: failed, {error!r}")
                ours["memory"] = {"error": repr(error)}
    per_message = floor["net_cpu_per_message_us"]
    for fleet in ours["fleets"].values():
        if per_message and fleet["net_cpu_per_message_us"]:
            fleet["times_floor"] = round(fleet["net_cpu_per_message_us"] / per_message, 1)
    saturated = ours["saturate"]
    if floor["saturated_cpu_per_message_us"] and saturated["cpu_per_message_us"]:
        saturated["times_floor"] = round(
            saturated["cpu_per_message_us"] / floor["saturated_cpu_per_message_us"], 1
        )
    return {"floor": floor, "home_assistant": ours}


def load_table(figures: dict[str, Any]) -> str:
    """The figures as a short Markdown table."""
    floor, ours = figures["floor"], figures["home_assistant"]
    rows = [
        "| Scenario | Figure |",
        "|---|---|",
        f"| floor at {AGGREGATE_RATE:g} msg/s: CPU per message (net) | "
        f"{floor['net_cpu_per_message_us']} µs |",
        f"| floor saturated | {floor['saturated_messages_per_s']} msg/s, "
        f"{floor['saturated_cpu_per_message_us']} µs each |",
        f"| floor: RSS per connection ({floor.get('connections')}) | "
        f"{floor.get('rss_per_connection_kb')} KB |",
    ]
    for size, fleet in ours["fleets"].items():
        rows.append(
            f"| fleet {size} at {AGGREGATE_RATE:g} msg/s: CPU per MeterValues, net (raw) | "
            f"{fleet['net_cpu_per_message_us']} µs ({fleet['cpu_per_message_us']} µs), "
            f"{fleet.get('times_floor')}x floor |"
        )
        rows.append(f"| fleet {size}: silent chargers' CPU | {fleet['idle_cpu_percent']} % |")
        rows.append(
            f"| fleet {size}: admission (then quiet after) | {fleet['admission_s']} s "
            f"({fleet.get('settled_after_s')} s) |"
        )
        rows.append(f"| fleet {size}: RSS per charger | {fleet['rss_per_charger_kb']} KB |")
    saturate, rate, idle = ours["saturate"], ours["rate"], ours["idle"]
    rows += [
        f"| saturate ({saturate['chargers']} chargers) | {saturate['messages_per_s']} msg/s, "
        f"{saturate['cpu_per_message_us']} µs each, {saturate.get('times_floor')}x floor |",
        f"| rate 100 x 1/5 s: CALL→CALLRESULT p50 / p99 | {rate['call_p50_ms']} / "
        f"{rate['call_p99_ms']} ms |",
        f"| rate 100 x 1/5 s: to entity state p50 / p99 | {rate['state']['p50_ms']} / "
        f"{rate['state']['p99_ms']} ms ({rate['state']['matched']} matched) |",
        f"| idle, 100 chargers | {idle['cpu_percent_of_a_core']} % of a core |",
    ]
    if (memory := ours.get("memory")) and "error" in memory:
        rows.append(f"| memory held per charger | failed: {memory['error']} |")
    elif memory:
        areas = ", ".join(
            f"{area} {size}" for area, size in list(memory["areas_kb_per_charger"].items())[:4]
        )
        rows.append(
            f"| memory held per charger ({memory['chargers']} chargers, "
            f"{memory['entities_per_charger']} entities each) | {memory['kb_per_charger']} KB: "
            f"{areas} |"
        )
    return "\n".join(rows)
