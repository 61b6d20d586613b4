"""Where Home Assistant's time goes under load: py-spy samples, summed by area.

`scripts/bench load --profile` samples Home Assistant while chargers saturate it, in a
window of its own (sampling disturbs what it measures), and reports each area's share
(our engine, our Home Assistant layer, Home Assistant core, websockets, asyncio) and
the functions that spend the most themselves.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from devtools.load_window import Generator, settle

# py-spy's collapsed stacks of the last profiled run, for a closer look (flamegraph.pl).
PROFILE_STACKS = Path(tempfile.gettempdir()) / "ocpp-csms-bench-profile.txt"


async def profile_saturated(url: str, pid: int, saturating: int) -> dict[str, Any]:
    """Where Home Assistant's time goes while saturated: py-spy samples for 15 s."""
    stacks = PROFILE_STACKS
    generator = await Generator.start(url, saturating, "P-", "--saturate", str(saturating),
                                      "--seconds", "16")  # fmt: skip
    await generator.expect("connected")
    await settle(pid)  # the admission's saves are not what this profiles
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        "record", "--pid", str(pid), "--duration", "15", "--rate", "200", "--nonblocking",
        "--format", "raw", "--output", str(stacks),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    generator.go()
    await generator.expect("window_start")
    await generator.expect("window_end")
    await generator.finish()
    await spy.wait()
    # Frames may quote bytes that are not UTF-8 (py-spy prints what memory holds).
    return summarize_stacks(stacks.read_text(errors="replace"))


# Where a sampled frame belongs, by its file (first match wins).
# py-spy names files from the package down: "(ocpp_csms/csms/rpc.py:9)".
_AREAS = (
    ("our engine (csms/)", "(ocpp_csms/csms/"),
    ("our Home Assistant layer", "(ocpp_csms/"),
    ("ocpp library", "(ocpp/"),
    ("jsonschema", "(jsonschema/"),
    ("websockets", "(websockets/"),
    ("Home Assistant core", "(homeassistant/"),
    ("asyncio", "(asyncio/"),
)


def _innermost_area(frames: list[str]) -> str:
    for frame in reversed(frames):
        for area, path in _AREAS:
            if path in frame:
                return area
    return "other"


def summarize_stacks(raw: str, top: int = 15) -> dict[str, Any]:
    """py-spy's collapsed stacks as shares: per area (inclusive) and per function (self)."""
    total = 0
    inclusive: dict[str, int] = dict.fromkeys((area for area, _path in _AREAS), 0)
    # Each sample counted once, for the area of its innermost frame that has one.
    innermost: dict[str, int] = dict.fromkeys([*inclusive, "other"], 0)
    own: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for area, path in _AREAS:
            if any(path in frame for frame in frames):
                inclusive[area] += count
        # Our layer's share counts the engine too; the engine's is its own.
        innermost[_innermost_area(frames)] += count
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + count
    if not total:
        return {"samples": 0}
    ranked = sorted(own.items(), key=lambda item: -item[1])[:top]
    return {
        "samples": total,
        "inclusive_percent": {area: round(n / total * 100, 1) for area, n in inclusive.items()},
        "innermost_percent": {area: round(n / total * 100, 1) for area, n in innermost.items()},
        "top_self_percent": [[frame, round(n / total * 100, 1)] for frame, n in ranked],
    }
