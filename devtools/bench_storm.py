"""`scripts/bench storm`: chargers with passwords reconnecting at once, in a real Home Assistant.

A fresh Home Assistant starts with a central system that already admits N chargers,
each with its own password (`devtools.admitted_hass` writes them in before the start).
`devtools.storm_chargers`, a process of its own, connects and boots them all at once
(the first connection: no password verified yet, as after a Home Assistant restart),
then, once Home Assistant is quiet again, drops every connection at once and brings
every charger back at once, each retrying with a short backoff when refused. Meanwhile
this process polls Home Assistant's REST API the way a dashboard or a script would (one
GET of an entity's state every 100 ms with a long-lived token), before the storm (the
baseline), during it and just after.

Figures: when all chargers were back (connected and their first message answered),
how many attempts each needed, the refusals they met (HTTP 401/429/503, connection
errors), and the REST latency idle, during and after the storm.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from devtools.admitted_hass import (
    AdmittedHomeAssistant,
    charger_passwords,
    profile_of,
    progress,
    start_py_spy,
    stop_py_spy,
)
from devtools.load_window import REGISTRY_SAVE_DELAY_S, Generator, cpu_seconds, settle
from devtools.storm_chargers import Backoff

DEFAULT_CHARGERS = 1000
# Home Assistant (2026.10) adds no more than this many enabled entities to one config
# entry, and every charger is a subentry of one: beyond it chargers get no new entities
# (`entity_platform.MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY`), and a storm costs less.
HA_ENTITY_CAP = 10_000
MIN_STORM_WINDOW_S = 1.0
# py-spy's collapsed stacks of the last profiled storm, for a closer look (flamegraph.pl).
STORM_STACKS = Path(tempfile.gettempdir()) / "ocpp-csms-bench-storm-profile.txt"
# The targets.
TARGET_ALL_BACK_S = 20.0
TARGET_REST_P99_MS = 1000.0


def latency_figures(samples: Sequence[tuple[float, float | None]]) -> dict[str, Any]:
    """Count, failures and p50 / p99 / max (ms) of (sent at, seconds or None) samples."""
    answered = sorted(seconds for _sent, seconds in samples if seconds is not None)
    if not answered:
        return {"count": len(samples), "failed": len(samples), "p50_ms": None, "p99_ms": None,
                "max_ms": None}  # fmt: skip
    p99 = answered[min(len(answered) - 1, int(0.99 * len(answered)))]
    return {
        "count": len(samples),
        "failed": len(samples) - len(answered),
        "p50_ms": round(statistics.median(answered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(answered[-1] * 1000, 1),
    }


@dataclass
class RestPoller:
    """Home Assistant's REST API polled as a dashboard would: one GET every `interval_s`.

    Sequential, as a poller with one connection is: when an answer is late, the next
    request goes as soon as it is in, so a stalled Home Assistant shows as one long
    sample (and fewer samples), not as a pile of requests it never had to serve.
    """

    url: str
    token: str
    interval_s: float = 0.1
    samples: list[tuple[float, float | None]] = field(default_factory=list)

    async def run(self) -> None:
        """Poll until cancelled."""
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            while True:
                sent = time.monotonic()
                seconds: float | None = None
                try:
                    async with session.get(self.url) as response:
                        await response.read()
                        if response.status == 200:
                            seconds = time.monotonic() - sent
                except aiohttp.ClientError, TimeoutError:
                    pass
                self.samples.append((sent, seconds))
                await asyncio.sleep(max(0.0, sent + self.interval_s - time.monotonic()))

    def between(self, start: float, end: float) -> dict[str, Any]:
        """The figures of the requests sent from `start` to `end` (time.monotonic)."""
        return latency_figures([sample for sample in self.samples if start <= sample[0] < end])


async def _storm_generator(
    url: str, passwords_file: Path, *, first: str, drop: str, backoff: Backoff, timeout_s: float
) -> Generator:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devtools.storm_chargers", "--url", url,
        "--passwords", str(passwords_file), "--first", first, "--drop", drop,
        "--backoff", str(backoff.base_s), "--backoff-cap", str(backoff.cap_s),
        "--backoff-random", str(backoff.random_s), "--timeout", str(timeout_s),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return Generator(process)


async def storm(
    chargers: int = DEFAULT_CHARGERS,
    *,
    first: str = "status",
    drop: str = "abort",
    backoff: Backoff | None = None,
    poll_s: float = 0.1,
    baseline_s: float = 10.0,
    after_s: float = 5.0,
    timeout_s: float = 120.0,
    delayed_work_s: float = REGISTRY_SAVE_DELAY_S,
    profile: bool = False,
    chosen_passwords: bool = False,
) -> dict[str, Any]:
    """Connect `chargers`, let Home Assistant settle, drop them all, time the way back.

    `chosen_passwords`: stored as passwords users chose (PBKDF2), not as the generated
    ones the flows suggest (a fast hash).

    `delayed_work_s`: how long Home Assistant may put off work the first connection
    caused (its registries are saved 10 s after the last change) before the baseline;
    0 starts at once (the tests). With `profile`, py-spy samples Home Assistant from the
    drop until all are back.
    """
    backoff = backoff or Backoff()
    passwords = charger_passwords("ST-", chargers)
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-storm-") as folder:
        work = Path(folder)
        passwords_file = work / "passwords.json"
        passwords_file.write_text(json.dumps(passwords))
        async with AdmittedHomeAssistant(
            work, passwords, "storm", generated=not chosen_passwords
        ) as hass:
            token = await hass.long_lived_token()
            entity = (await hass.entity_ids())[0]
            generator = await _storm_generator(
                hass.url, passwords_file, first=first, drop=drop, backoff=backoff,
                timeout_s=timeout_s,
            )  # fmt: skip
            cold = await generator.expect("connected", timeout=900)
            cold.pop("event")
            progress(f"storm: first connection {cold}")
            settled_s = await settle(hass.pid, delayed_work_s) if delayed_work_s > 0 else 0.0
            poller = RestPoller(f"{hass.client.base_url}/api/states/{entity}", token, poll_s)
            polling = asyncio.create_task(poller.run())
            try:
                await asyncio.sleep(baseline_s)
                start, end, cpu = await _storm_window(
                    generator, hass.pid, timeout_s=timeout_s, profile=profile
                )
                # During: from the drop until all are back, and at least a second, so a
                # storm shorter than the poll interval still has its samples.
                until = max(end["at"], start["at"] + MIN_STORM_WINDOW_S)
                await asyncio.sleep(until + after_s - time.monotonic())
            finally:
                polling.cancel()
            progress(f"storm: {end}")
            rest: dict[str, Any] = {
                "url": f"/api/states/{entity}",
                "interval_ms": round(poll_s * 1000),
                "idle": poller.between(start["at"] - baseline_s, start["at"]),
                "storm": poller.between(start["at"], until),
                "after": poller.between(until, until + after_s),
            }
            entry_state = await hass.entry_state()
            entity_count = len(await hass.entity_ids(enabled_only=True))
            await generator.finish()
    seconds = round(end.pop("at") - start["at"], 2)
    end.pop("event")
    figures: dict[str, Any] = {
        "chargers": chargers,
        "versions": "half ocpp1.6, half ocpp2.0.1",
        "passwords": "chosen (PBKDF2)" if chosen_passwords else "generated (HMAC-SHA256)",
        "first_message": first,
        "drop": drop,
        "backoff": asdict(backoff),
        "first_connection": cold,
        "settled_after_s": settled_s,
        "storm": end,
        "storm_seconds": seconds,
        "cpu_percent_of_a_core": round(cpu / seconds * 100, 1) if seconds else None,
        "rest": rest,
        "entry_state": entry_state,
        "entities": {"enabled": entity_count, "at_cap": entity_count >= HA_ENTITY_CAP},
        "targets": {
            f"all back within {TARGET_ALL_BACK_S:g} s": end["all_back_s"] is not None
            and end["all_back_s"] <= TARGET_ALL_BACK_S,
            f"REST p99 during the storm <= {TARGET_REST_P99_MS:g} ms": rest["storm"]["p99_ms"]
            is not None
            and rest["storm"]["p99_ms"] <= TARGET_REST_P99_MS,
        },
    }
    if profile:
        figures["profile"] = profile_of(STORM_STACKS)
    return figures


async def _storm_window(
    generator: Generator, pid: int, *, timeout_s: float, profile: bool
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Let the storm go; its start and end, and Home Assistant's CPU seconds meanwhile."""
    spy = await start_py_spy(pid, timeout_s + 60, STORM_STACKS) if profile else None
    try:
        cpu_before = cpu_seconds(pid)
        generator.go()
        start = await generator.expect("storm_start")
        end = await generator.expect("storm_end", timeout=timeout_s + 120)
        cpu = cpu_seconds(pid) - cpu_before
    finally:
        if spy is not None:
            await stop_py_spy(spy)
    return start, end, cpu


