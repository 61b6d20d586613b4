"""What a simulated charger's connectors do over time.

- charge: a car plugs in, its tag is presented (refused: it leaves), a session starts
  with the tag, meter values follow
  every `interval_s` until the car reaches `target_soc`, the car leaves, the connector
  rests for `idle_s`, and the next car comes;
- remote: a car plugs in and waits for the central system to start the session
  (Home Assistant's charging switch), then charges like above;
- idle: the connector stays available and reports its meter;
- random: charge or remote, with random targets, arrival times and battery levels.

Time can run faster than the clock: `speed` simulated seconds pass per real second, so
a session of an hour can be watched in a minute.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from .base import SimulatedCharger

KINDS = ("charge", "remote", "idle", "random")


@dataclass(frozen=True)
class ScenarioSettings:
    """How the simulated cars behave."""

    kind: str = "charge"
    interval_s: float = 10.0
    speed: float = 1.0
    target_soc: float = 80.0
    idle_s: float = 60.0
    tag: str = "SIMTAG"


async def run_connector(
    charger: SimulatedCharger,
    connector: int,
    settings: ScenarioSettings,
    rng: random.Random | None = None,
) -> None:
    """Play the scenario on one connector until cancelled."""
    rng = rng or random.Random()
    await charger.send_status(connector, "Available")
    if settings.kind == "idle":
        while True:
            await asyncio.sleep(settings.interval_s)
            await charger.send_meter_values(connector, settings.interval_s * settings.speed)
    while True:
        kind = settings.kind if settings.kind != "random" else rng.choice(("charge", "remote"))
        target = settings.target_soc if settings.kind != "random" else rng.uniform(60, 100)
        await charge_one_car(charger, connector, settings, kind, target)
        await charger.send_status(connector, "Available")
        # The next car arrives with an emptier battery.
        charger.soc[connector] = rng.uniform(15, 45) if settings.kind == "random" else 20.0
        idle = (
            settings.idle_s if settings.kind != "random" else rng.uniform(0.5, 2) * settings.idle_s
        )
        await asyncio.sleep(idle)


async def charge_one_car(
    charger: SimulatedCharger, connector: int, settings: ScenarioSettings, kind: str, target: float
) -> None:
    """One car: plug in, charge (started here or remotely) to `target`, leave."""
    await charger.send_status(connector, "Preparing")
    if kind == "charge" and await charger.authorize(settings.tag) != "Accepted":
        return  # the tag was refused: the car leaves without charging
    if kind == "remote":
        while connector not in charger.transactions:  # noqa: ASYNC110 - a car checks now and then
            await asyncio.sleep(min(settings.interval_s, 1.0))
    else:
        await charger.start_session(connector, settings.tag)
    while connector in charger.transactions and charger.soc[connector] < target:
        await asyncio.sleep(settings.interval_s)
        await charger.send_meter_values(connector, settings.interval_s * settings.speed)
    if connector in charger.transactions:  # not stopped remotely meanwhile
        await charger.stop_session(connector, "EVDisconnected")
