"""The simulated chargers, by the subprotocol they speak."""

from __future__ import annotations

from .base import SimulatedCharger
from .charger2x import Charger21, Charger201
from .charger16 import Charger16

CHARGER_CLASSES: dict[str, type[SimulatedCharger]] = {
    "ocpp1.6": Charger16,
    "ocpp2.0.1": Charger201,
    "ocpp2.1": Charger21,
}

__all__ = ["CHARGER_CLASSES", "Charger16", "Charger21", "Charger201", "SimulatedCharger"]
