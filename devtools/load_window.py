"""One measured window of `scripts/bench load`: a load generator, stepped, and /proc.

`measure` starts `devtools.loadgen` with its chargers, lets them connect, waits until
the server is quiet again, and reads the server's CPU time around the generator's
window, then its RSS and its CPU while the same chargers stay connected and silent
(the idle baseline that "net" figures take away).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.homeassistant import HomeAssistantError

_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_BASELINE_S = 10.0


def progress(message: str) -> None:
    """Tell whoever watches how far the benchmark is (stderr: stdout is the JSON)."""
    print(f"[bench load] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mb(pid: int) -> float:
    """The process's resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Window:
    """What one generator run measured, with the server's CPU over its window."""

    admission_s: float
    # From the last admission until the server's CPU went quiet (delayed saves done).
    settle_s: float
    figures: dict[str, Any]
    cpu_s: float
    rss_mb: float
    # The server's CPU per second with the same chargers connected and silent.
    idle_cpu_per_s: float

    @property
    def cpu_per_message_us(self) -> float | None:
        """The server's CPU time per answered message."""
        answered = self.figures["answered"]
        return round(self.cpu_s / answered * 1e6, 1) if answered else None

    @property
    def net_cpu_per_message_us(self) -> float | None:
        """Per message, less what the connected chargers cost while silent (pings)."""
        answered = self.figures["answered"]
        if not answered:
            return None
        idle = self.idle_cpu_per_s * self.figures["seconds"]
        return round(max(self.cpu_s - idle, 0.0) / answered * 1e6, 1)


class Generator:
    """One `devtools.loadgen` process, stepped through its window."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        """Step `process` (started by `start`)."""
        self.process = process

    @classmethod
    async def start(cls, url: str, chargers: int, prefix: str, *options: str) -> Generator:
        """Start a generator of `chargers` chargers named `prefix`0000 on."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "devtools.loadgen",
            "--url",
            url,
            "--chargers",
            str(chargers),
            "--prefix",
            prefix,
            *options,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def expect(self, event: str, timeout: float = 600) -> dict[str, Any]:
        """The generator's next line, which must be `event`."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise HomeAssistantError(f"the load generator stopped before {event}")
        found: dict[str, Any] = json.loads(line)
        if found.get("event") != event:
            raise HomeAssistantError(f"expected {event} from the load generator, got {found}")
        return found

    def go(self) -> None:
        """Let the generator take its next step."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"\n")

    async def finish(self) -> None:
        """Disconnect every charger and wait for the process."""
        self.go()
        await asyncio.wait_for(self.process.wait(), 120)


# Home Assistant saves its entity and device registries 10 s after their last change.
REGISTRY_SAVE_DELAY_S = 10.0


async def settle(
    pid: int,
    delayed_work_s: float = REGISTRY_SAVE_DELAY_S,
    quiet_share: float = 0.05,
    limit_s: float = 120.0,
) -> float:
    """Wait for the delayed work, then for two quiet seconds running.

    Admitting chargers leaves work behind: Home Assistant saves its registries 10 s
    after the last change, and with 1,000 chargers that is tens of MB of JSON. A window
    that starts before it is done charges the admission to the messages. Quiet is under
    `quiet_share` of a core. Returns the seconds waited (`limit_s` at most).
    """
    await asyncio.sleep(delayed_work_s)
    waited, quiet = delayed_work_s, 0
    while waited < limit_s and quiet < 2:
        before = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        waited += 1.0
        quiet = quiet + 1 if cpu_seconds(pid) - before < quiet_share else 0
    return waited


async def measure(
    url: str,
    server_pid: int,
    chargers: int,
    prefix: str,
    *options: str,
    idle_s: float = IDLE_BASELINE_S,
    delayed_work_s: float = REGISTRY_SAVE_DELAY_S,
) -> tuple[Window, Generator]:
    """Connect `chargers`, run one window; the generator stays connected (call finish).

    `delayed_work_s`: how long the server may put off work that connecting caused.
    """
    generator = await Generator.start(url, chargers, prefix, *options)
    connected = await generator.expect("connected")
    settle_s = await settle(server_pid, delayed_work_s)
    before = cpu_seconds(server_pid)
    generator.go()
    await generator.expect("window_start")
    end = await generator.expect("window_end")
    cpu = cpu_seconds(server_pid) - before
    end.pop("event")
    memory = rss_mb(server_pid)
    await asyncio.sleep(1)  # the window's last answers and state writes
    before_idle = cpu_seconds(server_pid)
    await asyncio.sleep(idle_s)
    idle = (cpu_seconds(server_pid) - before_idle) / idle_s
    return Window(connected["admission_s"], settle_s, end, cpu, memory, idle), generator
