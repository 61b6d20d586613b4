"""Run simulated chargers against a central system until interrupted.

    scripts/simulate --url ws://127.0.0.1:9000 --charger DEV-1:ocpp1.6 --charger DEV-2:ocpp2.0.1
    scripts/simulate --count 10 --version mix --scenario random --speed 60
    scripts/simulate --charger DEV-1:ocpp2.0.1 --sampling every_60s
    scripts/simulate --charger ABB-1:ocpp1.6 --twin abb_terra_ac
    scripts/simulate --charger DEV-1:ocpp1.6 --kwh-without-unit

Each charger connects, boots until it is accepted (waiting as long as the central
system says while it is Pending or Rejected), plays its scenario on every connector,
sends heartbeats, answers the central system's commands, and reconnects with a growing
back-off when the connection is lost. SIGINT and SIGTERM stop every charger cleanly.

`--sampling` other than "ours" makes the chargers meter as real ones do: they start
with that metering configuration and, during a session, send what it says at the
interval it says (on the simulated clock), however the central system changes it; the
scenario then only lets time pass instead of sending meter values every `--interval`.

`--twin` makes every charger a twin of a real brand (`simulator/twins.py`): it names
itself as that brand does and deviates from OCPP as users reported that brand to.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import random
import signal
from typing import Any, cast

from .base import SAMPLING_CHOICES, SimulatedCharger
from .connection import connected_charger
from .scenario import KINDS, ScenarioSettings, run_connector
from .twins import TWIN_CHOICES

_LOGGER = logging.getLogger("simulator")
VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


def _parse_charger(text: str) -> tuple[str, str]:
    charger_id, _, version = text.partition(":")
    version = version or "ocpp1.6"
    if not charger_id or version not in VERSIONS:
        raise argparse.ArgumentTypeError(f"expected ID[:{'|'.join(VERSIONS)}], got {text!r}")
    return charger_id, version


def chargers_to_run(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (id, version) pairs the command line asks for."""
    chargers = list(args.charger)
    versions = VERSIONS[:2] if args.version == "mix" else (args.version,)
    cycle = itertools.cycle(versions)
    chargers += [(f"{args.id_prefix}{n:03d}", next(cycle)) for n in range(1, args.count + 1)]
    return chargers or [("SIM-001", "ocpp1.6")]


async def _wait_until_accepted(charger: Any, charger_id: str) -> None:
    while (status := await charger.boot()) != "Accepted":
        _LOGGER.info("%s: boot %s; next try in %s s", charger_id, status, charger.interval)
        # A trigger from the central system may accept it sooner.
        for _ in range(charger.interval):
            await asyncio.sleep(1)
            if charger.boot_statuses[-1] == "Accepted":
                return


def charger_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options every simulated charger is built with."""
    return {
        "connectors": args.connectors,
        "phases": args.phases,
        "max_current_a": args.max_current,
        "sampling": args.sampling,
        "autonomous_sampling": args.sampling != "ours",
        "speed": args.speed,
        "twin": args.twin,
        "kwh_without_unit": args.kwh_without_unit,
    }


class SelfMetering:
    """A charger as its scenario sees it when the charger samples on its own.

    The scenario sends meter values every `--interval`; such a charger sends its own at
    the interval its configuration says, so during a session the scenario's turn only
    lets the model catch up with the clock (the car's charge rises, and the scenario
    sees when it is full). Everything else goes to the charger.
    """

    def __init__(self, charger: SimulatedCharger) -> None:
        """Wrap `charger`."""
        self._charger = charger

    def __getattr__(self, name: str) -> Any:
        """Anything but meter values is the charger's own."""
        return getattr(self._charger, name)

    async def send_meter_values(self, connector: int = 1, seconds: float = 60.0) -> None:
        """Catch up during a session; report as before outside one (the idle scenario)."""
        if connector in self._charger.transactions:
            self._charger.catch_up(connector)
        else:
            await self._charger.send_meter_values(connector, seconds)


