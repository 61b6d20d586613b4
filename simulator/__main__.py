"""Run simulated chargers against a central system until interrupted.

    python -m simulator --url ws://127.0.0.1:9000 --charger DEV-1:ocpp1.6 --charger DEV-2:ocpp2.0.1

Each charger connects, boots until it is accepted (waiting as long as the central
system says while it is Pending or Rejected), sends heartbeats, and reconnects with a
growing back-off when the connection is lost. SIGINT and SIGTERM stop every charger
cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .connection import connected_charger

_LOGGER = logging.getLogger("simulator")


def _parse_charger(text: str) -> tuple[str, str]:
    charger_id, _, version = text.partition(":")
    version = version or "ocpp1.6"
    if not charger_id or version not in ("ocpp1.6", "ocpp2.0.1", "ocpp2.1"):
        raise argparse.ArgumentTypeError(f"expected ID[:ocpp1.6|ocpp2.0.1|ocpp2.1], got {text!r}")
    return charger_id, version


async def run_charger(url: str, charger_id: str, version: str, password: str | None) -> None:
    """Keep one charger connected and accepted until cancelled."""
    backoff = 1.0
    while True:
        try:
            async with connected_charger(url, charger_id, version, password=password) as charger:
                backoff = 1.0
                while (status := await charger.boot()) != "Accepted":
                    _LOGGER.info(
                        "%s: boot %s; next try in %s s", charger_id, status, charger.interval
                    )
                    # A trigger from the central system may accept it sooner.
                    for _ in range(charger.interval):
                        await asyncio.sleep(1)
                        if charger.boot_statuses[-1] == "Accepted":
                            break
                    if charger.boot_statuses[-1] == "Accepted":
                        break
                _LOGGER.info("%s: accepted (%s)", charger_id, version)
                while True:
                    await asyncio.sleep(charger.interval)
                    await charger.heartbeat()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # any failure means: reconnect later
            _LOGGER.warning(
                "%s: %s; reconnecting in %.0f s", charger_id, err or type(err).__name__, backoff
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 60.0)


async def main(args: argparse.Namespace) -> None:
    """Run every charger until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks = [
        asyncio.create_task(run_charger(args.url, charger_id, version, args.password))
        for charger_id, version in args.charger
    ]
    await stop.wait()
    _LOGGER.info("stopping %d charger(s)", len(tasks))
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)


def cli() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default="ws://127.0.0.1:9000", help="central system URL, without the charger id"
    )
    parser.add_argument(
        "--charger",
        action="append",
        type=_parse_charger,
        default=[],
        metavar="ID[:VERSION]",
        help="a charger to simulate, repeatable; VERSION: ocpp1.6 (default), ocpp2.0.1, ocpp2.1",
    )
    parser.add_argument("--password", help="Basic Auth password for every charger")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every OCPP message")
    args = parser.parse_args()
    if not args.charger:
        args.charger = [("SIM-1", "ocpp1.6")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("ocpp").setLevel(logging.INFO if args.verbose else logging.WARNING)
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
