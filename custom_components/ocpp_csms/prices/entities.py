"""A charger's cheapest-mode entities: its goal (ready by, energy to add) and its plan.

They exist while load balancing is on (the balancer carries out the mode), beside the
charging-mode select. The goal entities keep their values across restarts. The plan
sensor shows when charging is planned to start; its attributes say until when, how
much, at what cost (planned, and for the whole session), and on which prices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.const import PERCENTAGE, UnitOfEnergy
from homeassistant.helpers.restore_state import (
    ExtraStoredData,
    RestoredExtraData,
    RestoreEntity,
)

from ..csms.events import Event
from ..csms.station import Station
from ..entity import OcppEntity, OcppEntityDescription
from ..entity_manager import ALLOCATION, SITE

if TYPE_CHECKING:
    from ..hub import CentralSystemHub

# The plan's periods shown in the attributes: a night of quarter hours is fewer.
MAX_SLOTS_SHOWN = 48


@dataclass(frozen=True, kw_only=True)
class _TimeDescription(OcppEntityDescription, TimeEntityDescription):
    """A time of a charger."""


@dataclass(frozen=True, kw_only=True)
class _NumberDescription(OcppEntityDescription, NumberEntityDescription):
    """A number of a charger."""


@dataclass(frozen=True, kw_only=True)
class _SensorDescription(OcppEntityDescription, SensorEntityDescription):
    """A sensor of a charger."""


READY_BY = _TimeDescription(key="ready_by", translation_key="ready_by")
ENERGY_TO_ADD = _NumberDescription(
    key="energy_to_add",
    translation_key="energy_to_add",
    device_class=NumberDeviceClass.ENERGY,
    native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
    native_min_value=1,
    native_max_value=150,
    native_step=1,
    mode=NumberMode.BOX,
)
TARGET_SOC = _NumberDescription(
    key="target_soc",
    translation_key="target_soc",
    device_class=NumberDeviceClass.BATTERY,
    native_unit_of_measurement=PERCENTAGE,
    native_min_value=10,
    native_max_value=100,
    native_step=5,
    mode=NumberMode.SLIDER,
)
CHARGING_PLAN = _SensorDescription(
    key="charging_plan", translation_key="charging_plan", device_class=SensorDeviceClass.TIMESTAMP
)


def _with_site(hub: CentralSystemHub, evse_id: int | None) -> bool:
    return evse_id is None and hub.site_link.site is not None


def build_goal_times(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The ready-by time, while balancing is on."""
    if _with_site(hub, evse_id):
        yield ReadyBy(hub, station, None, READY_BY)