async def run_charger(
    args: argparse.Namespace, charger_id: str, version: str, settings: ScenarioSettings
) -> None:
    """Keep one charger connected, accepted and playing its scenario until cancelled."""
    backoff = 1.0
    options = charger_options(args)
    rng = random.Random(charger_id)
    while True:
        try:
            async with connected_charger(
                args.url, charger_id, version, password=args.password, charger_options=options
            ) as charger:
                backoff = 1.0
                await _wait_until_accepted(charger, charger_id)
                _LOGGER.info("%s: accepted (%s)", charger_id, version)
                played = (
                    cast("SimulatedCharger", SelfMetering(charger))
                    if options["autonomous_sampling"]
                    else charger
                )
                async with asyncio.TaskGroup() as tasks:
                    for connector in range(1, args.connectors + 1):
                        tasks.create_task(run_connector(played, connector, settings, rng))
                    tasks.create_task(_heartbeats(charger))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # any failure means: reconnect later
            _LOGGER.warning(
                "%s: %s; reconnecting in %.0f s", charger_id, err or type(err).__name__, backoff
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)


async def _heartbeats(charger: Any) -> None:
    while True:
        await asyncio.sleep(charger.interval)
        await charger.heartbeat()


async def main(args: argparse.Namespace) -> None:
    """Run every charger until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    settings = ScenarioSettings(
        kind=args.scenario,
        interval_s=args.interval,
        speed=args.speed,
        target_soc=args.target_soc,
        idle_s=args.idle,
        tag=args.tag,
    )
    tasks = [
        asyncio.create_task(run_charger(args, charger_id, version, settings))
        for charger_id, version in chargers_to_run(args)
    ]
    _LOGGER.info("running %d charger(s), scenario %s", len(tasks), args.scenario)
    await stop.wait()
    _LOGGER.info("stopping %d charger(s)", len(tasks))
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parse = argparse.ArgumentParser(prog="simulate", description=__doc__.split("\n\n")[0])
    add = parse.add_argument
    add("--url", default="ws://127.0.0.1:9000", help="central system URL, without the charger id")
    add("--charger", action="append", type=_parse_charger, default=[], metavar="ID[:VERSION]",
        help="a charger to simulate; repeat for more")  # fmt: skip
    add("--count", type=int, default=0, help="also simulate this many numbered chargers")
    add("--id-prefix", default="SIM-", help="id prefix of the numbered chargers")
    add("--version", default="ocpp1.6", choices=(*VERSIONS, "mix"),
        help="version of the numbered chargers (mix: 1.6 and 2.0.1 alternately)")  # fmt: skip
    add("--connectors", type=int, default=1, help="connectors per charger")
    add("--phases", type=int, default=3, choices=(1, 3), help="phases the chargers use")
    add("--max-current", type=float, default=16.0, help="the chargers' maximum current (A)")
    add("--scenario", default="charge", choices=KINDS, help="what the cars do")
    add("--interval", type=float, default=10.0, help="seconds between meter values")
    add("--sampling", default="ours", choices=SAMPLING_CHOICES,
        help="ours: the scenario sends meter values every --interval (the default); "
        "none, edges_only, every_30s, every_60s: the chargers start with that "
        "metering configuration (nothing; the energy register at a session's start and "
        "end only; also every 30 or 60 s) and sample on their own, as the central "
        "system configures them")  # fmt: skip
    add("--kwh-without-unit", action="store_true",
        help="during a session the chargers send their energy register in kWh without "
        "a unit (a firmware bug: read as Wh, it falls a thousandfold)")  # fmt: skip
    add("--speed", type=float, default=1.0, help="simulated seconds per real second")
    add("--twin", choices=TWIN_CHOICES,
        help="behave like this brand's charger: its name, its deviations from OCPP")  # fmt: skip
    add("--target-soc", type=float, default=80.0, help="state of charge (%%) a car leaves at")
    add("--idle", type=float, default=60.0, help="seconds a connector rests between cars")
    add("--tag", default="SIMTAG", help="the tag cars start sessions with")
    add("--password", help="Basic Auth password for every charger")
    add("-v", "--verbose", action="store_true", help="log every OCPP message")
    return parse


def cli() -> None:
    """Parse the command line and run."""
    args = parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("ocpp").setLevel(logging.INFO if args.verbose else logging.WARNING)
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
