"""The chargers of `scripts/bench storm`, in a process of their own.

Every charger has its own password (security profile 1: HTTP Basic Auth, the user name
is the charger id). They first connect and boot at once, as after a Home Assistant
restart, when no password has been verified yet. Then, told to, all drop at once and
come back at once, as after a network outage: each connects again and sends one
message, and it is back when that message is answered. A refused or failed attempt
(HTTP 401/429/503, a connection error, no answer) is retried after an exponential
backoff with a random part, the way OCPP 2.0.1 describes it (RetryBackOffWaitMinimum,
RetryBackOffRandomRange); like most chargers, they do not wait as long as Retry-After
says.

How the chargers drop (`--drop`):
- `abort`: their sockets are cut, so the central system sees every connection end;
- `vanish`: their sockets are left open and unread, as when the network between them
  went away, so each charger's new connection replaces one the central system still
  holds (it closes the old one in the background, cutting it after 5 s).

Like `devtools.loadgen`, it talks to the benchmark over its standard streams, one JSON
object a line: `connected` (figures of the first connection), then after a line on its
standard input `storm_start` and `storm_end` (figures of the way back; `at` in
`time.monotonic`, one clock for every process), then it disconnects after another line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from devtools.admitted_hass import basic_auth, version_of
from devtools.loadgen import Charger, say

# A charger gives up on an opening handshake, or on the answer to its first message,
# after this long and tries again (its backoff first).
OPEN_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 30.0

type First = Literal["boot", "status", "heartbeat"]


@dataclass(frozen=True)
class Backoff:
    """Wait before the next attempt: `base_s` doubling up to `cap_s`, plus up to `random_s`."""

    base_s: float = 0.5
    cap_s: float = 8.0
    random_s: float = 0.5

    def wait(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after the `failures`-th failed attempt in a row."""
        return min(self.cap_s, self.base_s * 2 ** (failures - 1)) + rng.uniform(0, self.random_s)


@dataclass
class WayBack:
    """One charger's way back: its attempts, what refused them, when it was back."""

    charger_id: str
    attempts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    back_after_s: float | None = None
    charger: Charger | None = None


async def _read(charger: Charger) -> None:
    # A cut connection ends the reader with ConnectionClosedError: expected here.
    with contextlib.suppress(ConnectionClosed):
        await charger.read()


async def _first_messages(charger: Charger, first: First) -> str | None:
    """Send the first message(s); None once answered, else why not."""
    if first == "boot":
        answer = await charger.call("BootNotification", charger.boot_payload())
        if answer is not None and answer.get("status") != "Accepted":
            return f"boot_{answer.get('status')}"
        if answer is not None:
            answer = await charger.call("StatusNotification", charger.status_payload())
    elif first == "status":
        answer = await charger.call("StatusNotification", charger.status_payload())
    else:
        answer = await charger.call("Heartbeat", {})
    if answer is None:  # {} is an answer; None is a CALLERROR or the socket closing
        return "closed" if charger.closed else "call_error"
    return None


async def attempt(
    url: str, charger: Charger, password: str, first: First, tasks: set[asyncio.Task[None]]
) -> str | None:
    """One attempt to connect and have the first message answered: None, or what failed."""
    try:
        charger.websocket = await connect(
            f"{url}/{charger.charger_id}",
            subprotocols=[Subprotocol(charger.version)],
            additional_headers=basic_auth(charger.charger_id, password),
            open_timeout=OPEN_TIMEOUT_S,
            ping_interval=None,
            max_queue=None,
            proxy=None,
        )
    except InvalidStatus as refused:
        return f"http_{refused.response.status_code}"
    except (OSError, TimeoutError, InvalidHandshake) as error:
        return type(error).__name__
    reader = asyncio.create_task(_read(charger))
    tasks.add(reader)
    reader.add_done_callback(tasks.discard)
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            failure = await _first_messages(charger, first)
    except TimeoutError:
        failure = "no_answer"
    except ConnectionClosed:
        failure = "closed"
    if failure is not None:
        charger.websocket.transport.abort()
    return failure


