"""Cheapest charging seen from Home Assistant: prices from a sensor, goals from entities.

The site options may name a price sensor; whenever its state or attributes change, the
slots in its attributes (`shapes.read_prices`) become the engine's prices. A sensor that
goes unavailable keeps the prices last read (the planner uses only those still ahead),
and one that holds no prices the planner can read says so in the plan's attributes.

Each charger's goal in the cheapest mode comes from its *ready by* time and *energy to
add* entities, which restore their values and tell this link; a 2.x car that states
its needs overrides them for its own session (see `csms.cheapest`). With the car's
battery capacity in the charger's settings, its *target state of charge* counts
instead whenever the car's state of charge is known: read by the charger, or from the
car's own sensor named in the settings (followed here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import time
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util

from ..const import CONF_CAR_BATTERY_KWH, CONF_CAR_SOC_SENSOR, CONF_PRICE_SENSOR
from ..csms.cheapest import ChargingGoal, PlannedSession
from ..csms.price_plan import PriceSlot
from .shapes import read_prices

if TYPE_CHECKING:
    from ..charger_index import ChargerIndex
    from ..csms.central_system import CentralSystem

_LOGGER = logging.getLogger(__name__)

DEFAULT_READY_AT = time(7, 0)
DEFAULT_ENERGY_KWH = 20.0
DEFAULT_TARGET_SOC = 80.0


class PriceLink:
    """Feeds the engine's cheapest mode: prices from the options' sensor, goals per charger."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any], index: ChargerIndex) -> None:
        """Serve one central system's options; `attach` its engine once it runs."""
        self._hass = hass
        self._entry = entry
        self._index = index
        self._system: CentralSystem | None = None
        self._sensor: str | None = None
        self._unsubscribe: Callable[[], None] = lambda: None
        # The cars' own state-of-charge sensors, by charger, as followed now.
        self._soc_sensors: dict[str, str] = {}
        self._unsubscribe_soc: Callable[[], None] = lambda: None
        self._target_soc: dict[str, float] = {}
        self.prices: tuple[PriceSlot, ...] = ()
        # Whether the sensor's last reading held prices (None: no sensor, or not read).
        self.sensor_has_prices: bool | None = None
        self._ready_at: dict[str, time] = {}
        self._energy_kwh: dict[str, float] = {}

    def attach(self, system: CentralSystem) -> None:
        """The engine this feeds."""
        self._system = system

    @callback
    def sync(self) -> None:
        """Follow the price sensor the options name, and the cars' sensors and batteries."""
        self._sync_cars()
        sensor = self._entry.options.get(CONF_PRICE_SENSOR) or None
        if sensor == self._sensor:
            return
        self._unsubscribe()
        self._unsubscribe = lambda: None
        self._sensor = sensor
        self.sensor_has_prices = None
        if sensor is None:
            self._set_prices(())
            return
        self._unsubscribe = async_track_state_change_event(
            self._hass, [sensor], self._sensor_changed
        )
        self._read()

    @callback
    def stop(self) -> None:
        """Stop following the sensors."""
        self._unsubscribe()
        self._unsubscribe = lambda: None
        self._sensor = None
        self._unsubscribe_soc()
        self._unsubscribe_soc = lambda: None
        self._soc_sensors = {}

    def _sync_cars(self) -> None:
        """The cars' sensors from the chargers' settings (followed), and their goals."""
        sensors = {
            charger_id: str(sensor)
            for charger_id in sorted(self._index.admitted)
            if (sensor := self._index.setting(charger_id, CONF_CAR_SOC_SENSOR))
        }
        if sensors != self._soc_sensors:
            self._unsubscribe_soc()
            self._unsubscribe_soc = lambda: None
            if self._system is not None:
                for charger_id in set(self._soc_sensors) - set(sensors):
                    self._system.cheapest.set_car_soc(charger_id, None)
            self._soc_sensors = sensors
            if sensors:
                self._unsubscribe_soc = async_track_state_change_event(
                    self._hass, sorted(set(sensors.values())), self._soc_changed
                )
            for charger_id in sensors:
                self._read_soc(charger_id)
        for charger_id in self._index.admitted:
            if charger_id in self._ready_at or charger_id in self._energy_kwh:
                self._tell_goal(charger_id)  # the battery may have changed

    @callback
    def _soc_changed(self, event: Event[EventStateChangedData]) -> None:
        for charger_id, sensor in self._soc_sensors.items():
            if sensor == event.data["entity_id"]:
                self._read_soc(charger_id)

    def _read_soc(self, charger_id: str) -> None:
        state = self._hass.states.get(self._soc_sensors[charger_id])
        soc: float | None = None
        if state is not None:
            try:
                soc = float(state.state)
            except ValueError:
                soc = None  # unavailable or unknown: the car's state of charge is not known
            if soc is not None and not 0 <= soc <= 100:
                soc = None
        if self._system is not None:
            self._system.cheapest.set_car_soc(charger_id, soc)

    @callback
    def _sensor_changed(self, event: Event[EventStateChangedData]) -> None:
        self._read()

    def _read(self) -> None:
        state = self._hass.states.get(self._sensor) if self._sensor else None
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return  # keep what was read last: the plan goes on with it
        prices = read_prices(state.attributes, dt_util.get_default_time_zone())
        if not prices and self.sensor_has_prices is not False:
            _LOGGER.warning(
                "The price sensor %s holds no prices this integration can read; cheapest "
                "charging plans on estimates (see the README for the shapes it reads)",
                self._sensor,
            )
        self.sensor_has_prices = bool(prices)
        self._set_prices(tuple(prices))

    def _set_prices(self, prices: tuple[PriceSlot, ...]) -> None:
        if prices == self.prices:
            return
        self.prices = prices
        if self._system is not None:
            self._system.cheapest.set_prices(prices)

    # -- goals ------------------------------------------------------------------------------

    def forget(self, charger_id: str) -> None:
        """A charger was removed: its goal's inputs go too (its car sensor with the sync)."""
        self._ready_at.pop(charger_id, None)
        self._energy_kwh.pop(charger_id, None)
        self._target_soc.pop(charger_id, None)

    def ready_at(self, charger_id: str) -> time:
        """The time of day a charger's car should be ready by."""
        return self._ready_at.get(charger_id, DEFAULT_READY_AT)

    def energy_kwh(self, charger_id: str) -> float:
        """The energy a charger's session should add by then."""
        return self._energy_kwh.get(charger_id, DEFAULT_ENERGY_KWH)

    def set_ready_at(self, charger_id: str, ready_at: time) -> None:
        """The charger's ready-by time changed (or was restored)."""
        self._ready_at[charger_id] = ready_at
        self._tell_goal(charger_id)

    def set_energy_kwh(self, charger_id: str, energy_kwh: float) -> None:
        """The charger's energy to add changed (or was restored)."""
        self._energy_kwh[charger_id] = energy_kwh
        self._tell_goal(charger_id)

    def target_soc(self, charger_id: str) -> float:
        """The state of charge (%) a charger's car should reach, when it is known."""
        return self._target_soc.get(charger_id, DEFAULT_TARGET_SOC)

    def set_target_soc(self, charger_id: str, target_soc: float) -> None:
        """The charger's target state of charge changed (or was restored)."""
        self._target_soc[charger_id] = target_soc
        self._tell_goal(charger_id)

    def _tell_goal(self, charger_id: str) -> None:
        if self._system is None:
            return
        battery_kwh = self._index.setting(charger_id, CONF_CAR_BATTERY_KWH)
        goal = ChargingGoal(
            self.energy_kwh(charger_id) * 1000,
            ready_at=self.ready_at(charger_id),
            zone=dt_util.get_default_time_zone(),
            target_soc=self.target_soc(charger_id),
            battery_wh=float(battery_kwh) * 1000 if battery_kwh else None,
        )
        self._system.cheapest.set_goal(charger_id, goal)

    def plan(self, charger_id: str) -> PlannedSession | None:
        """The plan of the charger's session in the cheapest mode (None: none now)."""
        if self._system is None:
            return None
        plans = self._system.cheapest.plans
        return next(
            (planned for planned in plans.values() if planned.charger_id == charger_id), None
        )