def build_goal_numbers(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The energy to add and the target state of charge, while balancing is on."""
    if _with_site(hub, evse_id):
        yield EnergyToAdd(hub, station, None, ENERGY_TO_ADD)
        yield TargetSoc(hub, station, None, TARGET_SOC)


def build_plan_sensors(
    hub: CentralSystemHub, station: Station, evse_id: int | None
) -> Iterable[OcppEntity]:
    """The charging plan, while balancing is on."""
    if _with_site(hub, evse_id):
        yield ChargingPlan(hub, station, None, CHARGING_PLAN)


class _SiteFollower(OcppEntity):
    """Shown while balancing is on; written when what it shows changed (rounds are often)."""

    _shown: object = None

    @property
    def available(self) -> bool:
        """Usable while balancing is on, even with the charger away."""
        return self.hub.site_link.site is not None

    async def async_added_to_hass(self) -> None:
        """Follow the site's rounds."""
        await super().async_added_to_hass()
        self.async_on_remove(self.hub.entities.subscribe(SITE, self._site_changed, ALLOCATION))
        self._shown = self._showing()

    def _showing(self) -> object:
        return self.available

    def _site_changed(self, event: Event | None = None) -> None:
        if self._showing() != self._shown:
            self._write_state()

    def handle_update(self, event: Event | None = None) -> None:
        """The charger changed: write, remembering what it showed."""
        self._write_state()

    def _write_state(self) -> None:
        self._shown = self._showing()
        self.async_write_ha_state()


class ReadyBy(_SiteFollower, TimeEntity, RestoreEntity):
    """By when the car should have its energy, every day (the cheapest mode's deadline)."""

    @property
    def native_value(self) -> time:
        """The time of day."""
        return self.hub.prices.ready_at(self.station.id)

    @property
    def extra_restore_state_data(self) -> ExtraStoredData:
        """The time itself, kept even while the entity shows unavailable."""
        return RestoredExtraData({"ready_at": self.native_value.isoformat()})

    async def async_added_to_hass(self) -> None:
        """Go on with the time set before a restart."""
        await super().async_added_to_hass()
        extra = await self.async_get_last_extra_data()
        stored = extra.as_dict().get("ready_at") if extra is not None else None
        try:
            ready_at = time.fromisoformat(str(stored)) if stored else self.native_value
        except ValueError:
            ready_at = self.native_value  # damaged: the default
        self.hub.prices.set_ready_at(self.station.id, ready_at)

    async def async_set_value(self, value: time) -> None:
        """Be ready by `value` from now on."""
        self.hub.prices.set_ready_at(self.station.id, value)
        self._write_state()


class EnergyToAdd(_SiteFollower, RestoreNumber):
    """How much energy a session should add by the ready-by time."""

    @property
    def native_value(self) -> float:
        """KWh."""
        return self.hub.prices.energy_kwh(self.station.id)

    async def async_added_to_hass(self) -> None:
        """Go on with the energy set before a restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        value = last.native_value if last is not None else None
        self.hub.prices.set_energy_kwh(
            self.station.id, float(value) if value is not None else self.native_value
        )

    async def async_set_native_value(self, value: float) -> None:
        """Add `value` kWh from now on."""
        self.hub.prices.set_energy_kwh(self.station.id, value)
        self._write_state()


class TargetSoc(_SiteFollower, RestoreNumber):
    """The state of charge a session should reach by the ready-by time.

    Counts instead of the energy to add while the car's state of charge is known and
    its battery's capacity is in the charger's settings.
    """

    @property
    def native_value(self) -> float:
        """%."""
        return self.hub.prices.target_soc(self.station.id)

    async def async_added_to_hass(self) -> None:
        """Go on with the target set before a restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        value = last.native_value if last is not None else None
        self.hub.prices.set_target_soc(
            self.station.id, float(value) if value is not None else self.native_value
        )

    async def async_set_native_value(self, value: float) -> None:
        """Reach `value` % from now on."""
        self.hub.prices.set_target_soc(self.station.id, value)
        self._write_state()


class ChargingPlan(_SiteFollower, SensorEntity):
    """When the charger's session is planned to charge, and what it comes to.

    The plan is made afresh at every balancing round and its figures move a little each
    time; the state is written when what a person reads of it changed (its start, its
    end to five minutes, whether it meets the goal, the costs to a tenth), and the
    figures that move most are kept out of the recorder.
    """

    _unrecorded_attributes = frozenset(
        {"slots", "needed_kwh", "energy_kwh", "estimated_prices_kwh", "planned_cost"}
    )

    def _showing(self) -> object:
        planned = self.hub.prices.plan(self.station.id)
        if planned is None:
            return (self.available, None)
        plan = planned.plan
        end = plan.end
        return (
            self.available,
            self.native_value,
            end.replace(minute=end.minute - end.minute % 5, second=0, microsecond=0)
            if end is not None
            else None,
            plan.feasible,
            planned.from_car,
            planned.deadline,
            round(planned.estimated_cost, 1),
            round(plan.shortfall_wh / 1000, 1),
        )

    @property
    def native_value(self) -> datetime | None:
        """When charging is planned to start (unknown: nothing planned)."""
        planned = self.hub.prices.plan(self.station.id)
        return _minute(planned.plan.start) if planned is not None else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The plan: its end, energy, cost, whether it meets the goal, its periods."""
        planned = self.hub.prices.plan(self.station.id)
        if planned is None:
            return None
        plan = planned.plan
        return {
            "end": _minute(plan.end),
            "ready_by": planned.deadline,
            "goal_from_car": planned.from_car,
            "needed_kwh": round(plan.needed_wh / 1000, 2),
            "energy_kwh": round(plan.energy_wh / 1000, 2),
            "shortfall_kwh": round(plan.shortfall_wh / 1000, 2),
            "feasible": plan.feasible,
            "estimated_prices_kwh": round(plan.estimated_wh / 1000, 2),
            "prices_known": bool(self.hub.prices.prices),
            "planned_cost": round(plan.cost, 2),
            "session_cost": round(planned.estimated_cost, 2),
            "slots": [
                {
                    "start": _minute(slot.start),
                    "end": _minute(slot.end),
                    "current_a": round(slot.current_a, 1),
                    "price": slot.price,
                    "estimated": slot.estimated,
                }
                for slot in plan.slots[:MAX_SLOTS_SHOWN]
            ],
        }


def _minute[T: datetime | None](moment: T) -> T:
    """To the minute: a plan made afresh every round moves its edges by seconds."""
    if moment is None:
        return moment
    return moment.replace(second=0, microsecond=0)
