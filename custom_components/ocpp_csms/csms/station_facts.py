"""What a station says about itself when it boots, and what it can do.

Kept apart from the rest of the model (`station`) so that what reads only these, the
quirk profiles, needs nothing else of it; `station` re-exports both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class BootInfo:
    """What a station says about itself when it boots."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a station can do, learnt from its configuration without side effects."""

    # Feature profiles in 1.6 words: Core, FirmwareManagement, LocalAuthListManagement,
    # Reservation, SmartCharging, RemoteTrigger (2.x: derived from its controllers).
    features: frozenset[str] = frozenset()
    number_of_evses: int | None = None
    # Charging rate units the station accepts in profiles: "A", "W" or both.
    charging_rate_units: frozenset[str] = frozenset()
    max_stack_level: int | None = None
    local_list_enabled: bool | None = None
    local_list_max_length: int | None = None
    meter_measurands: tuple[str, ...] = ()
    meter_interval_s: int | None = None
    # Whether the measurands and sample interval can be written.
    meter_settings_writable: bool = False

    @property
    def smart_charging(self) -> bool:
        """Whether the station accepts charging profiles."""
        return "SmartCharging" in self.features