def profile_areas(profile: dict[str, Any]) -> str:
    """A profile's areas by their share of the samples (innermost frame), largest first."""
    if "error" in profile:
        return f"no samples: {profile['error']}"
    shares = sorted(profile.get("innermost_percent", {}).items(), key=lambda item: -item[1])
    leaves = profile.get("top_self_percent", [])[:3]
    top = ", ".join(f"{frame} {share} %" for frame, share in leaves)
    return ", ".join(f"{area} {share} %" for area, share in shares if share) + (
        f"; most self time: {top}" if top else ""
    )


def _latency(figures: dict[str, Any]) -> str:
    return (
        f"{figures['p50_ms']} / {figures['p99_ms']} / {figures['max_ms']} ms "
        f"({figures['count']} requests, {figures['failed']} failed)"
    )


def _ways(figures: dict[str, Any]) -> str:
    attempts = ", ".join(f"{count}: {n}" for count, n in figures["attempts"].items())
    return f"{attempts} (mean {figures['attempts_mean']}, max {figures['attempts_max']})"


def _refusals(figures: dict[str, Any]) -> str:
    statuses = " / ".join(str(n) for n in figures["http"].values())
    others = ", ".join(
        f"{kind} {n}" for kind, n in figures["refusals"].items() if not kind.startswith("http_")
    )
    return f"HTTP {' / '.join(figures['http'])}: {statuses}; other failures: {others or 'none'}"


