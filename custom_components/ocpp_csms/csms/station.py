"""The version-neutral model of a charging station as the central system sees it.

Nothing here knows an OCPP message name or field spelling: the version adapters
(`ocpp16`, `ocpp201`) translate messages into changes of these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class OcppVersion(StrEnum):
    """A protocol version, valued by its WebSocket subprotocol name."""

    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"

    @property
    def is_2x(self) -> bool:
        """Whether this version belongs to the 2.x family (2.0.1 and 2.1)."""
        return self is not OcppVersion.V16


# Subprotocols in order of preference when a charger offers several.
SUBPROTOCOL_PREFERENCE: tuple[OcppVersion, ...] = (
    OcppVersion.V21,
    OcppVersion.V201,
    OcppVersion.V16,
)


class RegistrationStatus(StrEnum):
    """The answer the central system gave to the station's last boot."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


@dataclass(slots=True)
class BootInfo:
    """What a station says about itself when it boots."""

    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None


@dataclass(slots=True)
class Station:
    """One charging station, connected or not, known or waiting for admission."""

    id: str
    version: OcppVersion = OcppVersion.V16
    boot: BootInfo | None = None
    registration: RegistrationStatus | None = None
    connected: bool = False
    remote_address: str | None = None
    last_seen: datetime | None = None
    # Counts of schema quirks accepted from this station, by kind; shown in diagnostics.
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Whether the station has been accepted and may send any message."""
        return self.registration is RegistrationStatus.ACCEPTED