async def come_back(
    url: str,
    charger_id: str,
    version: str,
    password: str,
    *,
    started: float,
    deadline: float,
    first: First,
    backoff: Backoff,
    rng: random.Random,
    tasks: set[asyncio.Task[None]],
) -> WayBack:
    """Attempt until connected and answered, or until `deadline` (time.monotonic)."""
    way = WayBack(charger_id)
    while time.monotonic() < deadline:
        way.attempts += 1
        charger = Charger(charger_id, version)
        failure = await attempt(url, charger, password, first, tasks)
        if failure is None:
            way.back_after_s = time.monotonic() - started
            way.charger = charger
            return way
        way.outcomes[failure] += 1
        pause = backoff.wait(way.attempts, rng)
        await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
    return way


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(ways: Sequence[WayBack]) -> dict[str, Any]:
    """How the chargers came back: when, after how many attempts, refused how."""
    back = sorted(way.back_after_s for way in ways if way.back_after_s is not None)
    attempts = Counter(way.attempts for way in ways if way.back_after_s is not None)
    outcomes: Counter[str] = Counter()
    for way in ways:
        outcomes.update(way.outcomes)
    return {
        "chargers": len(ways),
        "back": len(back),
        "not_back": len(ways) - len(back),
        "all_back_s": round(back[-1], 2) if back and len(back) == len(ways) else None,
        "back_p50_s": round(statistics.median(back), 2) if back else None,
        "back_p99_s": round(_percentile(back, 0.99), 2) if back else None,
        "attempts": {str(count): attempts[count] for count in sorted(attempts)},
        "attempts_max": max(attempts, default=0),
        "attempts_mean": round(statistics.fmean(way.attempts for way in ways), 2) if ways else None,
        # Every status a charger may meet, zero or not; `refusals` has every failure.
        "http": {code: outcomes[f"http_{code}"] for code in ("401", "403", "429", "503")},
        "refusals": dict(sorted(outcomes.items())),
    }


async def all_come_back(
    url: str,
    passwords: dict[str, str],
    *,
    first: First,
    backoff: Backoff,
    timeout_s: float,
    rng: random.Random,
    tasks: set[asyncio.Task[None]],
) -> list[WayBack]:
    """Every charger at once, from now."""
    started = time.monotonic()
    return await asyncio.gather(
        *(
            come_back(
                url,
                charger_id,
                version_of(index),
                password,
                started=started,
                deadline=started + timeout_s,
                first=first,
                backoff=backoff,
                rng=rng,
                tasks=tasks,
            )
            for index, (charger_id, password) in enumerate(passwords.items())
        )
    )


def drop(chargers: Sequence[Charger], how: str) -> list[Charger]:
    """Drop every connection at once; returns those left open (vanished) to cut later."""
    left_open = []
    for charger in chargers:
        assert charger.websocket is not None
        if how == "abort":
            charger.websocket.transport.abort()
        else:
            charger.websocket.transport.pause_reading()
            left_open.append(charger)
    return left_open


async def _line() -> str:
    """The next line of standard input (empty at its end), read off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run(args: argparse.Namespace, passwords: dict[str, str]) -> None:
    """First connection, then the storm, as the benchmark steps it."""
    rng = random.Random(args.seed)
    backoff = Backoff(args.backoff, args.backoff_cap, args.backoff_random)
    tasks: set[asyncio.Task[None]] = set()
    ways = await all_come_back(
        args.url, passwords, first="boot", backoff=backoff, timeout_s=args.cold_timeout,
        rng=rng, tasks=tasks,
    )  # fmt: skip
    say("connected", **summary(ways))
    await _line()
    chargers = [way.charger for way in ways if way.charger is not None]
    say("storm_start", at=time.monotonic(), drop=args.drop)
    left_open = drop(chargers, args.drop)
    ways = await all_come_back(
        args.url, passwords, first=args.first, backoff=backoff, timeout_s=args.timeout,
        rng=rng, tasks=tasks,
    )  # fmt: skip
    say("storm_end", at=time.monotonic(), **summary(ways))
    await _line()
    for charger in left_open:
        assert charger.websocket is not None
        charger.websocket.transport.abort()
    back = [way.charger.websocket for way in ways if way.charger and way.charger.websocket]
    await asyncio.gather(*(websocket.close() for websocket in back), return_exceptions=True)


def main() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="storm_chargers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="ws://host:port of the central system")
    parser.add_argument("--passwords", required=True, help="JSON file: charger id -> password")
    parser.add_argument("--first", choices=["boot", "status", "heartbeat"], default="status")
    parser.add_argument("--drop", choices=["abort", "vanish"], default="abort")
    parser.add_argument("--backoff", type=float, default=Backoff.base_s)
    parser.add_argument("--backoff-cap", type=float, default=Backoff.cap_s)
    parser.add_argument("--backoff-random", type=float, default=Backoff.random_s)
    parser.add_argument("--timeout", type=float, default=120.0, help="s for all to come back")
    parser.add_argument("--cold-timeout", type=float, default=600.0, help="s to connect first")
    parser.add_argument("--seed", type=int, default=20261207)
    args = parser.parse_args()
    asyncio.run(run(args, json.loads(Path(args.passwords).read_text())))


if __name__ == "__main__":
    main()