def storm_table(figures: dict[str, Any]) -> str:
    """The figures as a short Markdown table."""
    cold, back, rest = figures["first_connection"], figures["storm"], figures["rest"]
    at_cap = figures["entities"]["at_cap"]
    capped = f" (Home Assistant's cap: {HA_ENTITY_CAP} per config entry)" if at_cap else ""
    rows = [
        "| Storm | Figure |",
        "|---|---|",
        f"| chargers, each with its own password | {figures['chargers']} ({figures['versions']}) |",
        f"| passwords stored as | {figures['passwords']} |",
        f"| first connection, no password verified yet: all connected and booted | "
        f"{cold['all_back_s']} s (p50 {cold['back_p50_s']} s; {cold['not_back']} not back) |",
        f"| first connection: attempts per charger | {_ways(cold)} |",
        f"| first connection: refusals | {_refusals(cold)} |",
        f"| storm ({figures['drop']}, first message {figures['first_message']}): all back | "
        f"{back['all_back_s']} s (p50 {back['back_p50_s']} s, p99 {back['back_p99_s']} s; "
        f"{back['not_back']} not back) |",
        f"| storm: attempts per charger | {_ways(back)} |",
        f"| storm: refusals | {_refusals(back)} |",
        f"| REST GET {rest['url']} every {rest['interval_ms']} ms, idle: "
        f"p50 / p99 / max | {_latency(rest['idle'])} |",
        f"| REST during the storm ({figures['storm_seconds']} s) | {_latency(rest['storm'])} |",
        f"| REST just after | {_latency(rest['after'])} |",
        f"| Home Assistant CPU during the storm | {figures['cpu_percent_of_a_core']} % of a core |",
        f"| the integration's enabled entities | {figures['entities']['enabled']}{capped} |",
    ]
    if profile := figures.get("profile"):
        rows.append(
            f"| profile of the storm ({profile['samples']} samples) | {profile_areas(profile)} |"
        )
    rows += [
        f"| target: {target} | {'met' if met else 'MISSED'} |"
        for target, met in figures["targets"].items()
    ]
    return "\n".join(rows)
