"""Learning what a charger can do after each boot, and setting what it samples.

`CapabilityLearning` is the part of `StationAdapter` that reads a charger's
configuration (without side effects), corrects it by its quirk profile, and then
writes only the metering settings that differ from the user's wish. A charger that
reboots right after each of our writes is left alone after two such boots.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import Protocol

from .commands import Command, CommandResult, CommandStatus, SetConfiguration
from .events import Change, Event, StationUpdated
from .metering_setup import MeterKeys, MeterWish, plan_meter_settings
from .quirks import adapt_capabilities
from .station import Station
from .station_facts import Capabilities

_LOGGER = logging.getLogger(__name__)

# A boot this soon after we changed a charger's configuration counts as caused by the
# change; after this many in a row, its configuration is no longer written.
REBOOT_AFTER_CONFIGURATION_S = 120.0
REBOOTS_BEFORE_HANDS_OFF = 2


class LearningHost(Protocol):
    """What learning asks of the central system."""

    def meter_wish(self, station: Station) -> MeterWish | None:
        """What this station should sample (None: leave it)."""

    def emit(self, event: Event) -> None:
        """Pass an event on."""


class CapabilityLearning(ABC):
    """Learns a station's capabilities and applies the user's meter settings."""

    station: Station
    _host: LearningHost
    _learning = False
    _learn_again = False

    @abstractmethod
    async def execute(self, command: Command, *, timeout: float | None = None) -> CommandResult:
        """Send a command and wait, bounded, for its typed result."""

    @abstractmethod
    async def _read_capabilities(self) -> Capabilities | None:
        """Read the station's configuration and what it can do; None when it would not say."""

    @abstractmethod
    def _meter_keys(self) -> MeterKeys:
        """The configuration keys for metering in this version."""

    async def learn_capabilities(self) -> None:
        """Learn what the station can do, then apply the user's meter settings.

        Only reads configuration: no command that could reach the hardware is tried.
        Asked again while learning (the charger booted meanwhile: a charger that ignores
        requests until its boot is answered may have let the first read time out), it
        learns once more when done.
        """
        if self._learning:
            self._learn_again = True
            return
        self._learning = True
        try:
            self._learn_again = True
            while self._learn_again:
                self._learn_again = False
                await self._learn_once()
        finally:
            self._learning = False

    async def _learn_once(self) -> None:
        capabilities = await self._read_capabilities()
        if capabilities is None:
            _LOGGER.info("Charger %s did not report its configuration", self.station.id)
            capabilities = Capabilities()
        self.station.capabilities = adapt_capabilities(self.station.quirks, capabilities)
        await self.apply_meter_settings()
        self._host.emit(
            StationUpdated(self.station, frozenset({Change.CAPABILITIES, Change.CONFIGURATION}))
        )

    async def apply_meter_settings(self) -> None:
        """Set what the station samples, where it differs (see `metering_setup`).

        Never fatal: a refused list is tried shorter, and what is still refused, or
        cannot be set at all, is a station warning.
        """
        wish = self._host.meter_wish(self.station)
        if wish is None or wish.empty:
            return
        station = self.station
        if not station.quirks.configure_metering:
            _LOGGER.debug("Charger %s: metering left as it is (%s)", station.id, station.quirks.key)
            return
        plan = plan_meter_settings(
            wish,
            self._meter_keys(),
            station.configuration,
            station.read_only_settings,
            station.setting_choices,
        )
        for key in plan.not_settable:
            _LOGGER.info("Charger %s does not let %s be set", station.id, key)
            station.warn("meter_setting_not_settable")
        for change in plan.changes:
            for value in change.candidates:
                if not self._may_write_configuration():
                    return
                station.configuration_written_at = time.monotonic()
                result = await self.execute(SetConfiguration(change.key, value))
                if result.accepted:
                    break
                if result.status in (CommandStatus.OFFLINE, CommandStatus.TIMED_OUT):
                    return  # gone or not listening: the next connection tries again
            else:
                _LOGGER.info(
                    "Charger %s refused every value of %s we tried (%s)",
                    station.id,
                    change.key,
                    " / ".join(change.candidates),
                )
                station.warn("meter_setting_refused")

    def _may_write_configuration(self) -> bool:
        """Whether to write the charger's configuration: not once its writes reboot it."""
        station = self.station
        if station.reboots_after_configuration < REBOOTS_BEFORE_HANDS_OFF:
            return True
        if "configuration_writes_stopped" not in station.warnings:
            _LOGGER.warning(
                "Charger %s rebooted right after each of our last %d configuration "
                "changes: its settings are left as they are until Home Assistant restarts",
                station.id,
                station.reboots_after_configuration,
            )
        station.warn("configuration_writes_stopped")
        return False

    def _count_reboot_after_configuration(self) -> None:
        """Count a boot that follows our configuration change closely (see `REBOOT_...`).

        Some chargers reboot when their configuration is written, and come back without
        the change: writing it again at each boot is a reboot loop.
        """
        station = self.station
        written_at, station.configuration_written_at = station.configuration_written_at, None
        if written_at is None:
            return
        if time.monotonic() - written_at <= REBOOT_AFTER_CONFIGURATION_S:
            station.reboots_after_configuration += 1
            station.warn("rebooted_after_configuration")
        else:
            station.reboots_after_configuration = 0
