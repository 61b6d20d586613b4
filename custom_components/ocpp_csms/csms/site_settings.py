"""What site balancing is given: the site's settings, and each charger's own limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .charging import MIN_CHARGING_CURRENT_A, AllocationSettings
from .solar import ChargingMode, SolarSettings


class ChargerLimits(Protocol):
    """What the user set per charger for balancing (kept by the Home Assistant layer)."""

    def max_current_a(self, charger_id: str) -> float:
        """The most current the charger may give (its own and its cable's limit)."""

    def priority(self, charger_id: str) -> int:
        """Higher is served first when the site is short of current (0: normal)."""

    def mode(self, charger_id: str) -> ChargingMode:
        """Where the charger's sessions take their current from."""

    def switches_phases(self, charger_id: str) -> bool:
        """Whether the charger can switch a session between one and three phases."""

    def start_tag(self, charger_id: str) -> str:
        """The tag of sessions the central system starts on the charger."""


# The tag of sessions the central system starts when nobody set one.
DEFAULT_START_TAG = "CentralSystem"


class NoChargerLimits:
    """32 A and normal priority for every charger."""

    def max_current_a(self, charger_id: str) -> float:
        """32 A: what most wallboxes give."""
        return 32.0

    def priority(self, charger_id: str) -> int:
        """Every charger alike."""
        return 0

    def mode(self, charger_id: str) -> ChargingMode:
        """As fast as the site allows."""
        return ChargingMode.FAST

    def switches_phases(self, charger_id: str) -> bool:
        """No phase switching."""
        return False

    def start_tag(self, charger_id: str) -> str:
        """The default tag."""
        return DEFAULT_START_TAG


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """The site: its main fuse and how the balancer treats it."""

    fuse_a: float  # per phase
    margin_a: float = 1.0  # kept free for what the meters have not seen yet
    failsafe_a: float = MIN_CHARGING_CURRENT_A  # each charger's limit without us
    profile_duration_s: int = 300
    min_interval_s: float = 30.0
    # How often sessions are rebalanced without a reason (measured draw drifts).
    interval_s: float = 10.0
    # Whether a grid meter feeds `set_grid`. While its reading is missing the house's
    # load is unknown, and every session gets the failsafe current, as without us.
    grid_meter: bool = False
    # Whether an export meter feeds `set_export`; without one there is no surplus.
    export_meter: bool = False
    allocation: AllocationSettings = field(default_factory=AllocationSettings)
    solar: SolarSettings = field(default_factory=SolarSettings)
