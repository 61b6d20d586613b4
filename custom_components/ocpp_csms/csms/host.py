"""What the central system needs from whoever runs it, and how it is set.

The Home Assistant layer (or a test) gives a `CentralSystem` its settings
(`CentralSystemSettings`), a `ChargerDirectory` that says which chargers are admitted
(`ChargerRecord`) or rejected, and a `CentralSystemListener` that receives every event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Protocol

from .events import Event
from .metering_setup import MeterWish
from .server import ServerSettings
from .site_settings import SiteSettings

# A known charger that connects and says nothing for this long is brought up to date
# anyway (one that reconnects without rebooting may only send its next heartbeat).
FIRST_WORD_WAIT_S = 10.0


class AdmissionPolicy(StrEnum):
    """What happens when a charger the central system does not know connects."""

    ASK = "ask"  # hold it Pending and ask the user
    ACCEPT_ALL = "accept_all"  # admit it at once
    REJECT = "reject"  # refuse the connection


class SecurityProfile(IntEnum):
    """How an admitted charger proves who it is (OCPP security profiles)."""

    BASIC_AUTH = 1  # its password, when one is set
    TLS_BASIC_AUTH = 2  # the same over wss:// (the server's TLS settings)
    # Over wss://, a client certificate from the central system's CA with the charger
    # id as CN; a password alone never admits it (no downgrade).
    TLS_CLIENT_CERTIFICATE = 3


@dataclass(frozen=True, slots=True)
class ChargerRecord:
    """An admitted charger as the directory stores it."""

    charger_id: str
    password_hash: str | None = None
    # The quirk profile named in its settings (`quirks.BY_KEY`); None: chosen at boot.
    quirks: str | None = None
    security_profile: SecurityProfile = SecurityProfile.BASIC_AUTH


class ChargerDirectory(Protocol):
    """Which chargers are admitted or rejected; kept by the Home Assistant layer."""

    def find(self, charger_id: str) -> ChargerRecord | None:
        """The admitted charger with this id, or None."""

    def is_rejected(self, charger_id: str) -> bool:
        """Whether the user rejected this charger."""


class CentralSystemListener(Protocol):
    """Receives what happens in the central system. Called on the event loop."""

    def handle(self, event: Event) -> None:
        """React to one event; must not block."""


@dataclass(frozen=True, slots=True)
class CentralSystemSettings:
    """How the central system behaves."""

    server: ServerSettings
    admission: AdmissionPolicy = AdmissionPolicy.ASK
    heartbeat_interval: int = 300
    # How soon a Pending charger boots again; TriggerMessage usually comes first.
    pending_retry_interval: int = 30
    rejected_retry_interval: int = 600
    call_timeout: float = 30.0
    # Read what each charger can do after it is accepted (configuration, reports).
    learn_capabilities: bool = True
    # What chargers are set to sample (see `metering_setup`); empty: left as they are.
    meter_measurands: tuple[str, ...] = ()
    meter_interval_s: int | None = None
    meter_edge_measurands: tuple[str, ...] = ()
    # Per charger id, what it samples instead.
    meter_overrides: Mapping[str, MeterWish] = field(default_factory=dict)
    # How long a known charger that connects may stay silent before we send it what it
    # missed (see `Connections._follow_up_reconnect`).
    first_word_wait_s: float = FIRST_WORD_WAIT_S
    # Site load balancing; None: chargers are not balanced.
    site: SiteSettings | None = None
