"""What a version adapter asks of the central system that hosts it.

The central system is the one `StationHost`: it decides boots and tags, hands out
transaction ids, says what to learn and sample, and hears every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .certificate_messages import CertificateHost
from .events import Event
from .metering_setup import MeterWish
from .station import RegistrationStatus, Station
from .tag_presentation import PresentationHost


@dataclass(frozen=True, slots=True)
class BootDecision:
    """The central system's answer to a boot: the status and the retry/heartbeat interval."""

    status: RegistrationStatus
    interval: int


class StationHost(CertificateHost, PresentationHost, Protocol):
    """What an adapter asks of the central system (its CA, and on presented tags, too)."""

    def decide_boot(self, station: Station) -> BootDecision:
        """Decide (and record on `station`) the answer to a BootNotification."""

    def may_stop(self, start_tag: str, stop_tag: str) -> bool:
        """Whether a session started with `start_tag` may be ended with `stop_tag`."""

    def next_transaction_id(self) -> int:
        """A new, never-used 1.6 transaction id."""

    @property
    def learn_capabilities(self) -> bool:
        """Whether to read a station's capabilities after it is accepted."""

    def meter_wish(self, station: Station) -> MeterWish | None:
        """What this station should sample (see `metering_setup`), or None: leave it."""

    def plan_for_car(self, station: Station) -> bool:
        """A car on `station` stated its charging needs: whether a plan will serve them.

        True when its sessions charge by a plan (the cheapest mode), which then takes the
        needs into account and sends the schedule.
        """

    def emit(self, event: Event) -> None:
        """Report an event to the listener."""
