"""The current limit: a charging profile the charger applies to every session."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import MIN_CURRENT_A
from .csms.commands import CommandStatus
from .csms.current_limit import LimitWay
from .csms.events import Event
from .csms.station import Station
from .entity import OcppEntity, OcppEntityDescription
from .hub import CentralSystemHub, OcppCsmsConfigEntry
from .prices.entities import build_goal_numbers
from .site.entities import build_site_numbers

PARALLEL_UPDATES = 0

# How the limit shown came to be: set by the user (a `LimitWay`), or not set from here:
# what the charger says it applies, or else its configured maximum.
_SET_BY_USER = frozenset(way.value for way in LimitWay)
_AS_READ = "read_from_charger"
_AS_MAXIMUM = "configured_maximum"
# A limit read back within this of the site's failsafe is our default profile's.
_SAME_A = 0.5


@dataclass(frozen=True, kw_only=True)
class OcppNumberDescription(OcppEntityDescription, NumberEntityDescription):
    """A number of a charger."""


CURRENT_LIMIT = OcppNumberDescription(
    key="current_limit",
    translation_key="current_limit",
    device_class=NumberDeviceClass.CURRENT,
    native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
    native_min_value=MIN_CURRENT_A,
    native_step=1,
    mode=NumberMode.SLIDER,
)


def build_numbers(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The numbers of a charger."""
    if evse_id is None:
        yield CurrentLimit(hub, station, None, CURRENT_LIMIT)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OcppCsmsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the current limit of every charger, and the site limit."""
    entry.runtime_data.entities.register_platform(build_numbers, async_add_entities)
    entry.runtime_data.entities.register_platform(build_goal_numbers, async_add_entities)
    entry.runtime_data.site_link.register_site_platform(build_site_numbers, async_add_entities)


class CurrentLimit(OcppEntity, RestoreNumber):
    """The most current (A) the charger may give all its sessions together.

    The engine sends it the way the charger takes it (`csms.current_limit`). The value
    shown is the one the charger accepted; `applied_as` says how.
    """

    _applied_as: str | None = None
    # The capabilities the limit was last read back for: read again once per learning
    # (each boot, or reconnect after Home Assistant restarted).
    _read_for: object = None

    @property
    def native_max_value(self) -> float:
        """The maximum current set for this charger."""
        return float(self.hub.index.max_current(self.station.id))

    @property
    def available(self) -> bool:
        """The last accepted limit stays shown while the charger is away."""
        return self.native_value is not None or super().available

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """How the limit went out: as a station maximum or in the default profile."""
        return {"applied_as": self._applied_as} if self._applied_as else None

    async def async_added_to_hass(self) -> None:
        """Restore the last accepted limit (and hold the default profile to it again)."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_number_data()) is not None:
            self._attr_native_value = last.native_value
        last_state = await self.async_get_last_state()
        if last_state is not None and self.native_value is not None:
            self._applied_as = last_state.attributes.get("applied_as")
            if self._applied_as == LimitWay.DEFAULT_PROFILE and self.hub.system is not None:
                self.hub.system.limits.keep_in_default_profile(self.station.id, self.native_value)

    def handle_update(self, event: Event | None = None) -> None:
        """Write the state; once the charger is learnt, read its real limit back."""
        station = self.station
        if (
            station.connected
            and station.accepted
            and station.capabilities is not None
            and station.capabilities is not self._read_for
        ):
            self._read_for = station.capabilities
            # Tracked by the entry: cancelled at unload, awaited by block_till_done.
            self.hub.entry.async_create_task(
                self.hass, self._read_limit(), f"{self.entity_id} read back", eager_start=False
            )
        super().handle_update(event)

    async def _read_limit(self) -> None:
        """Show what the charger applies now (its composite schedule), not "unknown".

        A charger that cannot say is shown at its configured maximum, which is what it
        charges at when nothing limits it.
        """
        system = self.hub.system
        assert system is not None  # entities exist while the system runs
        read = await system.limits.read(self.station)
        limit, applied_as = read.limit_a, _AS_READ
        site = system.site
        if (
            site is not None
            and limit is not None
            and abs(limit - site.settings.failsafe_a) < _SAME_A
            and self._applied_as not in _SET_BY_USER
        ):
            # What it applies is the site's failsafe in our default profile, which the
            # balancer's session profiles outrank while we run: no limit of the
            # charger's. Shown as its maximum, like a charger that cannot say.
            limit = None
        elif limit is None and read.result.status in (
            CommandStatus.OFFLINE,
            CommandStatus.TIMED_OUT,
        ):
            return  # ask again at its next learning
        if limit is None:
            limit, applied_as = float(self.hub.index.max_current(self.station.id)), _AS_MAXIMUM
        limit = min(limit, self.native_max_value)
        if self._applied_as in _SET_BY_USER:
            # A limit the user set stays theirs (a default-profile one is restored from
            # it after a restart); only the value shows what the charger really does.
            applied_as = self._applied_as
        if (limit, applied_as) != (self.native_value, self._applied_as):
            self._attr_native_value = limit
            self._applied_as = applied_as
            self.async_write_ha_state()

    async def async_set_native_value(self, value: float) -> None:
        """Send the limit; the value changes only when the charger accepts it."""
        assert self.hub.system is not None  # entities exist while the system runs
        done = await self.hub.system.limits.set(self.station, value)
        self.raise_unless_accepted(done.result)
        self._attr_native_value = value
        self._applied_as = done.way.value
        self.async_write_ha_state()
